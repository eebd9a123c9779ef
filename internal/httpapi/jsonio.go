package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"tenantd/internal/store"
)

// decode reads a JSON body into v, refusing a body not labelled JSON, unknown fields (keys
// must match a field's JSON name exactly, once per object), trailing data and oversize bodies.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errValidation("The request body could not be read.")
	}
	if err := requireJSON(r, body); err != nil {
		return err
	}
	return decodeBytes(body, v)
}

// requireJSON refuses a non-empty body whose Content-Type is not JSON (application/json or a
// +json type; parameters allowed, but a charset other than UTF-8, which RFC 8259 requires of
// JSON, is not) with 415. Without it a JSON route takes text/plain, form-encoded or XML-
// labelled bodies: a browser sends those cross-site without a preflight, and a client that
// mislabels its body gets its bytes read as something it did not say they were. An empty
// body is left to the route (some take none; the rest refuse it as missing).
func requireJSON(r *http.Request, body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	switch {
	case ct == "":
		return errMediaType("The request has a body but no Content-Type; send JSON with Content-Type: application/json.")
	case err != nil:
		return errMediaType("The request's Content-Type is malformed; send JSON with Content-Type: application/json.")
	case mt != "application/json" && !strings.HasSuffix(mt, "+json"):
		return errMediaType(fmt.Sprintf("The request body must be JSON, sent with Content-Type: application/json (or a +json type), not %s.", mt))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return errMediaType("A JSON request body must be UTF-8: send it with Content-Type: application/json, with charset=utf-8 or none.")
	}
	return nil
}

func decodeBytes(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errValidation("A JSON request body is required.")
	}
	// encoding/json takes a key in another case for a field, and the last of two equal keys:
	// strictKeys refuses both, naming the key where it is. Its finding comes before any other,
	// as what a misnamed key caused (a type error under the field's name) would mislead.
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if json.Valid(body) {
			if field, msg := strictKeys(body, reflect.TypeOf(v)); field != "" {
				return errField(field, msg)
			}
		}
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
	if field, msg := strictKeys(body, reflect.TypeOf(v)); field != "" { // the value decoded: it is well-formed
		return errField(field, msg)
	}
	if dec.More() {
		return errValidation("The request body holds more than one JSON value.")
	}
	if field, msg := unstorable(reflect.ValueOf(v), ""); field != "" {
		return errField(field, msg)
	}
	return nil
}

// Timestamps are accepted from the year 1 to the year 9998 (UTC): PostgreSQL would store
// more, but JSON answers cannot carry a year beyond 9999, and a booking's end is computed by
// adding its service's duration to its start.
var (
	earliestTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	latestTime   = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
)

// charCount is the length of s in characters (code points): the unit every length limit of
// a request is stated in, and the one PostgreSQL's length() counts in the CHECK constraints.
// len(s) counts bytes, so it refused 150 'é' (300 bytes) as over 200 characters.
func charCount(s string) int { return utf8.RuneCountInString(s) }

// storableText reports whether s can be stored as PostgreSQL text: valid UTF-8 without NUL.
func storableText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// unstorableTextMsg and unstorableTimeMsg say why a value was refused.
const (
	unstorableTextMsg = "must be valid UTF-8 text without NUL characters"
	unstorableTimeMsg = "must be a time from the year 1 to the year 9998"
)

// unstorable walks a decoded body and returns the first field (as path.to.field) holding a
// value no request may carry although JSON can: text with a NUL character (PostgreSQL text
// cannot hold one) or a timestamp outside the years tenantd accepts. Found here, such a value
// is refused with the field's name instead of failing deep in the database or the answer.
func unstorable(v reflect.Value, path string) (string, string) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return "", ""
		}
		return unstorable(v.Elem(), path)
	case reflect.String:
		if !storableText(v.String()) {
			return orBody(path), unstorableTextMsg
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return "", "" // bytes: a uuid, or raw JSON
		}
		for i := range v.Len() {
			if f, m := unstorable(v.Index(i), path); f != "" {
				return f, m
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			key := fmt.Sprint(iter.Key().Interface())
			if !storableText(key) {
				return orBody(path), unstorableTextMsg
			}
			if f, m := unstorable(iter.Value(), joinPath(path, key)); f != "" {
				return f, m
			}
		}
	case reflect.Struct:
		if t, ok := v.Interface().(time.Time); ok {
			if t.Before(earliestTime) || !t.Before(latestTime) {
				return orBody(path), unstorableTimeMsg
			}
			return "", ""
		}
		_, wrapper := reflect.New(v.Type()).Interface().(optionalField)
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name := path
			if !wrapper { // an optional field's holder: its value goes by the field's name
				tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if tag == "-" {
					continue
				}
				if tag == "" {
					tag = f.Name
				}
				name = joinPath(path, tag)
			}
			if fl, m := unstorable(v.Field(i), name); fl != "" {
				return fl, m
			}
		}
	}
	return "", ""
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func orBody(path string) string {
	if path == "" {
		return "body"
	}
	return path
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

// writeJSON writes v with status. It encodes before it writes the status, so that a value
// that cannot be encoded fails the request as a whole instead of after a success status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(append(body, '\n'))
	return err
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

// parseDate parses a YYYY-MM-DD date from the year 1 to the year 9998, the years the
// unstorable walker allows for times. time.Parse alone takes the year 0000, which PostgreSQL
// refuses (its calendar has no year 0): such a date reached the database and came back as a
// 422 that named no field. Every date a request carries goes through here, so that the field
// is named.
func parseDate(s string) (time.Time, bool) {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil || d.Before(earliestTime) || !d.Before(latestTime) {
		return time.Time{}, false
	}
	return d, true
}

// queryTime parses an optional RFC 3339 query parameter.
func queryTime(r *http.Request, name string) (*time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		d, derr := time.Parse(time.DateOnly, s)
		if derr != nil {
			return nil, errField(name, "must be an RFC 3339 time or a YYYY-MM-DD date")
		}
		t = d
	}
	if t.Before(earliestTime) || !t.Before(latestTime) {
		return nil, errField(name, unstorableTimeMsg)
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
