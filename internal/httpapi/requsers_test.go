package httpapi_test

import (
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"

	"tenantd/internal/auth"
	"tenantd/internal/store"
)

// reqMember returns the tenant member with this user id, as c's users list shows it.
func reqMember(t *testing.T, c *client, id uuid.UUID) store.TenantMember {
	t.Helper()
	for _, m := range reqList[store.TenantMember](t, c, "/api/admin/users?limit=200") {
		if m.ID == id {
			return m
		}
	}
	t.Fatalf("user %s is not listed", id)
	return store.TenantMember{}
}

func reqPatchUser(c *client, id uuid.UUID, body any) *resp {
	return c.do("PATCH", "/api/admin/users/"+id.String(), body)
}

func TestReqUsers(t *testing.T) {
	e := newEnv(t)
	acme := e.demo.Acme
	owner := e.login("owner@acme.test", "")
	admin := e.login("consultant@demo.test", "acme")
	staff := e.login("staff@acme.test", "")
	client := e.login("client@acme.test", "")
	globex := e.login("owner@globex.test", "")

	t.Run("list", func(t *testing.T) {
		all := reqList[store.TenantMember](t, admin, "/api/admin/users")
		roles := map[uuid.UUID]string{}
		for _, m := range all {
			roles[m.ID] = m.Role
			if m.Status != "active" || m.Email == "" {
				t.Fatalf("member %+v", m)
			}
		}
		for id, role := range map[uuid.UUID]string{acme.Owner: "OWNER", acme.Staff: "STAFF", acme.Client: "CLIENT", acme.Client2: "CLIENT", e.demo.Consultant: "ADMIN"} {
			if roles[id] != role {
				t.Fatalf("user %s listed with role %q, want %s", id, roles[id], role)
			}
		}
		if _, ok := roles[e.demo.Globex.Owner]; ok {
			t.Fatal("globex's owner listed in acme")
		}
		clients := reqList[store.TenantMember](t, owner, "/api/admin/users?role=CLIENT")
		if len(clients) != 2 {
			t.Fatalf("role=CLIENT lists %d", len(clients))
		}
		if m := reqMember(t, owner, acme.Staff); m.TeamMemberID == nil {
			t.Fatalf("staff has no team member link: %+v", m)
		}
		reqInvalid(t, owner.do("GET", "/api/admin/users?role=ROOT", nil), "role")
		reqInvalid(t, owner.do("GET", "/api/admin/users?status=gone", nil), "status")
		mustStatus(t, staff.do("GET", "/api/admin/users", nil), http.StatusForbidden, "forbidden")
		mustStatus(t, client.do("GET", "/api/admin/users", nil), http.StatusForbidden, "forbidden")
	})

	t.Run("validation", func(t *testing.T) {
		reqInvalid(t, reqPatchUser(owner, acme.Client2, map[string]any{}))
		reqInvalid(t, reqPatchUser(owner, acme.Client2, map[string]any{"role": "ROOT"}), "role")
		reqInvalid(t, reqPatchUser(owner, acme.Client2, map[string]any{"status": "suspended"}), "status")
		reqInvalid(t, reqPatchUser(owner, acme.Client2, map[string]any{"email": "x@y.test"}), "email")
		mustStatus(t, reqPatchUser(owner, uuid.New(), map[string]any{"role": "STAFF"}), http.StatusNotFound, "not_found")
		mustStatus(t, reqPatchUser(staff, acme.Client2, map[string]any{"role": "STAFF"}), http.StatusForbidden, "forbidden")
	})

	t.Run("nobody changes themselves", func(t *testing.T) {
		mustStatus(t, reqPatchUser(owner, acme.Owner, map[string]any{"role": "ADMIN"}), http.StatusForbidden, "forbidden")
		mustStatus(t, reqPatchUser(admin, e.demo.Consultant, map[string]any{"role": "OWNER"}), http.StatusForbidden, "forbidden")
		mustStatus(t, reqPatchUser(admin, e.demo.Consultant, map[string]any{"status": "revoked"}), http.StatusForbidden, "forbidden")
	})

	t.Run("an admin cannot grant or change OWNER", func(t *testing.T) {
		mustStatus(t, reqPatchUser(admin, acme.Client2, map[string]any{"role": "OWNER"}), http.StatusForbidden, "forbidden")
		mustStatus(t, reqPatchUser(admin, acme.Owner, map[string]any{"role": "STAFF"}), http.StatusForbidden, "forbidden")
		mustStatus(t, reqPatchUser(admin, acme.Owner, map[string]any{"status": "revoked"}), http.StatusForbidden, "forbidden")
		if m := reqMember(t, owner, acme.Owner); m.Role != "OWNER" || m.Status != "active" {
			t.Fatalf("owner changed: %+v", m)
		}
		r := reqPatchUser(admin, acme.Client2, map[string]any{"role": "TEAM_LEAD"})
		mustStatus(t, r, http.StatusOK)
		var m store.TenantMember
		r.decode(t, &m)
		if m.ID != acme.Client2 || m.Role != "TEAM_LEAD" {
			t.Fatalf("promoted %+v", m)
		}
		mustStatus(t, reqPatchUser(admin, acme.Client2, map[string]any{"role": "CLIENT"}), http.StatusOK)
	})

	t.Run("owners", func(t *testing.T) {
		// An owner may make another owner; then each may demote the other while another
		// active owner remains.
		mustStatus(t, reqPatchUser(owner, acme.Staff, map[string]any{"role": "OWNER"}), http.StatusOK)
		mustStatus(t, reqPatchUser(staff, acme.Owner, map[string]any{"role": "ADMIN"}), http.StatusOK)
		mustStatus(t, reqPatchUser(owner, acme.Staff, map[string]any{"role": "STAFF"}), http.StatusForbidden, "forbidden")
		mustStatus(t, reqPatchUser(staff, acme.Owner, map[string]any{"role": "OWNER"}), http.StatusOK)
		mustStatus(t, reqPatchUser(owner, acme.Staff, map[string]any{"role": "STAFF"}), http.StatusOK)
		// Setting what is already set changes nothing and is allowed.
		mustStatus(t, reqPatchUser(owner, acme.Staff, map[string]any{"role": "STAFF", "status": "active"}), http.StatusOK)
	})

	t.Run("cross tenant", func(t *testing.T) {
		for _, body := range []any{map[string]any{}, map[string]any{"status": "revoked"}, map[string]any{"role": "CLIENT"}} {
			got := reqPatchUser(owner, e.demo.Globex.Owner, body)
			want := reqPatchUser(owner, uuid.New(), body)
			mustStatus(t, got, http.StatusNotFound, "not_found")
			if reqNoRequestID(got.Body) != reqNoRequestID(want.Body) {
				t.Fatalf("foreign %s differs from missing %s", got.Body, want.Body)
			}
		}
		if m := reqMember(t, globex, e.demo.Globex.Owner); m.Role != "OWNER" || m.Status != "active" {
			t.Fatalf("globex owner changed: %+v", m)
		}
		// A user in both tenants is changed only in the tenant that changes them.
		mustStatus(t, reqPatchUser(owner, e.demo.Consultant, map[string]any{"role": "STAFF"}), http.StatusOK)
		if m := reqMember(t, globex, e.demo.Consultant); m.Role != "CLIENT" {
			t.Fatalf("consultant's globex role became %s", m.Role)
		}
	})
}

