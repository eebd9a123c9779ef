package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5"

	"tenantd/internal/httpapi"
	"tenantd/internal/store"
)

// second starts another server on the same database with its own store, so its own cache of
// verified claims: what one server changes, the other must notice on its very next request.
func (e *env) second(t *testing.T) *client {
	t.Helper()
	st, err := store.Open(context.Background(), e.db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	api := httpapi.New(st, httpapi.Config{BaseDomain: "localhost", Keyring: e.keyring, OperatorToken: testOperator,
		StorageDir: e.files, LoginPerMinute: 1000, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	cp := *e
	cp.srv = srv
	cp.api = api
	return cp.anon()
}

// on returns c talking to other's server, with c's cookies.
func (c *client) on(other *client) *client {
	cp := c.onHost(c.host)
	cp.e = other.e
	return cp
}

func superExec(t testing.TB, e *env, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.db.SuperURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatal(err)
	}
}

// A verification remembered by a server is dropped as soon as anything it relied on changes,
// whichever server or tool changed it.
func TestCachedVerificationNeverOutlivesItsGrounds(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, e *env, staff *client, owner *client)
		status int
		code   string
	}{
		{"membership revoked by another server", func(t *testing.T, e *env, staff, owner *client) {
			r := owner.do("PATCH", "/api/admin/users/"+e.demo.Acme.Staff.String(), map[string]any{"status": "revoked"})
			mustStatus(t, r, http.StatusOK)
		}, http.StatusForbidden, "not_a_member"},
		{"role lowered in the database by hand", func(t *testing.T, e *env, staff, owner *client) {
			superExec(t, e, `UPDATE memberships SET role = 'CLIENT' WHERE tenant_id = $1 AND user_id = $2`, e.demo.Acme.ID, e.demo.Acme.Staff)
		}, http.StatusForbidden, "forbidden"},
		{"logged out on another server", func(t *testing.T, e *env, staff, owner *client) {
			mustStatus(t, staff.do("POST", "/api/auth/logout", nil), http.StatusNoContent)
		}, http.StatusUnauthorized, "unauthenticated"},
		{"tenant suspended in the database", func(t *testing.T, e *env, staff, owner *client) {
			superExec(t, e, `UPDATE tenants SET status = 'suspended' WHERE id = $1`, e.demo.Acme.ID)
		}, http.StatusForbidden, "tenant_suspended"},
		{"session expired in the database", func(t *testing.T, e *env, staff, owner *client) {
			superExec(t, e, `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1`, e.demo.Acme.Staff)
		}, http.StatusUnauthorized, "unauthenticated"},
		// The statement that binds the tenant then finds no tenant row: it binds nothing, and the
		// remembered verification is not trusted.
		{"tenant deleted in the database", func(t *testing.T, e *env, staff, owner *client) {
			superExec(t, e, `DELETE FROM tenants WHERE id = $1`, e.demo.Acme.ID)
		}, http.StatusUnauthorized, "unauthenticated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			other := e.second(t)
			staff := e.login("staff@acme.test", "")
			owner := e.login("owner@acme.test", "")
			// Warm both servers' caches with the staff member's verified claim.
			for i := 0; i < 3; i++ {
				mustStatus(t, staff.do("GET", "/api/admin/services", nil), http.StatusOK)
				mustStatus(t, staff.on(other).do("GET", "/api/admin/services", nil), http.StatusOK)
			}
			// The change goes through the second server (or straight to the database).
			c.change(t, e, staff.on(other), owner.on(other))
			mustStatus(t, staff.withCookie("x", "").do("GET", "/api/admin/services", nil), c.status, c.code)
			mustStatus(t, staff.withCookie("x", "").do("POST", "/api/admin/services", map[string]any{}), c.status, c.code)
		})
	}
}

// A renamed tenant's old host no longer matches a remembered verification.
func TestCachedVerificationFollowsRenames(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "").onHost("acme.localhost")
	for i := 0; i < 3; i++ {
		mustStatus(t, owner.do("GET", "/api/bookings", nil), http.StatusOK)
	}
	superExec(t, e, `UPDATE tenants SET slug = 'acme-renamed' WHERE id = $1`, e.demo.Acme.ID)
	mustStatus(t, owner.do("GET", "/api/bookings", nil), http.StatusNotFound, "tenant_not_found")
	mustStatus(t, owner.onHost("acme-renamed.localhost").do("GET", "/api/bookings", nil), http.StatusOK)
	// Another tenant taking the old slug does not inherit acme's callers.
	superExec(t, e, `UPDATE tenants SET slug = 'acme' WHERE id = $1`, e.demo.Globex.ID)
	mustStatus(t, owner.do("GET", "/api/bookings", nil), http.StatusForbidden, "tenant_mismatch")
}
