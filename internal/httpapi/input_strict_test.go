package httpapi_test

import (
	"net/http"
	"testing"
)

// A body key must be exactly a field's JSON name, once per object: a key in another case (or
// Unicode-folded), at any depth, and a key given twice are refused with 422 naming the key
// (path.to.key), and nothing is stored. encoding/json alone would take "AMOUNT_CENTS" for
// amount_cents, and the last of two values for one field.
func TestInputRulesExactKeys(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "acme")
	acme := e.demo.Acme
	client := acme.Client.String()

	r := owner.do("POST", "/api/admin/service-requests", map[string]any{"client_id": client, "title": "Exact keys"})
	mustStatus(t, r, http.StatusCreated)
	var request struct {
		ID string `json:"id"`
	}
	r.decode(t, &request)
	r = owner.do("POST", "/api/admin/invoices", map[string]any{"client_id": client})
	mustStatus(t, r, http.StatusCreated)
	var invoice struct {
		ID string `json:"id"`
	}
	r.decode(t, &invoice)

	cases := []struct {
		name, method, path, body string
		field, message           string
	}{
		{"keys in other cases", "POST", "/api/admin/expenses",
			`{"Description":"d","AMOUNT_CENTS":5,"category":"c","incurred_on":"2030-01-01"}`, "Description", "is not a known field"},
		{"a second spelling of a field", "POST", "/api/admin/expenses",
			`{"description":"d","amount_cents":5,"Amount_Cents":7,"category":"c","incurred_on":"2030-01-01"}`, "Amount_Cents", "is not a known field"},
		{"a key folded by Unicode (ſ for s)", "POST", "/api/admin/expenses",
			`{"de\u017fcription":"d","amount_cents":5,"category":"c","incurred_on":"2030-01-01"}`, "de\u017fcription", "is not a known field"},
		{"a key twice", "POST", "/api/admin/expenses",
			`{"description":"d","amount_cents":5,"amount_cents":7,"category":"c","incurred_on":"2030-01-01"}`, "amount_cents", "appears more than once"},
		{"a key twice, once escaped", "POST", "/api/admin/expenses",
			`{"description":"d","amount_cents":5,"amount_\u0063ents":7,"category":"c","incurred_on":"2030-01-01"}`, "amount_cents", "appears more than once"},
		{"a key in another case in a list item", "POST", "/api/admin/invoices",
			`{"client_id":"` + client + `","items":[{"description":"x","Quantity":2,"unit_price_cents":100}]}`, "items.Quantity", "is not a known field"},
		{"an unknown key in a list item", "POST", "/api/admin/invoices",
			`{"client_id":"` + client + `","items":[{"description":"x","qty":2,"unit_price_cents":100}]}`, "items.qty", "is not a known field"},
		{"a key twice in a list item", "POST", "/api/admin/invoices",
			`{"client_id":"` + client + `","items":[{"description":"x","quantity":1,"quantity":2,"unit_price_cents":100}]}`, "items.quantity", "appears more than once"},
		{"an optional id in another case", "PATCH", "/api/admin/service-requests/" + request.ID,
			`{"Service_ID":null}`, "Service_ID", "is not a known field"},
		{"an optional id twice", "PATCH", "/api/admin/service-requests/" + request.ID,
			`{"service_id":null,"service_id":"` + acme.Services[0].String() + `"}`, "service_id", "appears more than once"},
		{"an optional date in another case", "PATCH", "/api/admin/invoices/" + invoice.ID,
			`{"DUE_ON":null}`, "DUE_ON", "is not a known field"},
		{"a key in another case in a nested object", "POST", "/api/admin/communication-settings/import",
			`{"version":1,"settings":{"From_Name":"x"}}`, "settings.From_Name", "is not a known field"},
		{"a key in another case on a public route", "POST", "/api/auth/login",
			`{"Email":"owner@acme.test","password":"demo-password"}`, "Email", "is not a known field"},
	}
	counts := `SELECT (SELECT count(*) FROM expenses) + (SELECT count(*) FROM invoices) + (SELECT count(*) FROM sessions)`
	var before int64
	contSQL(t, e, counts, nil, &before)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			caller := owner
			if c.path == "/api/auth/login" {
				caller = e.anon()
			}
			r := caller.do(c.method, c.path, c.body)
			mustStatus(t, r, http.StatusUnprocessableEntity, "validation_failed")
			var p struct {
				Errors []struct {
					Field   string `json:"field"`
					Message string `json:"message"`
				} `json:"errors"`
			}
			r.decode(t, &p)
			if len(p.Errors) != 1 || p.Errors[0].Field != c.field || p.Errors[0].Message != c.message {
				t.Fatalf("problem %s, want %s %q", r.Body, c.field, c.message)
			}
		})
	}
	var after int64
	contSQL(t, e, counts, nil, &after)
	if after != before {
		t.Fatalf("refused requests stored %d rows", after-before)
	}

	// A key spelled with escapes is the same key, and the exact names are accepted.
	r = owner.do("POST", "/api/admin/expenses", `{"descr\u0069ption":"d","amount_cents":5,"category":"c","incurred_on":"2030-01-01"}`)
	mustStatus(t, r, http.StatusCreated)
	var v struct {
		Description string `json:"description"`
	}
	r.decode(t, &v)
	if v.Description != "d" {
		t.Fatalf("stored %s", r.Body)
	}
}
