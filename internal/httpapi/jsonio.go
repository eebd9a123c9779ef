package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/store"
)

// decode reads a JSON body into v, refusing unknown fields, trailing data and oversize bodies.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errValidation("The request body could not be read.")
	}
	return decodeBytes(body, v)
}

func decodeBytes(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errValidation("A JSON request body is required.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return errField(ute.Field, "has the wrong type (want "+ute.Type.String()+")")
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return errField(strings.Trim(f, `"`), "is not a known field")
		}
		return errValidation("The request body is not valid JSON: " + err.Error())
	}
	if dec.More() {
		return errValidation("The request body holds more than one JSON value.")
	}
	return nil
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// List is the shape of every list response.
type List[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// page reads ?limit= (default 50, at most 200) and ?cursor= (opaque keyset cursor).
func page(r *http.Request) (store.Page, error) {
	p := store.Page{Limit: 50}
	q := r.URL.Query()
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 200 {
			return p, errField("limit", "must be an integer from 1 to 200")
		}
		p.Limit = n
	}
	if s := q.Get("cursor"); s != "" {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(raw) != 16 {
			return p, errField("cursor", "is not a cursor this server issued")
		}
		id, _ := uuid.FromBytes(raw)
		p.Before = &id
	}
	return p, nil
}

// writeList trims items to the page and writes them with the next page's cursor.
func writeList[T any](w http.ResponseWriter, items []T, p store.Page, id func(T) uuid.UUID) error {
	items, next := store.Trim(items, p, id)
	out := List[T]{Items: items}
	if out.Items == nil {
		out.Items = []T{}
	}
	if next != nil {
		c := base64.RawURLEncoding.EncodeToString(next[:])
		out.NextCursor = &c
	}
	return writeJSON(w, http.StatusOK, out)
}

// pathID parses the {name} path value as a UUID. Anything else cannot name an object in any
// tenant, so it is answered like a missing id.
func pathID(r *http.Request, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue(name))
	if err != nil {
		return uuid.Nil, errNotFound()
	}
	return id, nil
}

// queryTime parses an optional RFC 3339 query parameter.
func queryTime(r *http.Request, name string) (*time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		if d, derr := time.Parse(time.DateOnly, s); derr == nil {
			return &d, nil
		}
		return nil, errField(name, "must be an RFC 3339 time or a YYYY-MM-DD date")
	}
	return &t, nil
}

// fields collects validation failures so that a client sees all of them at once.
type fields []FieldError

func (f *fields) add(field, msg string) { *f = append(*f, FieldError{Field: field, Message: msg}) }

func (f fields) err() error {
	if len(f) == 0 {
		return nil
	}
	return errValidation("The request is invalid.", f...)
}
