package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"tenantd/internal/httpapi"
)

// step is one request of a table-driven route test.
type step struct {
	name   string
	c      *client
	method string
	path   string
	body   any
	status int
	code   string
	has    string // a substring the body must contain
}

func runSteps(t *testing.T, steps []step) {
	t.Helper()
	for _, s := range steps {
		r := s.c.do(s.method, s.path, s.body)
		if r.Status != s.status || (s.code != "" && r.code() != s.code) {
			t.Fatalf("%s: %s %s: got %d %s, want %d %s", s.name, s.method, s.path, r.Status, r.Body, s.status, s.code)
		}
		if s.has != "" && !strings.Contains(string(r.Body), s.has) {
			t.Fatalf("%s: body %s lacks %q", s.name, r.Body, s.has)
		}
	}
}

func idOf(t *testing.T, r *resp) string {
	t.Helper()
	var v struct {
		ID string `json:"id"`
	}
	r.decode(t, &v)
	if v.ID == "" {
		t.Fatalf("no id in %s", r.Body)
	}
	return v.ID
}

func TestServiceRoutes(t *testing.T) {
	e := newEnv(t)
	admin := e.login("owner@acme.test", "")
	staff := e.login("staff@acme.test", "")
	globex := e.login("owner@globex.test", "")
	valid := map[string]any{"slug": "audit", "name": "Audit", "duration_minutes": 60, "price_cents": 50000, "currency": "usd"}
	created := admin.do("POST", "/api/admin/services", valid)
	mustStatus(t, created, http.StatusCreated)
	id := idOf(t, created)
	onHost := e.anon().onHost("acme.localhost")
	runSteps(t, []step{
		{"list", admin, "GET", "/api/admin/services", nil, 200, "", `"slug":"audit"`},
		{"staff may read", staff, "GET", "/api/admin/services/" + id, nil, 200, "", `"currency":"USD"`},
		{"staff may not create", staff, "POST", "/api/admin/services", valid, 403, "forbidden", ""},
		{"duplicate slug in acme", admin, "POST", "/api/admin/services", valid, 409, "conflict", ""},
		{"same slug in globex", globex, "POST", "/api/admin/services", valid, 201, "", ""},
		{"bad slug", admin, "POST", "/api/admin/services", map[string]any{"slug": "Bad Slug", "name": "x"}, 422, "validation_failed", "slug"},
		{"no name", admin, "POST", "/api/admin/services", map[string]any{"slug": "x"}, 422, "validation_failed", "name"},
		{"bad currency", admin, "POST", "/api/admin/services", map[string]any{"slug": "y", "name": "y", "currency": "dollars"}, 422, "validation_failed", "currency"},
		{"unknown field", admin, "POST", "/api/admin/services", map[string]any{"slug": "z", "name": "z", "colour": "red"}, 422, "validation_failed", "colour"},
		{"not json", admin, "POST", "/api/admin/services", "{", 422, "validation_failed", ""},
		{"patch", admin, "PATCH", "/api/admin/services/" + id, map[string]any{"name": "Annual audit", "active": false}, 200, "", `"name":"Annual audit"`},
		{"patch invalid", admin, "PATCH", "/api/admin/services/" + id, map[string]any{"duration_minutes": 1}, 422, "validation_failed", "duration_minutes"},
		{"inactive hidden publicly", onHost, "GET", "/api/services/audit", nil, 404, "not_found", ""},
		{"public list", onHost, "GET", "/api/services", nil, 200, "", `"slug":"tax-return"`},
		{"public one", onHost, "GET", "/api/services/tax-return", nil, 200, "", `"slug":"tax-return"`},
		{"public at apex without a tenant", e.anon(), "GET", "/api/services", nil, 404, "tenant_not_found", ""},
		{"public at apex for a signed-in caller", admin, "GET", "/api/services", nil, 200, "", "Acme"},
		{"in use", admin, "DELETE", "/api/admin/services/" + e.demo.Acme.Services[0].String(), nil, 409, "conflict", ""},
		{"delete", admin, "DELETE", "/api/admin/services/" + id, nil, 204, "", ""},
		{"deleted", admin, "GET", "/api/admin/services/" + id, nil, 404, "not_found", ""},
		{"settings", admin, "GET", "/api/admin/settings/services", nil, 200, "", "default_currency"},
		{"settings put", admin, "PUT", "/api/admin/settings/services", map[string]any{"default_currency": "EUR", "default_duration_minutes": 45, "buffer_minutes": 10}, 200, "", `"buffer_minutes":10`},
		{"settings invalid", admin, "PUT", "/api/admin/settings/services", map[string]any{"default_currency": "E", "default_duration_minutes": 0, "buffer_minutes": -1}, 422, "validation_failed", "buffer_minutes"},
		{"settings by staff", staff, "PUT", "/api/admin/settings/services", map[string]any{"default_currency": "EUR", "default_duration_minutes": 45}, 403, "forbidden", ""},
		{"defaults apply", admin, "POST", "/api/admin/services", map[string]any{"slug": "quick", "name": "Quick call"}, 201, "", `"currency":"EUR"`},
	})
}

