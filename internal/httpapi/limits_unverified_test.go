package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"

	"tenantd/internal/auth"
	"tenantd/internal/httpapi"
)

// A tenant's rate limit answers only callers whose claim verifies. A credential that merely
// names a busy tenant (a forged API token: its tenant is a hex prefix anyone can write; or the
// cookies of a signed-out session) gets the 401 it gets at any other time, and is neither
// charged to nor counted in that tenant's usage: the limit tells an outsider nothing about
// another tenant's traffic and cannot be used to inflate its figures. The tenant's own callers
// are still limited, and other tenants are not affected.
func TestRateLimitUnverified(t *testing.T) {
	e := newEnv(t)
	// The same database, served with a low per-tenant limit: 6 a minute, a burst of one, so a
	// tenant's bucket stays empty for about ten seconds once it ran dry.
	api := httpapi.New(e.st, httpapi.Config{BaseDomain: "localhost", Keyring: e.keyring, OperatorToken: testOperator,
		StorageDir: t.TempDir(), LoginPerMinute: 1000, TenantMaxRPM: 6, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	e.srv, e.api = srv, api

	globex := e.login("owner@globex.test", "")
	acme := e.login("owner@acme.test", "")
	// A signed-out globex session: its tenant_sig still carries a good signature naming globex,
	// but the session behind it no longer verifies.
	gone := e.login("client@globex.test", "")
	signedOut := gone.onHost("")
	mustStatus(t, gone.do("POST", "/api/auth/logout", nil), http.StatusNoContent)
	forged := func(tenant uuid.UUID) *client {
		c := e.anon()
		c.bearer, _, _ = auth.NewAPIToken(tenant) // well formed, never stored
		return c
	}
	forgedGlobex, forgedAcme := forged(e.demo.Globex.ID), forged(e.demo.Acme.ID)

	op := platOperator(e)
	usage := func() httpapi.UsageSnapshot {
		t.Helper()
		r := op.do("GET", "/api/platform/tenants/globex/usage", nil)
		mustStatus(t, r, http.StatusOK)
		var u struct {
			Traffic httpapi.UsageSnapshot `json:"traffic"`
		}
		r.decode(t, &u)
		return u.Traffic
	}

	// globex uses up its budget.
	exhausted := false
	for i := 0; i < 20 && !exhausted; i++ {
		switch r := globex.do("GET", "/api/bookings", nil); r.Status {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			exhausted = true
		default:
			t.Fatalf("globex request %d: %d %s", i, r.Status, r.Body)
		}
	}
	if !exhausted {
		t.Fatal("globex sent 20 requests at a limit of 6 a minute and none was limited")
	}
	before := usage()

	// Callers whose credentials do not verify: 401, whatever globex's bucket holds.
	for i := 0; i < 3; i++ {
		mustStatus(t, forgedGlobex.do("GET", "/api/bookings", nil), http.StatusUnauthorized, "unauthenticated")
		mustStatus(t, forgedGlobex.do("POST", "/api/bookings", map[string]any{}), http.StatusUnauthorized, "unauthenticated")
		mustStatus(t, forgedGlobex.do("GET", "/api/admin/bookings/stats", nil), http.StatusUnauthorized, "unauthenticated")
		// A copy each time: the refusal clears the cookies it answers.
		mustStatus(t, signedOut.onHost("").do("GET", "/api/bookings", nil), http.StatusUnauthorized, "unauthenticated")
	}
	// The same answer as a forged token naming a tenant that is not busy.
	mustStatus(t, forgedAcme.do("GET", "/api/bookings", nil), http.StatusUnauthorized, "unauthenticated")

	after := usage()
	if after.RateLimited != before.RateLimited || after.Requests != before.Requests ||
		after.ClientErrors != before.ClientErrors || after.ServerErrors != before.ServerErrors {
		t.Fatalf("unverified requests were counted in globex's usage: %+v, was %+v", after, before)
	}

	// globex's own caller is still limited, and that is counted.
	r := globex.do("GET", "/api/bookings", nil)
	mustStatus(t, r, http.StatusTooManyRequests, "rate_limited")
	if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("429 without a Retry-After (%q)", ra)
	}
	if u := usage(); u.RateLimited != after.RateLimited+1 {
		t.Fatalf("globex's 429 was not counted: rate_limited %d, was %d", u.RateLimited, after.RateLimited)
	}

	// acme is not affected by any of it.
	mustStatus(t, acme.do("GET", "/api/bookings", nil), http.StatusOK)
	if u := api.TenantUsage(e.demo.Acme.ID); u.RateLimited != 0 {
		t.Fatalf("acme usage %+v", u)
	}
}
