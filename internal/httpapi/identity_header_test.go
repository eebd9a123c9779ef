package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"

	"tenantd/internal/httpapi"
)

// Every answer to a caller whose credential verified carries X-User-Id, refusals included: a
// permission the role lacks (fresh and remembered verification), a suspended tenant, a tenant
// over its rate. A credential that does not verify names nobody.
func TestRefusalsOfVerifiedCallersCarryTheirId(t *testing.T) {
	e := newEnv(t)
	e.serve(t, httpapi.Config{TenantMaxRPM: 6})
	acmeClient := e.login("client@acme.test", "")
	globexOwner := e.login("owner@globex.test", "")
	staff := e.login("staff@acme.test", "")
	forged := e.anon()
	forged.bearer = "tnt_" + uuid.NewString()
	acme := e.demo.Acme
	cases := []struct {
		name   string
		setup  func()
		c      *client
		path   string
		status int
		code   string
		user   uuid.UUID
	}{
		{name: "a permission the role lacks", c: acmeClient, path: "/api/admin/users", status: http.StatusForbidden, code: "forbidden", user: acme.Client},
		{name: "the same, remembered verification", c: acmeClient, path: "/api/admin/users", status: http.StatusForbidden, code: "forbidden", user: acme.Client},
		{name: "a suspended tenant", setup: func() { superExec(t, e, `UPDATE tenants SET status = 'suspended' WHERE id = $1`, e.demo.Globex.ID) },
			c: globexOwner, path: "/api/bookings", status: http.StatusForbidden, code: "tenant_suspended", user: e.demo.Globex.Owner},
		{name: "a tenant over its rate", setup: func() {
			for range 10 {
				staff.do("GET", "/api/bookings", nil)
			}
		}, c: staff, path: "/api/bookings", status: http.StatusTooManyRequests, code: "rate_limited", user: acme.Staff},
		{name: "a credential that does not verify", c: forged, path: "/api/bookings", status: http.StatusUnauthorized, code: "unauthenticated"},
		{name: "no credential", c: e.anon(), path: "/api/bookings", status: http.StatusUnauthorized, code: "unauthenticated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			r := tc.c.do("GET", tc.path, nil)
			mustStatus(t, r, tc.status, tc.code)
			want := ""
			if tc.user != uuid.Nil {
				want = tc.user.String()
			}
			if got := r.Header.Get("X-User-Id"); got != want {
				t.Fatalf("X-User-Id %q, want %q", got, want)
			}
		})
	}
}

// An API token whose creator's role no longer covers it is dead: it names nobody, whatever
// host it is sent to (its own, another tenant's, an unknown one).
func TestDeadTokenNamesNobody(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	creator := e.login("consultant@demo.test", "acme")
	r := creator.do("POST", "/api/admin/api-tokens", map[string]any{"name": "t", "role": "STAFF"})
	mustStatus(t, r, http.StatusCreated)
	var tok struct {
		Token string `json:"token"`
	}
	r.decode(t, &tok)
	consultant := e.demo.Consultant
	mustStatus(t, owner.do("PATCH", "/api/admin/users/"+consultant.String(), map[string]any{"role": "CLIENT"}), http.StatusOK)
	bearer := e.anon()
	bearer.bearer = tok.Token
	for _, host := range []string{"", "acme.localhost", "globex.localhost", "nosuch.localhost"} {
		t.Run("host "+host, func(t *testing.T) {
			r := bearer.onHost(host).do("GET", "/api/bookings", nil)
			if r.Status < 400 {
				t.Fatalf("a dead token was served: %d", r.Status)
			}
			if got := r.Header.Get("X-User-Id"); got != "" {
				t.Fatalf("answered %d naming %s", r.Status, got)
			}
		})
	}
}