// A membership change applies to that user's very next request, on the session they already
// hold: the wrapper reads the membership from the database every time.
func TestReqUserChangesApplyAtOnce(t *testing.T) {
	e := newEnv(t)
	acme := e.demo.Acme
	owner := e.login("owner@acme.test", "")
	staff := e.login("staff@acme.test", "")
	mustStatus(t, staff.do("GET", "/api/admin/work-orders", nil), http.StatusOK)

	mustStatus(t, reqPatchUser(owner, acme.Staff, map[string]any{"role": "CLIENT"}), http.StatusOK)
	mustStatus(t, staff.do("GET", "/api/admin/work-orders", nil), http.StatusForbidden, "forbidden")
	mustStatus(t, staff.do("POST", "/api/admin/work-orders", map[string]any{"code": "LATE-1", "title": "x"}), http.StatusForbidden, "forbidden")
	mustStatus(t, staff.do("GET", "/api/portal/service-requests", nil), http.StatusOK)

	mustStatus(t, reqPatchUser(owner, acme.Staff, map[string]any{"status": "revoked"}), http.StatusOK)
	mustStatus(t, staff.do("GET", "/api/portal/service-requests", nil), http.StatusForbidden, "not_a_member")
	mustStatus(t, staff.do("GET", "/api/admin/work-orders", nil), http.StatusForbidden, "not_a_member")
	r := owner.do("GET", "/api/admin/permissions/"+acme.Staff.String(), nil)
	mustStatus(t, r, http.StatusOK)
	var eff struct {
		Status      string   `json:"status"`
		Permissions []string `json:"permissions"`
	}
	r.decode(t, &eff)
	if eff.Status != "revoked" || len(eff.Permissions) != 0 {
		t.Fatalf("revoked member's permissions %+v", eff)
	}

	mustStatus(t, reqPatchUser(owner, acme.Staff, map[string]any{"status": "active", "role": "STAFF"}), http.StatusOK)
	mustStatus(t, staff.do("GET", "/api/admin/work-orders", nil), http.StatusOK)
}

