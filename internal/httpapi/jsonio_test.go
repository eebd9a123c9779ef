package httpapi_test

import (
	"net/http"
	"testing"
)

// A body field that has the wrong JSON type, or the right type but a value its field refuses
// (a malformed uuid or timestamp), is named in the problem document with what it must hold.
func TestBodyErrorsNameTheField(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	acme := e.demo.Acme
	service := acme.Services[0].String()
	r := owner.do("POST", "/api/admin/service-requests", map[string]any{"client_id": acme.Client, "title": "Body errors"})
	mustStatus(t, r, http.StatusCreated)
	var created struct {
		ID string `json:"id"`
	}
	r.decode(t, &created)

	cases := []struct {
		name, method, path, body string
		field, message           string // field "" : no field named, a whole-body problem
	}{
		{"malformed uuid", "POST", "/api/bookings", `{"service_id":"nope","starts_at":"2026-12-01T10:00:00Z"}`,
			"service_id", "must be a UUID string"},
		{"number for a uuid", "POST", "/api/bookings", `{"service_id":12,"starts_at":"2026-12-01T10:00:00Z"}`,
			"service_id", "must be a UUID string"},
		{"malformed timestamp", "POST", "/api/bookings", `{"service_id":"` + service + `","starts_at":"tomorrow"}`,
			"starts_at", "must be an RFC 3339 timestamp string"},
		{"string for a string-or-null id (PATCH)", "PATCH", "/api/admin/service-requests/" + created.ID, `{"service_id":"nope"}`,
			"service_id", "must be a UUID string"},
		{"malformed optional uuid (invoice)", "POST", "/api/admin/invoices", `{"client_id":"` + acme.Client.String() + `","service_request_id":"nope"}`,
			"service_request_id", "must be a UUID string"},
		{"number for a string", "POST", "/api/admin/service-requests", `{"client_id":"` + acme.Client.String() + `","title":5}`,
			"title", "must be a string"},
		{"fraction for an integer inside a list", "POST", "/api/admin/invoices", `{"client_id":"` + acme.Client.String() + `","items":[{"description":"x","quantity":1.5,"unit_price_cents":100}]}`,
			"items.quantity", "must be an integer"},
		{"unknown field", "POST", "/api/bookings", `{"service":"x"}`,
			"service", "is not a known field"},
		{"not JSON", "POST", "/api/bookings", `{"service_id":`, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := owner.do(c.method, c.path, c.body)
			mustStatus(t, r, http.StatusUnprocessableEntity, "validation_failed")
			var p struct {
				Detail string `json:"detail"`
				Errors []struct {
					Field   string `json:"field"`
					Message string `json:"message"`
				} `json:"errors"`
			}
			r.decode(t, &p)
			if c.field == "" {
				if len(p.Errors) != 0 || p.Detail == "" {
					t.Errorf("problem %s", r.Body)
				}
				return
			}
			if len(p.Errors) != 1 || p.Errors[0].Field != c.field || p.Errors[0].Message != c.message {
				t.Errorf("problem %s, want %s %q", r.Body, c.field, c.message)
			}
		})
	}
}