func TestBookingRoutes(t *testing.T) {
	e := newEnv(t)
	staff := e.login("staff@acme.test", "")
	client := e.login("client@acme.test", "")
	svc := e.demo.Acme.Services[0].String()
	when := time.Now().UTC().Add(200 * time.Hour).Truncate(time.Hour)
	created := staff.do("POST", "/api/bookings", map[string]any{"service_id": svc, "client_id": e.demo.Acme.Client, "starts_at": when})
	mustStatus(t, created, http.StatusCreated)
	id := idOf(t, created)
	day := time.Now().UTC().AddDate(0, 0, 10)
	for day.Weekday() == time.Saturday || day.Weekday() == time.Sunday {
		day = day.AddDate(0, 0, 1)
	}
	onHost := e.anon().onHost("acme.localhost")
	runSteps(t, []step{
		{"staff lists all", staff, "GET", "/api/bookings", nil, 200, "", e.demo.Acme.Client2.String()},
		{"admin list with filter", staff, "GET", "/api/admin/bookings?status=pending", nil, 200, "", `"status":"pending"`},
		{"admin list bad filter", staff, "GET", "/api/admin/bookings?status=lost", nil, 422, "validation_failed", "status"},
		{"bad page size", staff, "GET", "/api/bookings?limit=500", nil, 422, "validation_failed", "limit"},
		{"bad cursor", staff, "GET", "/api/bookings?cursor=abc", nil, 422, "validation_failed", "cursor"},
		{"stats", staff, "GET", "/api/admin/bookings/stats", nil, 200, "", `"by_status"`},
		{"client may not see stats", client, "GET", "/api/admin/bookings/stats", nil, 403, "forbidden", ""},
		{"missing fields", staff, "POST", "/api/bookings", map[string]any{}, 422, "validation_failed", "service_id"},
		{"staff must name the client", staff, "POST", "/api/bookings", map[string]any{"service_id": svc, "starts_at": when}, 422, "validation_failed", "client_id"},
		{"unknown service", staff, "POST", "/api/bookings", map[string]any{"service_id": e.demo.Globex.Services[0], "client_id": e.demo.Acme.Client, "starts_at": when}, 422, "validation_failed", "service_id"},
		{"foreign client", staff, "POST", "/api/bookings", map[string]any{"service_id": svc, "client_id": e.demo.Globex.Client, "starts_at": when}, 422, "validation_failed", ""},
		{"end before start", staff, "POST", "/api/bookings", map[string]any{"service_id": svc, "client_id": e.demo.Acme.Client, "starts_at": when, "ends_at": when.Add(-time.Hour)}, 422, "validation_failed", "ends_at"},
		{"get", client, "GET", "/api/bookings/" + id, nil, 200, "", id},
		{"put", staff, "PUT", "/api/bookings/" + id, map[string]any{"service_id": svc, "starts_at": when.Add(time.Hour), "notes": "moved"}, 200, "", `"notes":"moved"`},
		{"put invalid", staff, "PUT", "/api/bookings/" + id, map[string]any{"service_id": svc}, 422, "validation_failed", "starts_at"},
		{"client may only cancel", client, "PUT", "/api/bookings/" + id, map[string]any{"service_id": svc, "starts_at": when, "status": "confirmed"}, 422, "validation_failed", "status"},
		{"client may not confirm", client, "POST", "/api/bookings/" + id + "/confirm", nil, 403, "forbidden", ""},
		{"confirm", staff, "POST", "/api/bookings/" + id + "/confirm", nil, 200, "", `"status":"confirmed"`},
		{"client cancels", client, "PUT", "/api/bookings/" + id, map[string]any{"service_id": svc, "starts_at": when, "status": "cancelled"}, 200, "", `"status":"cancelled"`},
		{"cancelled cannot be confirmed", staff, "POST", "/api/bookings/" + id + "/confirm", nil, 409, "conflict", ""},
		{"portal lists own", client, "GET", "/api/portal/bookings", nil, 200, "", e.demo.Acme.Client.String()},
		{"portal books for oneself", client, "POST", "/api/portal/bookings", map[string]any{"service_id": svc, "starts_at": rrFirstSlot(t, e, e.demo.Acme.Services[0], day).StartsAt}, 201, "", e.demo.Acme.Client.String()},
		{"portal refuses another client", client, "POST", "/api/portal/bookings", map[string]any{"service_id": svc, "starts_at": when, "client_id": e.demo.Acme.Client2}, 422, "validation_failed", "client_id"},
		{"availability", onHost, "GET", "/api/bookings/availability?service=tax-return&date=" + day.Format(time.DateOnly), nil, 200, "", `"slots":[{`},
		{"availability needs params", onHost, "GET", "/api/bookings/availability", nil, 422, "validation_failed", "date"},
		{"availability unknown service", onHost, "GET", "/api/bookings/availability?service=nope&date=" + day.Format(time.DateOnly), nil, 404, "not_found", ""},
		{"delete", staff, "DELETE", "/api/bookings/" + id, nil, 204, "", ""},
		{"deleted", staff, "GET", "/api/bookings/" + id, nil, 404, "not_found", ""},
	})
}

