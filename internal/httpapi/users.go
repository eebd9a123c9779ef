package httpapi

// Users and permissions: the tenant's members with their roles, and the permission catalog.
// A membership change applies to that user's very next request, because the tenant wrapper
// reads the caller's membership from the database on every request.

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"

	"tenantd/internal/auth"
	"tenantd/internal/store"
)

func (s *Server) userRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/admin/users", Kind: KindTenant, Permission: auth.PermUsersRead, Summary: "Members of this tenant with their role and status", Handler: s.listUsers},
		{Method: "PATCH", Pattern: "/api/admin/users/{id}", Kind: KindTenant, Permission: auth.PermUsersManage, Summary: "Change a member's role, or revoke or restore their membership", Handler: s.patchUser},
		{Method: "GET", Pattern: "/api/admin/permissions", Kind: KindTenant, Permission: auth.PermPermissionsRead, Summary: "The permission catalog", Handler: s.listPermissions},
		{Method: "GET", Pattern: "/api/admin/permissions/roles", Kind: KindTenant, Permission: auth.PermPermissionsRead, Summary: "Which role holds which permissions", Handler: s.rolePermissions},
		{Method: "GET", Pattern: "/api/admin/permissions/{userId}", Kind: KindTenant, Permission: auth.PermPermissionsRead, Summary: "A member's effective permissions in this tenant", Handler: s.userPermissions},
	}
}

var reqMemberStatuses = []string{"active", "revoked"}

func reqRoleNames() []string {
	out := make([]string, len(auth.Roles))
	for i, r := range auth.Roles {
		out[i] = string(r)
	}
	return out
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	var f store.TenantMemberFilter
	if f.Role, err = reqQueryEnum(r, "role", reqRoleNames()); err != nil {
		return err
	}
	if f.Status, err = reqQueryEnum(r, "status", reqMemberStatuses); err != nil {
		return err
	}
	items, err := sc.ListTenantMembers(r.Context(), f, p)
	if err != nil {
		return err
	}
	return writeList(w, items, p, func(v store.TenantMember) uuid.UUID { return v.ID })
}

type reqUserBody struct {
	Role   *string `json:"role"`
	Status *string `json:"status"`
}

// patchUser changes a member's role or status. The rules: nobody changes their own membership
// (no accidental self-lockout, no self-promotion); a caller may neither touch a member whose
// role is above their own nor grant a role above their own (so an ADMIN cannot make or change
// an OWNER); and the tenant's last active OWNER can be neither demoted nor revoked.
//
// Every rule is decided on the membership as it is now: the row is locked before it is read,
// so a concurrent change (a revocation, a promotion to owner) has either committed and is
// seen, or waits for this one. What is written is what was sent, with the rest of the locked
// row unchanged, so a role change never undoes a revocation that has answered 200.
func (s *Server) patchUser(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	ctx := r.Context()
	a := sc.Verified()
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b reqUserBody
	if err := decode(r, &b); err != nil {
		return err
	}
	mine := auth.Role(a.Role)
	// Only a caller who may change an owner's membership can reach the last-owner rule, and
	// only then are the owners' memberships locked: first, together with the member's, in
	// user_id order (LockActiveOwners says why).
	var owners []uuid.UUID
	ownersLocked := auth.RoleOwner.AtMost(mine)
	if ownersLocked {
		if owners, err = sc.LockActiveOwners(ctx, id); err != nil {
			return err
		}
	}
	cur, err := sc.LockTenantMember(ctx, id)
	if err != nil {
		return err
	}
	var f fields
	role, status := auth.Role(cur.Role), cur.Status
	if b.Role != nil {
		role = auth.Role(*b.Role)
		if !role.Valid() {
			f.add("role", "must be one of "+strings.Join(reqRoleNames(), ", "))
		}
	}
	if b.Status != nil {
		status = *b.Status
		if !slices.Contains(reqMemberStatuses, status) {
			f.add("status", "must be active or revoked")
		}
	}
	if b.Role == nil && b.Status == nil {
		return errValidation("Nothing to change: send role or status.")
	}
	if err := f.err(); err != nil {
		return err
	}
	if id == a.UserID {
		return errForbidden("You cannot change your own role or status.")
	}
	if !auth.Role(cur.Role).AtMost(mine) {
		return errForbidden("This member's role is above your own; you cannot change their membership.")
	}
	if !role.AtMost(mine) {
		return errForbidden("You cannot grant a role above your own.")
	}
	if string(role) == cur.Role && status == cur.Status {
		return writeJSON(w, http.StatusOK, cur)
	}
	if cur.Role == string(auth.RoleOwner) && cur.Status == "active" && (role != auth.RoleOwner || status != "active") {
		if !ownersLocked {
			// Unreachable: the rank rule above refuses an owner to a caller below OWNER.
			return errors.New("httpapi: last-owner rule without the owners' lock")
		}
		if !slices.ContainsFunc(owners, func(o uuid.UUID) bool { return o != id }) {
			return errConflict("This is the tenant's last active owner; make another member owner first.")
		}
	}
	v, err := sc.UpdateTenantMember(ctx, id, string(role), status)
	if err != nil {
		return err
	}
	if err := sc.AuditEvent(ctx, "member.update", "user", id.String(), map[string]any{
		"role_from": cur.Role, "role_to": v.Role, "status_from": cur.Status, "status_to": v.Status}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) listPermissions(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	if _, err := sc.Verify(r.Context()); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"permissions": auth.AllPermissions()})
}

// reqRolePermissions is one row of the role matrix.
type reqRolePermissions struct {
	Role        auth.Role         `json:"role"`
	Permissions []auth.Permission `json:"permissions"`
}

// rolePermissions lists every role, most powerful first, with its permissions.
func (s *Server) rolePermissions(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	if _, err := sc.Verify(r.Context()); err != nil {
		return err
	}
	out := make([]reqRolePermissions, 0, len(auth.Roles))
	for _, role := range auth.Roles {
		out = append(out, reqRolePermissions{Role: role, Permissions: role.Permissions()})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"roles": out})
}

// userPermissions is what a member of this tenant may do here: their role's permissions, or
// none while their membership is revoked. A user who is not a member of this tenant is 404.
// The answer names the member's role and status, which is the member directory's business
// (GET /api/admin/users, users.read): a caller without users.read (STAFF, who hold
// permissions.read for the catalog and the role matrix) may ask only about themselves, and any
// other id is the same 404 as a non-member, so the route is no membership oracle. The member
// is read in the same round trip as the caller's verification, whoever the caller is, so the
// refusal costs the same work as a real miss.
func (s *Server) userPermissions(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "userId")
	if err != nil {
		return err
	}
	m, err := sc.GetTenantMember(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound()
	}
	if err != nil {
		return err
	}
	a, err := sc.Verify(r.Context())
	if err != nil {
		return err
	}
	if id != a.UserID && !auth.Role(a.Role).Allows(auth.PermUsersRead) {
		return errNotFound()
	}
	perms := []auth.Permission{}
	if m.Status == "active" {
		perms = auth.Role(m.Role).Permissions()
	}
	return writeJSON(w, http.StatusOK, map[string]any{"user_id": m.ID, "role": m.Role, "status": m.Status, "permissions": perms})
}
