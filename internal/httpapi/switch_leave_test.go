package httpapi_test

import (
	"net/http"
	"testing"
)

// A signed-in user whose current tenant no longer admits them (suspended, or their membership
// there revoked) can still switch the session to another tenant where they are an active
// member, instead of being stuck until they sign in again. Everything else stays refused:
// switching to the refusing tenant itself, to a tenant without an active membership, with a
// tampered tenant_sig, or with any other route.
func TestSwitchOutOfATenantThatNoLongerAdmits(t *testing.T) {
	cases := []struct {
		name   string
		who    string // signed in to acme
		setup  string // SQL run as the superuser, $1 = acme's id
		to     string
		tamper bool
		status int
		code   string
		role   string // after a 200: the role in the tenant switched to
	}{
		{name: "membership revoked, to another tenant", who: "consultant@demo.test",
			setup: `UPDATE memberships m SET status = 'revoked' FROM users u WHERE m.user_id = u.id AND u.email = 'consultant@demo.test' AND m.tenant_id = $1`,
			to:    "globex", status: http.StatusOK, role: "CLIENT"},
		{name: "tenant suspended, to another tenant", who: "consultant@demo.test",
			setup: `UPDATE tenants SET status = 'suspended' WHERE id = $1`,
			to:    "globex", status: http.StatusOK, role: "CLIENT"},
		{name: "tenant suspended, to the same tenant", who: "consultant@demo.test",
			setup: `UPDATE tenants SET status = 'suspended' WHERE id = $1`,
			to:    "acme", status: http.StatusForbidden, code: "tenant_suspended"},
		{name: "membership revoked, to a tenant without membership", who: "staff@acme.test",
			setup: `UPDATE memberships m SET status = 'revoked' FROM users u WHERE m.user_id = u.id AND u.email = 'staff@acme.test' AND m.tenant_id = $1`,
			to:    "globex", status: http.StatusForbidden, code: "not_a_member"},
		{name: "tenant suspended, tampered tenant_sig", who: "consultant@demo.test",
			setup: `UPDATE tenants SET status = 'suspended' WHERE id = $1`,
			to:    "globex", tamper: true, status: http.StatusForbidden, code: "invalid_tenant_signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tenant := ""
			if tc.who == "consultant@demo.test" {
				tenant = "acme"
			}
			c := e.login(tc.who, tenant)
			superExec(t, e, tc.setup, e.demo.Acme.ID)
			// Any other route stays refused.
			if r := c.do("GET", "/api/bookings", nil); r.Status != http.StatusForbidden {
				t.Fatalf("the refusing tenant answered %d %s", r.Status, r.Body)
			}
			if tc.tamper {
				sig := []byte(c.cookie("tenant_sig"))
				sig[len(sig)-2] ^= 1
				c = c.withCookie("tenant_sig", string(sig))
			}
			r := c.do("POST", "/api/tenant/switch", map[string]any{"tenant": tc.to})
			mustStatus(t, r, tc.status, tc.code)
			// An answer to a session that verified names its user (SPEC §3), refusal or not.
			if got, verified := r.Header.Get("X-User-Id"), !tc.tamper; verified && got == "" || !verified && got != "" {
				t.Fatalf("X-User-Id %q (the session verified: %v)", got, verified)
			}
			if tc.status != http.StatusOK {
				return
			}
			var out struct {
				Tenant struct {
					Slug string `json:"slug"`
				} `json:"tenant"`
				Role string `json:"role"`
			}
			r.decode(t, &out)
			if out.Tenant.Slug != tc.to || out.Role != tc.role {
				t.Fatalf("switched to %s as %s, want %s as %s", out.Tenant.Slug, out.Role, tc.to, tc.role)
			}
			// The session now works in the tenant switched to.
			r = c.onHost("").do("GET", "/api/auth/session", nil)
			mustStatus(t, r, http.StatusOK)
			r.decode(t, &out)
			if out.Tenant.Slug != tc.to {
				t.Fatalf("session in %s after the switch, want %s", out.Tenant.Slug, tc.to)
			}
		})
	}
}