func TestAuthRoutes(t *testing.T) {
	e := newEnv(t)
	onHost := e.anon().onHost("acme.localhost")
	runSteps(t, []step{
		{"register", onHost, "POST", "/api/auth/register", map[string]any{"email": "new@client.test", "password": "long-enough-pw", "name": "New Client"}, 201, "", `"role":"CLIENT"`},
		{"register again", onHost, "POST", "/api/auth/register", map[string]any{"email": "NEW@client.test", "password": "long-enough-pw", "name": "Again"}, 409, "conflict", ""},
		{"register invalid", onHost, "POST", "/api/auth/register", map[string]any{"email": "nope", "password": "short", "name": ""}, 422, "validation_failed", "password"},
		{"register at apex names its tenant", e.anon(), "POST", "/api/auth/register", map[string]any{"email": "g@client.test", "password": "long-enough-pw", "name": "G", "tenant": "globex"}, 201, "", `"slug":"globex"`},
		{"register at apex without a tenant", e.anon(), "POST", "/api/auth/register", map[string]any{"email": "h@client.test", "password": "long-enough-pw", "name": "H"}, 404, "tenant_not_found", ""},
		{"wrong password", e.anon(), "POST", "/api/auth/login", map[string]any{"email": "owner@acme.test", "password": "wrong"}, 401, "unauthenticated", "Invalid email or password."},
		{"unknown user", e.anon(), "POST", "/api/auth/login", map[string]any{"email": "ghost@acme.test", "password": "wrong"}, 401, "unauthenticated", "Invalid email or password."},
		{"login incomplete", e.anon(), "POST", "/api/auth/login", map[string]any{"email": "owner@acme.test"}, 422, "validation_failed", ""},
		{"login on a tenant host", e.anon().onHost("globex.localhost"), "POST", "/api/auth/login", map[string]any{"email": "consultant@demo.test", "password": "demo-password"}, 200, "", `"role":"CLIENT"`},
	})
	// The new client can sign in and sees an empty portal.
	c := e.anon()
	mustStatus(t, c.do("POST", "/api/auth/login", map[string]any{"email": "new@client.test", "password": "long-enough-pw"}), http.StatusOK)
	mustStatus(t, c.do("GET", "/api/portal/bookings", nil), http.StatusOK)

	// Logout: the old cookies never work again.
	owner := e.login("owner@acme.test", "")
	old := owner.onHost("")
	mustStatus(t, owner.do("GET", "/api/auth/session", nil), http.StatusOK)
	mustStatus(t, owner.do("POST", "/api/auth/logout", nil), http.StatusNoContent)
	mustStatus(t, old.do("GET", "/api/auth/session", nil), http.StatusUnauthorized, "unauthenticated")

	// API tokens: created once, bound to the tenant, no stronger than their creator, revocable.
	admin := e.login("owner@acme.test", "")
	staff := e.login("staff@acme.test", "")
	mustStatus(t, staff.do("POST", "/api/admin/api-tokens", map[string]any{"name": "x", "role": "OWNER"}), http.StatusUnprocessableEntity, "validation_failed")
	mustStatus(t, admin.do("POST", "/api/admin/api-tokens", map[string]any{"name": ""}), http.StatusUnprocessableEntity, "validation_failed")
	r := admin.do("POST", "/api/admin/api-tokens", map[string]any{"name": "reporting", "role": "STAFF"})
	mustStatus(t, r, http.StatusCreated)
	var tok struct {
		Token    string `json:"token"`
		APIToken struct {
			ID string `json:"id"`
		} `json:"api_token"`
	}
	r.decode(t, &tok)
	bearer := e.anon()
	bearer.bearer = tok.Token
	mustStatus(t, bearer.do("GET", "/api/bookings", nil), http.StatusOK)
	mustStatus(t, bearer.do("GET", "/api/admin/audit-logs", nil), http.StatusForbidden, "forbidden")
	mustStatus(t, bearer.onHost("globex.localhost").do("GET", "/api/bookings", nil), http.StatusForbidden, "tenant_mismatch")
	list := admin.do("GET", "/api/admin/api-tokens", nil)
	mustStatus(t, list, http.StatusOK)
	if strings.Contains(string(list.Body), tok.Token) {
		t.Fatal("the token's secret is listed")
	}
	mustStatus(t, admin.do("DELETE", "/api/admin/api-tokens/"+tok.APIToken.ID, nil), http.StatusNoContent)
	mustStatus(t, bearer.do("GET", "/api/bookings", nil), http.StatusUnauthorized, "unauthenticated")
	bad := e.anon()
	bad.bearer = "tdt_not-a-token"
	mustStatus(t, bad.do("GET", "/api/bookings", nil), http.StatusUnauthorized, "unauthenticated")
}

