package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/auth"
	"tenantd/internal/store"
)

// tokenOwners is whose tokens the caller may list and revoke: always their own, and with
// users.manage also those of every member whose role is not above their own — the rule
// patchUser applies to memberships, so an ADMIN can neither see nor revoke an OWNER's tokens.
func tokenOwners(a *store.Access) store.TokenOwners {
	o := store.TokenOwners{Self: a.UserID}
	mine := auth.Role(a.Role)
	if !mine.Allows(auth.PermUsersManage) {
		return o
	}
	for _, r := range auth.Roles {
		if r.AtMost(mine) {
			o.Roles = append(o.Roles, string(r))
		}
	}
	return o
}

// errTokenCaller refuses token management to a caller that is itself an API token: a token
// could otherwise mint a never-expiring child that outlives its own revocation.
func errTokenCaller() error {
	return errForbidden("API tokens can only be created and revoked from a signed-in session, not with an API token.")
}

// redactTokenSecret is createToken's ReplayBody: the answer kept for an Idempotency-Key
// replay (and so stored in idempotency_keys and exported) without the secret.
func redactTokenSecret(body []byte) ([]byte, error) {
	var v map[string]json.RawMessage
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, err
	}
	if _, ok := v["token"]; !ok {
		return nil, errors.New("token response without a token field")
	}
	v["token"] = json.RawMessage("null")
	return json.Marshal(v)
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
	items, err := sc.ListAPITokens(r.Context(), tokenOwners(a), p)
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
// caller's and whose every permission the caller holds: rank alone would let STAFF mint a
// CLIENT token, and CLIENT holds client-only permissions (payments, own requests, invoices and
// chat) that STAFF lacks, so the token would reach client routes as the staff member. Only a
// signed-in session may do so. The secret is in this one response only: an
// Idempotency-Key replay answers with "token": null (see redactTokenSecret).
func (s *Server) createToken(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	a := sc.Verified()
	if a.TokenID != uuid.Nil {
		return errTokenCaller()
	}
	var in createTokenRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	var f fields
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || charCount(in.Name) > 100 {
		f.add("name", "is required (at most 100 characters)")
	}
	role := auth.Role(a.Role)
	if in.Role != "" {
		role = auth.Role(in.Role)
		if !role.Valid() {
			f.add("role", "must be one of OWNER, ADMIN, TEAM_LEAD, STAFF, CLIENT")
		} else if !role.AtMost(auth.Role(a.Role)) {
			f.add("role", "may not exceed your own role")
		} else if !role.PermissionsSubsetOf(auth.Role(a.Role)) {
			f.add("role", "grants permissions your own role does not hold")
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

// revokeToken revokes a token the caller may manage (see tokenOwners); any other id, in this
// tenant or not, is answered as missing. Only a signed-in session may revoke; an API token is
// refused once the id is known to be one it could see, so the 404 stays the same for all.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	a := sc.Verified()
	owners := tokenOwners(a)
	if a.TokenID != uuid.Nil {
		ok, err := sc.APITokenVisible(ctx, id, owners)
		if err != nil {
			return err
		}
		if !ok {
			return errNotFound()
		}
		return errTokenCaller()
	}
	if err := sc.RevokeAPIToken(ctx, id, owners); err != nil {
		return err
	}
	if err := sc.AuditEvent(ctx, "api_token.revoke", "api_token", id.String(), nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
