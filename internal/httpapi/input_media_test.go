package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// A route that reads a JSON body takes it only labelled as JSON: application/json or a +json
// type, parameters allowed (a charset only if UTF-8). Any other Content-Type, or none, on a
// non-empty body is refused with 415 unsupported_media_type, a problem document, and nothing
// happens: text/plain, form-encoded and XML-labelled bodies used to create expenses, and a
// browser sends the first two cross-site without a preflight.
func TestInputRulesJSONMediaType(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "acme")
	clientID := e.demo.Acme.Client.String()
	operator := e.anon()
	operator.bearer = testOperator

	r := owner.do("POST", "/api/admin/service-requests", map[string]any{"client_id": clientID, "title": "Media types"})
	mustStatus(t, r, http.StatusCreated)
	var request struct{ ID string }
	r.decode(t, &request)
	r = owner.do("POST", "/api/admin/invoices", map[string]any{"client_id": clientID, "status": "sent",
		"items": []any{map[string]any{"description": "x", "quantity": 1, "unit_price_cents": 100}}})
	mustStatus(t, r, http.StatusCreated)
	var invoice struct{ ID string }
	r.decode(t, &invoice)
	r = owner.do("POST", "/api/payments/checkout", map[string]any{"invoice_id": invoice.ID})
	mustStatus(t, r, http.StatusCreated)
	var session struct{ ID string }
	r.decode(t, &session)
	webhook := fmt.Sprintf(`{"session_id":%q,"status":"paid"}`, session.ID)

	routes := []struct {
		name, method, path, body string
		caller                   *client
		headers                  []string
	}{
		{"create (tenant)", "POST", "/api/admin/expenses", `{"description":"d","amount_cents":5,"category":"c","incurred_on":"2030-01-01"}`, owner, nil},
		{"change (tenant)", "PATCH", "/api/admin/service-requests/" + request.ID, `{"title":"Changed"}`, owner, nil},
		{"replace (tenant)", "PUT", "/api/admin/thresholds", `{}`, owner, nil},
		{"optional body (pay)", "POST", "/api/admin/invoices/" + invoice.ID + "/pay", `{"payment_method":"cash"}`, owner, nil},
		{"public", "POST", "/api/auth/login", `{"email":"owner@acme.test","password":"demo-password"}`, e.anon(), nil},
		{"platform", "POST", "/api/platform/tenants", `{"slug":"media","name":"Media","owner_email":"o@media.test","owner_name":"O","owner_password":"long-enough-password"}`, operator, nil},
		{"signed webhook", "POST", "/api/payments/webhook", webhook, e.anon(), []string{"X-Payment-Signature", billSign(e, []byte(webhook))}},
	}
	refused := []string{
		"text/plain",
		"text/plain; charset=utf-8",
		"application/x-www-form-urlencoded",
		"application/xml",
		"multipart/form-data; boundary=x",
		"application/jsonp",
		"application/json; charset=iso-8859-1",
		"application json",
		"", // none
	}
	counts := `SELECT (SELECT count(*) FROM expenses) + (SELECT count(*) FROM sessions) + (SELECT count(*) FROM tenants)
		+ (SELECT count(*) FROM invoices WHERE status = 'paid') + (SELECT count(*) FROM service_requests WHERE title = 'Changed')
		+ (SELECT count(*) FROM payment_sessions WHERE status = 'paid')`
	var before int64
	contSQL(t, e, counts, nil, &before)
	for _, rt := range routes {
		for _, ct := range refused {
			t.Run(rt.name+" "+ct, func(t *testing.T) {
				r := rt.caller.do(rt.method, rt.path, rt.body, append([]string{"Content-Type", ct}, rt.headers...)...)
				mustStatus(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type")
				var p struct {
					Type, Title, Detail string
					Status              int
				}
				r.decode(t, &p)
				if got := r.Header.Get("Content-Type"); got != "application/problem+json" || p.Status != 415 ||
					p.Title != "Unsupported media type" || !strings.Contains(p.Detail, "application/json") ||
					p.Type != "https://tenantd.dev/problems/unsupported_media_type" {
					t.Fatalf("problem %s (%s)", r.Body, got)
				}
			})
		}
	}
	var after int64
	contSQL(t, e, counts, nil, &after)
	if after != before {
		t.Fatalf("refused requests changed %d rows", after-before)
	}

	// JSON, however it is labelled, is taken; an empty body is the route's to judge.
	accepted := []struct {
		name, method, path, body, ct string
		status                       int
	}{
		{"application/json", "POST", "/api/admin/expenses", `{"description":"d","amount_cents":5}`, "application/json", http.StatusCreated},
		{"with charset", "POST", "/api/admin/expenses", `{"description":"d","amount_cents":5}`, "application/json; charset=utf-8", http.StatusCreated},
		{"in capitals", "POST", "/api/admin/expenses", `{"description":"d","amount_cents":5}`, "Application/JSON; Charset=\"UTF-8\"", http.StatusCreated},
		{"a +json type", "PATCH", "/api/admin/service-requests/" + request.ID, `{"title":"Merged"}`, "application/merge-patch+json", http.StatusOK},
		{"no body, no type (optional body)", "POST", "/api/admin/invoices/" + invoice.ID + "/pay", "", "", http.StatusOK},
		{"no body on a route that needs one", "POST", "/api/admin/expenses", "", "text/plain", http.StatusUnprocessableEntity},
	}
	for _, c := range accepted {
		t.Run(c.name, func(t *testing.T) {
			r := owner.do(c.method, c.path, c.body, "Content-Type", c.ct)
			mustStatus(t, r, c.status)
		})
	}
}
