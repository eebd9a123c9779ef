package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
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
		if errors.As(err, &ute) && ute.Field != "" {
			return errField(ute.Field, expectation(ute.Type))
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return errField(strings.Trim(f, `"`), "is not a known field")
		}
		var syntax *json.SyntaxError
		if !errors.As(err, &syntax) {
			// A value of the right JSON type that its Go type refused (a malformed uuid or
			// timestamp): encoding/json does not say whose it was, so find out.
			if field, t, ferr, ok := refusedField(body, v); ok {
				return errField(field, refusal(t, ferr))
			}
		}
		return errValidation("The request body is not valid JSON: " + err.Error())
	}
	if dec.More() {
		return errValidation("The request body holds more than one JSON value.")
	}
	return nil
}

// refusedField finds the top-level field of body that does not decode into its field of the
// struct v points to, that field's type and why it was refused.
func refusedField(body []byte, v any) (string, reflect.Type, error, bool) {
	t := reflect.TypeOf(v)
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return "", nil, nil, false
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return "", nil, nil, false
	}
	st := t.Elem()
	for i := range st.NumField() {
		f := st.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		raw, ok := fields[name]
		if !ok {
			continue
		}
		target := reflect.New(f.Type)
		if err := json.Unmarshal(raw, target.Interface()); err != nil {
			if o, ok := target.Interface().(optionalField); ok {
				return name, o.valueType(), err, true
			}
			return name, f.Type, err, true
		}
	}
	return "", nil, nil, false
}

// refusal says why a value of the right JSON type was refused for a field of type t: what a
// single value must look like, or, for a list or object, what inside it was wrong.
func refusal(t reflect.Type, err error) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map, reflect.Struct:
		if t != reflect.TypeFor[uuid.UUID]() && t != reflect.TypeFor[time.Time]() {
			var ute *json.UnmarshalTypeError
			if errors.As(err, &ute) {
				return "holds a value that " + expectation(ute.Type)
			}
			return "holds an invalid value: " + err.Error()
		}
	}
	return expectation(t)
}

// optionalField is a field type that tells an absent field from null (for PATCH bodies); the
// value it holds when set is of valueType.
type optionalField interface{ valueType() reflect.Type }

// expectation says what a field of type t must hold, in the client's terms.
func expectation(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeFor[uuid.UUID]():
		return "must be a UUID string"
	case reflect.TypeFor[time.Time]():
		return "must be an RFC 3339 timestamp string"
	}
	switch t.Kind() {
	case reflect.String:
		return "must be a string"
	case reflect.Bool:
		return "must be true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "must be an integer"
	case reflect.Float32, reflect.Float64:
		return "must be a number"
	case reflect.Slice, reflect.Array:
		return "must be an array"
	case reflect.Map, reflect.Struct:
		return "must be an object"
	}
	return "has the wrong type"
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
