package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"tenantd/internal/httpapi"
)

// Nothing on a tenant's public surface identifies a person beyond it: only staff of the
// tenant see a post's author_id, a user id that is the same in every tenant the person works
// for.
func TestPublicPostsCarryNoAuthorID(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	cases := []struct {
		name   string
		caller *client
		onHost string
		wantID bool
	}{
		{name: "anyone on the tenant's host", caller: e.anon(), onHost: "acme.localhost", wantID: false},
		{name: "a client of the tenant", caller: e.login("client@acme.test", ""), onHost: "acme.localhost", wantID: false},
		{name: "staff of the tenant", caller: owner, wantID: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.caller
			if tc.onHost != "" {
				c = c.onHost(tc.onHost)
			}
			var list struct {
				Items []map[string]any `json:"items"`
			}
			r := c.do("GET", "/api/posts", nil)
			mustStatus(t, r, http.StatusOK)
			r.decode(t, &list)
			var one map[string]any
			r = c.do("GET", "/api/posts/welcome", nil)
			mustStatus(t, r, http.StatusOK)
			r.decode(t, &one)
			for _, p := range append(list.Items, one) {
				if id, _ := p["author_id"].(string); (id != "") != tc.wantID {
					t.Fatalf("post %v: author_id %q, want shown %v", p["slug"], id, tc.wantID)
				}
			}
		})
	}
}

// Registration draws on the sign-in budgets: an email's existence cannot be asked in bulk, nor
// argon2 hashes run at will.
func TestRegistrationIsRateLimited(t *testing.T) {
	e := newEnv(t)
	e.serve(t, httpapi.Config{LoginPerMinute: 3})
	c := e.anon().onHost("acme.localhost")
	body := map[string]any{"email": "owner@globex.test", "password": "long-enough-password", "name": "Probe"}
	for i := range 3 {
		if r := c.do("POST", "/api/auth/register", body); r.Status == http.StatusTooManyRequests {
			t.Fatalf("attempt %d already refused", i+1)
		}
	}
	mustStatus(t, c.do("POST", "/api/auth/register", body), http.StatusTooManyRequests, "rate_limited")
}

// The platform log, which outlives offboarded tenants, names people by user id, not by email.
func TestPlatformLogNamesNoEmails(t *testing.T) {
	e, _ := newPlatEnv(t)
	op := platOperator(e)
	mustStatus(t, op.do("POST", "/api/platform/tenants", map[string]any{"slug": "initech", "name": "Initech",
		"owner_email": "bill@initech.test", "owner_name": "Bill", "owner_password": "initech-password"}), http.StatusCreated)
	var leaks int
	if err := platSuper(t, e).QueryRow(context.Background(), `SELECT count(*) FROM platform_events WHERE detail::text LIKE '%@%'`).Scan(&leaks); err != nil {
		t.Fatal(err)
	}
	if leaks != 0 {
		t.Fatalf("%d platform events carry an email", leaks)
	}
}

// No shared cache may keep or serve a tenant's data to someone else: tenant routes answer
// no-store, and a public tenant route varies on the caller's credentials and keeps a signed-in
// caller's answer private.
func TestAnswersTellCachesWhatIsPersonal(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	cases := []struct {
		name      string
		caller    *client
		path      string
		wantCache string
		wantVary  string
	}{
		{"a tenant route", owner, "/api/bookings", "no-store", ""},
		{"a public tenant route, anonymous", e.anon().onHost("acme.localhost"), "/api/posts", "", "Cookie, Authorization"},
		{"a public tenant route, the tenant's staff", owner.onHost("acme.localhost"), "/api/posts", "private, no-store", "Cookie, Authorization"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.caller.do("GET", tc.path, nil)
			mustStatus(t, r, http.StatusOK)
			if got := r.Header.Get("Cache-Control"); got != tc.wantCache {
				t.Errorf("Cache-Control %q, want %q", got, tc.wantCache)
			}
			if got := r.Header.Get("Vary"); got != tc.wantVary {
				t.Errorf("Vary %q, want %q", got, tc.wantVary)
			}
		})
	}
}
