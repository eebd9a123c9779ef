package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Length limits are stated in characters and counted in characters, as PostgreSQL's length()
// counts them: a text of exactly the limit in 'é' (two bytes each) is taken, one more is
// refused with 422 naming the field. Counted in bytes, 150 'é' were refused as over 200
// characters.
func TestInputRulesCharacterLimits(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "acme")
	acme := e.demo.Acme
	clientID, service := acme.Client.String(), acme.Services[0].String()
	onHost := e.anon().onHost("acme.localhost")

	r := owner.do("GET", "/api/admin/communication-settings", nil)
	mustStatus(t, r, http.StatusOK)
	var comm map[string]any
	r.decode(t, &comm)

	n := 0
	unique := func() int { n++; return n }
	cases := []struct {
		name   string
		caller *client
		method string
		path   func(text string) string
		body   func(text string) any
		field  string
		limit  int
	}{
		{"service request title (reqText)", owner, "POST", fixed("/api/admin/service-requests"),
			func(s string) any { return map[string]any{"client_id": clientID, "title": s} }, "title", 200},
		{"work order description (reqText)", owner, "POST", fixed("/api/admin/work-orders"),
			func(s string) any {
				return map[string]any{"code": fmt.Sprintf("WO-C%d", unique()), "title": "t", "description": s}
			}, "description", 10000},
		{"team member title (reqText)", owner, "POST", fixed("/api/admin/team-members"),
			func(s string) any { return map[string]any{"name": "n", "title": s} }, "title", 200},
		{"service name", owner, "POST", fixed("/api/admin/services"),
			func(s string) any {
				return map[string]any{"slug": fmt.Sprintf("chars-%d", unique()), "name": s, "duration_minutes": 30, "price_cents": 1}
			}, "name", 200},
		{"service description", owner, "POST", fixed("/api/admin/services"),
			func(s string) any {
				return map[string]any{"slug": fmt.Sprintf("chars-%d", unique()), "name": "n", "description": s, "duration_minutes": 30, "price_cents": 1}
			}, "description", 10000},
		{"expense description", owner, "POST", fixed("/api/admin/expenses"),
			func(s string) any { return map[string]any{"description": s, "amount_cents": 1} }, "description", 500},
		{"expense category", owner, "POST", fixed("/api/admin/expenses"),
			func(s string) any { return map[string]any{"description": "d", "category": s, "amount_cents": 1} }, "category", 64},
		{"invoice item description", owner, "POST", fixed("/api/admin/invoices"),
			func(s string) any {
				return map[string]any{"client_id": clientID, "items": []any{map[string]any{"description": s, "unit_price_cents": 1}}}
			}, "items[0].description", 500},
		{"invoice notes", owner, "POST", fixed("/api/admin/invoices"),
			func(s string) any { return map[string]any{"client_id": clientID, "notes": s} }, "notes", 5000},
		{"booking notes", owner, "POST", fixed("/api/bookings"),
			func(s string) any {
				return map[string]any{"service_id": service, "client_id": clientID, "notes": s,
					"starts_at": fmt.Sprintf("2031-03-%02dT10:00:00Z", unique())}
			}, "notes", 5000},
		{"API token name", owner, "POST", fixed("/api/admin/api-tokens"),
			func(s string) any { return map[string]any{"name": s, "role": "STAFF"} }, "name", 100},
		{"registration name", onHost, "POST", fixed("/api/auth/register"),
			func(s string) any {
				return map[string]any{"email": fmt.Sprintf("chars%d@acme.test", unique()), "password": "long-enough-password", "name": s}
			}, "name", 200},
		{"registration password", onHost, "POST", fixed("/api/auth/register"),
			func(s string) any {
				return map[string]any{"email": fmt.Sprintf("chars%d@acme.test", unique()), "password": s, "name": "n"}
			}, "password", 200},
		{"SMTP password", owner, "PUT", fixed("/api/admin/communication-settings"),
			func(s string) any {
				b := map[string]any{}
				for k, v := range comm {
					b[k] = v
				}
				b["smtp_password"] = s
				return b
			}, "smtp_password", 500},
		{"audit filter: action", owner, "GET",
			func(s string) string { return "/api/admin/audit-logs?action=" + url.QueryEscape(s) }, nil, "action", 200},
		{"audit filter: target type", owner, "GET",
			func(s string) string { return "/api/admin/audit-logs?target_type=" + url.QueryEscape(s) }, nil, "target_type", 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, chars := range []int{c.limit, c.limit + 1} {
				text := strings.Repeat("é", chars)
				var body any
				if c.body != nil {
					body = c.body(text)
				}
				r := c.caller.do(c.method, c.path(text), body)
				if chars == c.limit && (r.Status < 200 || r.Status > 299) {
					t.Fatalf("%d characters (%d bytes) refused: %d %s", chars, len(text), r.Status, r.Body)
				}
				if chars > c.limit {
					mustStatus(t, r, http.StatusUnprocessableEntity, "validation_failed")
					if !r.namesField(c.field) {
						t.Fatalf("the problem does not name %s: %s", c.field, r.Body)
					}
				}
			}
		})
	}

	// Lower bounds and checks that follow a limit count characters too, and limits meet the
	// database's: 9 'é' are not a 10-character password though they are 18 bytes; a code of
	// 40 'é' (within 64 characters, over 64 bytes) is still checked for its alphabet, and an
	// email of as many characters for its form; users.email holds at most 320 characters.
	refused := []struct {
		name   string
		caller *client
		path   string
		body   map[string]any
		field  string
	}{
		{"a password of 9 two-byte characters", onHost, "/api/auth/register",
			map[string]any{"email": "short@acme.test", "password": strings.Repeat("é", 9), "name": "n"}, "password"},
		{"a work order code of 40 'é'", owner, "/api/admin/work-orders",
			map[string]any{"code": strings.Repeat("é", 40), "title": "t"}, "code"},
		{"a team member email of 200 'é' and no @", owner, "/api/admin/team-members",
			map[string]any{"name": "n", "email": strings.Repeat("é", 200)}, "email"},
		{"a registration email of 321 characters", onHost, "/api/auth/register",
			map[string]any{"email": strings.Repeat("a", 311) + "@acme.test", "password": "long-enough-password", "name": "n"}, "email"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			r := c.caller.do("POST", c.path, c.body)
			mustStatus(t, r, http.StatusUnprocessableEntity, "validation_failed")
			if !r.namesField(c.field) {
				t.Fatalf("the problem does not name %s: %s", c.field, r.Body)
			}
		})
	}
}

func fixed(path string) func(string) string { return func(string) string { return path } }