// Two owners demoting each other at the same time cannot leave the tenant without an owner:
// the last active owner is never demoted (409), whatever the interleaving.
func TestReqLastOwnerSurvivesARace(t *testing.T) {
	e := newEnv(t)
	acme := e.demo.Acme
	owner := e.login("owner@acme.test", "")
	staff := e.login("staff@acme.test", "")
	for round := range 5 {
		mustStatus(t, reqPatchUser(owner, acme.Staff, map[string]any{"role": "OWNER"}), http.StatusOK)
		var wg sync.WaitGroup
		results := make([]*resp, 2)
		for i, call := range []func() *resp{
			func() *resp { return reqPatchUser(owner, acme.Staff, map[string]any{"role": "ADMIN"}) },
			func() *resp { return reqPatchUser(staff, acme.Owner, map[string]any{"role": "ADMIN"}) },
		} {
			wg.Go(func() { results[i] = call() })
		}
		wg.Wait()
		ok := 0
		for _, r := range results {
			switch {
			case r.Status == http.StatusOK:
				ok++
			case r.Status == http.StatusConflict && r.code() == "conflict", r.Status == http.StatusForbidden && r.code() == "forbidden":
			default:
				t.Fatalf("round %d: unexpected %d %s", round, r.Status, r.Body)
			}
		}
		owners := reqList[store.TenantMember](t, e.login("consultant@demo.test", "acme"), "/api/admin/users?role=OWNER&status=active")
		if ok != 1 || len(owners) != 1 {
			t.Fatalf("round %d: %d demotions succeeded, %d active owners left", round, ok, len(owners))
		}
		// Restore: the remaining owner makes the other owner again, then demotes them to staff.
		if owners[0].ID == acme.Owner {
			mustStatus(t, reqPatchUser(owner, acme.Staff, map[string]any{"role": "STAFF"}), http.StatusOK)
		} else {
			mustStatus(t, reqPatchUser(staff, acme.Owner, map[string]any{"role": "OWNER"}), http.StatusOK)
			mustStatus(t, reqPatchUser(owner, acme.Staff, map[string]any{"role": "STAFF"}), http.StatusOK)
		}
	}
}

func TestReqPermissions(t *testing.T) {
	e := newEnv(t)
	acme := e.demo.Acme
	owner := e.login("owner@acme.test", "")
	staff := e.login("staff@acme.test", "")
	clientSess := e.login("client@acme.test", "")
	globex := e.login("owner@globex.test", "")

	t.Run("catalog", func(t *testing.T) {
		r := staff.do("GET", "/api/admin/permissions", nil)
		mustStatus(t, r, http.StatusOK)
		var out struct {
			Permissions []auth.Permission `json:"permissions"`
		}
		r.decode(t, &out)
		if !slices.Equal(out.Permissions, auth.AllPermissions()) {
			t.Fatalf("catalog %v", out.Permissions)
		}
		mustStatus(t, clientSess.do("GET", "/api/admin/permissions", nil), http.StatusForbidden, "forbidden")
	})

	t.Run("roles", func(t *testing.T) {
		r := staff.do("GET", "/api/admin/permissions/roles", nil)
		mustStatus(t, r, http.StatusOK)
		var out struct {
			Roles []struct {
				Role        auth.Role         `json:"role"`
				Permissions []auth.Permission `json:"permissions"`
			} `json:"roles"`
		}
		r.decode(t, &out)
		if len(out.Roles) != len(auth.Roles) || out.Roles[0].Role != auth.RoleOwner {
			t.Fatalf("roles %+v", out.Roles)
		}
		for _, row := range out.Roles {
			if !slices.Equal(row.Permissions, row.Role.Permissions()) {
				t.Fatalf("%s: %v", row.Role, row.Permissions)
			}
		}
	})

	t.Run("effective", func(t *testing.T) {
		for _, tc := range []struct {
			c    *client
			user uuid.UUID
			role auth.Role
		}{
			{owner, acme.Staff, auth.RoleStaff},
			{staff, acme.Staff, auth.RoleStaff}, // without users.read: only oneself (TestRoleRules)
			{owner, acme.Client, auth.RoleClient},
			{owner, e.demo.Consultant, auth.RoleAdmin},
			{globex, e.demo.Consultant, auth.RoleClient}, // the same user, another tenant's role
		} {
			r := tc.c.do("GET", "/api/admin/permissions/"+tc.user.String(), nil)
			mustStatus(t, r, http.StatusOK)
			var out struct {
				UserID      uuid.UUID         `json:"user_id"`
				Role        auth.Role         `json:"role"`
				Permissions []auth.Permission `json:"permissions"`
			}
			r.decode(t, &out)
			if out.UserID != tc.user || out.Role != tc.role || !slices.Equal(out.Permissions, tc.role.Permissions()) {
				t.Fatalf("effective permissions %+v, want %s", out, tc.role)
			}
		}
		got := owner.do("GET", "/api/admin/permissions/"+e.demo.Globex.Owner.String(), nil)
		want := owner.do("GET", "/api/admin/permissions/"+uuid.NewString(), nil)
		mustStatus(t, got, http.StatusNotFound, "not_found")
		if reqNoRequestID(got.Body) != reqNoRequestID(want.Body) {
			t.Fatalf("foreign %s differs from missing %s", got.Body, want.Body)
		}
		mustStatus(t, owner.do("GET", "/api/admin/permissions/nobody", nil), http.StatusNotFound, "not_found")
	})
}