func TestHealthRoutes(t *testing.T) {
	e := newEnv(t)
	runSteps(t, []step{
		{"healthz", e.anon(), "GET", "/healthz", nil, 200, "", "ok"},
		{"readyz", e.anon(), "GET", "/readyz", nil, 200, "", "ready"},
		{"unknown path", e.anon(), "GET", "/api/nothing-here", nil, 404, "not_found", ""},
	})
	r := e.anon().do("GET", "/healthz", nil, "X-Request-Id", "trace-me.1")
	if r.Header.Get("X-Request-Id") != "trace-me.1" {
		t.Fatal("a valid inbound request id was not kept")
	}
	r = e.anon().do("GET", "/healthz", nil, "X-Request-Id", "bad id with spaces")
	if id := r.Header.Get("X-Request-Id"); id == "" || strings.Contains(id, " ") {
		t.Fatalf("an invalid request id was kept: %q", id)
	}
	big := strings.Repeat("x", 2<<20)
	owner := e.login("owner@acme.test", "")
	mustStatus(t, owner.do("POST", "/api/admin/services", `{"name":"`+big+`"}`), http.StatusRequestEntityTooLarge, "payload_too_large")
}

// A cookie-authenticated write from another site is refused as a problem document; the same
// request from the site itself, or without browser fetch metadata, goes through.
func TestCrossOriginWritesAreRefused(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	body := map[string]any{"slug": "csrf", "name": "CSRF"}
	mustStatus(t, owner.do("POST", "/api/admin/services", body, "Sec-Fetch-Site", "cross-site"), http.StatusForbidden, "forbidden")
	mustStatus(t, owner.do("POST", "/api/admin/services", body, "Sec-Fetch-Site", "same-origin"), http.StatusCreated)
	mustStatus(t, owner.do("GET", "/api/admin/services", nil, "Sec-Fetch-Site", "cross-site"), http.StatusOK)
}

// Sign-in attempts are limited per email (and per IP): past the limit the answer is 429 with
// Retry-After, even with the right password, and other accounts are unaffected.
func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t)
	e.serve(t, httpapi.Config{LoginPerMinute: 3})
	wrong := map[string]any{"email": "owner@acme.test", "password": "wrong"}
	for i := 0; i < 3; i++ {
		mustStatus(t, e.anon().do("POST", "/api/auth/login", wrong), http.StatusUnauthorized)
	}
	r := e.anon().do("POST", "/api/auth/login", map[string]any{"email": "owner@acme.test", "password": "demo-password"})
	mustStatus(t, r, http.StatusTooManyRequests, "rate_limited")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	mustStatus(t, e.anon().do("POST", "/api/auth/login", map[string]any{"email": "staff@acme.test", "password": "demo-password"}), http.StatusOK)
}
