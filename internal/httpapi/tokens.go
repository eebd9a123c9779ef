package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/auth"
	"tenantd/internal/store"
)

// tokenOwnerFilter limits token management to the caller's own tokens unless their role may
// manage users.
func tokenOwnerFilter(a *store.Access) *uuid.UUID {
	if auth.Role(a.Role).Allows(auth.PermUsersManage) {
		return nil
	}
	return &a.UserID
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	a, err := sc.Verify(r.Context())
	if err != nil {
		return err
	}
	items, err := sc.ListAPITokens(r.Context(), tokenOwnerFilter(a), p)
	if err != nil {
		return err
	}
	return writeList(w, items, p, func(t store.APIToken) uuid.UUID { return t.ID })
}

type createTokenRequest struct {
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// createToken issues a bearer token bound to this tenant with a role no higher than the
// caller's. The secret is in this one response only.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	a := sc.Verified()
	var in createTokenRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	var f fields
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 100 {
		f.add("name", "is required (at most 100 characters)")
	}
	role := auth.Role(a.Role)
	if in.Role != "" {
		role = auth.Role(in.Role)
		if !role.Valid() {
			f.add("role", "must be one of OWNER, ADMIN, TEAM_LEAD, STAFF, CLIENT")
		} else if !role.AtMost(auth.Role(a.Role)) {
			f.add("role", "may not exceed your own role")
		}
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(s.now()) {
		f.add("expires_at", "must be in the future")
	}
	if err := f.err(); err != nil {
		return err
	}
	tok, hash, prefix := auth.NewAPIToken(a.TenantID)
	t, err := sc.CreateAPIToken(r.Context(), a.UserID, in.Name, string(role), hash, prefix, in.ExpiresAt)
	if err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "api_token.create", "api_token", t.ID.String(), map[string]any{"role": role}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"token": tok, "api_token": t})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := sc.RevokeAPIToken(r.Context(), id, tokenOwnerFilter(sc.Verified())); err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "api_token.revoke", "api_token", id.String(), nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
