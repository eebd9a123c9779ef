package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/auth"
	"tenantd/internal/store"
	"tenantd/internal/tenancy"
)

const defaultEventTimeout = 3 * time.Second

// loggedOut documents the logout routes' answer: no body, only the cookies cleared.
var loggedOut = map[int]string{http.StatusNoContent: "Signed out; both cookies cleared"}

func (s *Server) authRoutes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/api/auth/register", Kind: KindPublic, Summary: "Register as a client of the host's tenant (at the apex: the tenant named in the body)", Handler: s.register,
			Responses: map[int]string{http.StatusCreated: "Registered: the new user, the tenant and the role"}},
		{Method: "POST", Pattern: "/api/auth/login", Kind: KindPublic, Summary: "Sign in; sets the session cookie and tenant_sig", Handler: s.login},
		{Method: "POST", Pattern: "/api/auth/logout", Kind: KindPublic, Summary: "Revoke the session and clear both cookies", Handler: s.logout, Responses: loggedOut},
		{Method: "POST", Pattern: "/api/admin/auth/logout", Kind: KindPublic, Summary: "Alias of /api/auth/logout", Handler: s.logout, Responses: loggedOut},
		{Method: "GET", Pattern: "/api/auth/session", Kind: KindTenant, Permission: auth.PermSession, Summary: "The caller's user, tenant, role, permissions and memberships", Handler: s.session},
		{Method: "POST", Pattern: "/api/tenant/switch", Kind: KindTenant, Permission: auth.PermSession, Summary: "Switch the session's active tenant (also out of one that is suspended or where the membership ended)", Handler: s.switchTenant,
			Leave: s.leaveTenant},
		{Method: "GET", Pattern: "/api/admin/api-tokens", Kind: KindTenant, Permission: auth.PermTokensManage, Summary: "List API tokens (your own, and those of members whose role is not above yours)", Handler: s.listTokens},
		{Method: "POST", Pattern: "/api/admin/api-tokens", Kind: KindTenant, Permission: auth.PermTokensManage, Creates: true,
			Summary: "Create an API token (signed-in session only; the secret is shown once: an Idempotency-Key replay answers with \"token\": null)", Handler: s.createToken,
			ReplayBody: redactTokenSecret},
		{Method: "DELETE", Pattern: "/api/admin/api-tokens/{id}", Kind: KindTenant, Permission: auth.PermTokensManage, Summary: "Revoke an API token (signed-in session only; your own, or a member's whose role is not above yours)", Handler: s.revokeToken},
	}
}

type userView struct {
	ID    uuid.UUID `json:"id"`
	Email string    `json:"email"`
	Name  string    `json:"name"`
}

type tenantView struct {
	ID   uuid.UUID `json:"id"`
	Slug string    `json:"slug"`
	Name string    `json:"name"`
}

type sessionView struct {
	User        userView           `json:"user"`
	Tenant      tenantView         `json:"tenant"`
	Role        string             `json:"role"`
	Permissions []auth.Permission  `json:"permissions"`
	Memberships []store.Membership `json:"memberships"`
}

func sessionBody(u store.User, t tenantView, role string, ms []store.Membership) sessionView {
	if ms == nil {
		ms = []store.Membership{}
	}
	return sessionView{User: userView{ID: u.ID, Email: u.Email, Name: u.Name}, Tenant: t, Role: role,
		Permissions: auth.Role(role).Permissions(), Memberships: ms}
}

var errBadCredentials = problem(http.StatusUnauthorized, CodeUnauthenticated, "Invalid email or password.")

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Tenant   string `json:"tenant"`
}

// login authenticates and starts a session in one tenant: the host's, else the one named in
// the body, else the user's default.
func (s *Server) login(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
	var in loginRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	in.Email = strings.TrimSpace(in.Email)
	if in.Email == "" || in.Password == "" {
		return errValidation("email and password are required.")
	}
	if ok, wait := s.loginByIP.Allow(clientIP(r)); !ok {
		return &apiError{status: http.StatusTooManyRequests, code: CodeRateLimited, detail: "Too many sign-in attempts; try again later.", retryAfter: wait}
	}
	if ok, wait := s.loginByEmail.Allow(strings.ToLower(in.Email)); !ok {
		return &apiError{status: http.StatusTooManyRequests, code: CodeRateLimited, detail: "Too many sign-in attempts; try again later.", retryAfter: wait}
	}
	ctx := r.Context()
	host := tenancy.ParseHost(r.Host, s.cfg.BaseDomain)
	var hostTenant *store.Tenant
	if !host.Apex {
		t, err := s.store.ResolveHost(ctx, host.Slug, host.Domain)
		if errors.Is(err, store.ErrNotFound) {
			return store.Deny(store.DenyHostUnknown)
		} else if err != nil {
			return err
		}
		hostTenant = &t
	}
	u, err := s.store.UserByEmail(ctx, in.Email)
	if errors.Is(err, store.ErrNotFound) {
		_ = auth.VerifyPassword(ctx, in.Password, "")
		return errBadCredentials
	} else if err != nil {
		return err
	}
	if err := auth.VerifyPassword(ctx, in.Password, u.PasswordHash); err != nil {
		if errors.Is(err, auth.ErrPasswordMismatch) {
			return errBadCredentials
		}
		return err
	}
	ms, err := s.store.MembershipsOf(ctx, u.ID)
	if err != nil {
		return err
	}
	m, err := chooseMembership(ms, hostTenant, in.Tenant, u.DefaultTenantID)
	if err != nil {
		return err
	}
	return s.startSession(w, r, u, m, ms)
}

// chooseMembership picks the tenant of a new session and checks that it may be entered.
func chooseMembership(ms []store.Membership, host *store.Tenant, named string, def *uuid.UUID) (store.Membership, error) {
	find := func(match func(store.Membership) bool) (store.Membership, bool) {
		for _, m := range ms {
			if match(m) {
				return m, true
			}
		}
		return store.Membership{}, false
	}
	var m store.Membership
	var ok bool
	switch {
	case host != nil:
		m, ok = find(func(m store.Membership) bool { return m.TenantID == host.ID })
	case named != "":
		named = strings.ToLower(strings.TrimSpace(named))
		m, ok = find(func(m store.Membership) bool { return m.TenantSlug == named || m.TenantID.String() == named })
	default:
		if def != nil {
			m, ok = find(func(m store.Membership) bool {
				return m.TenantID == *def && m.Status == "active" && m.TenantStatus == "active"
			})
		}
		if !ok {
			m, ok = find(func(m store.Membership) bool { return m.Status == "active" && m.TenantStatus == "active" })
		}
		if !ok {
			m, ok = find(func(m store.Membership) bool { return m.Status == "active" })
		}
	}
	if !ok || m.Status != "active" {
		return m, store.Deny(store.DenyNotMember)
	}
	if m.TenantStatus != "active" {
		return m, store.Deny(store.DenySuspended)
	}
	return m, nil
}

// startSession creates the session, sets both cookies and answers with the session view.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u store.User, m store.Membership, ms []store.Membership) error {
	token, hash := auth.NewSessionToken()
	now := s.now()
	expires := now.Add(s.cfg.SessionTTL)
	sid, err := s.store.CreateSession(r.Context(), u.ID, m.TenantID, hash, expires)
	if err != nil {
		return err
	}
	s.setCookie(w, sessionCookie, token, int(s.cfg.SessionTTL.Seconds()))
	s.issueSignature(w, u.ID, sid, m.TenantID, expires)
	w.Header().Set("X-User-Id", u.ID.String())
	return writeJSON(w, http.StatusOK, sessionBody(u, tenantView{ID: m.TenantID, Slug: m.TenantSlug, Name: m.TenantName}, m.Role, ms))
}

// issueSignature sets tenant_sig for (user, session, tenant); it never outlives the session.
func (s *Server) issueSignature(w http.ResponseWriter, user, session, tenant uuid.UUID, expires time.Time) {
	now := s.now()
	v := s.cfg.Keyring.Sign(tenancy.Claims{TenantID: tenant, UserID: user, SessionID: session, IssuedAt: now.Unix(), ExpiresAt: expires.Unix()})
	s.setCookie(w, sigCookie, v, int(expires.Sub(now).Seconds()))
}

// logout revokes the session named by the cookie, whatever state its tenant_sig is in, and
// clears both cookies.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if err := s.store.RevokeSession(r.Context(), auth.HashToken(c.Value)); err != nil {
			return err
		}
	}
	s.clearCookie(w, sessionCookie)
	s.clearCookie(w, sigCookie)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) session(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	a, err := sc.Verify(r.Context())
	if err != nil {
		return err
	}
	u, err := s.store.UserByID(r.Context(), a.UserID)
	if err != nil {
		return err
	}
	ms, err := s.store.MembershipsOf(r.Context(), a.UserID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sessionBody(u, tenantView{ID: a.TenantID, Slug: a.TenantSlug, Name: a.TenantName}, a.Role, ms))
}

type switchRequest struct {
	Tenant string `json:"tenant"`
}

// switchTenant moves the session to another tenant where the user has an active membership;
// role and permissions become that membership's.
func (s *Server) switchTenant(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	a := sc.Verified()
	if a.SessionID == uuid.Nil {
		return errForbidden("An API token is bound to its tenant and cannot switch.")
	}
	// The source tenant learns that the session left, never where to: no id, slug or name of
	// the destination (which may be a tenant its admins must not learn of).
	return s.moveSession(w, r, a.UserID, a.SessionID, func(ctx context.Context) error {
		return sc.AuditEvent(ctx, "session.switch_out", "session", "", nil)
	})
}

// leaveTenant is the switch for a session whose current tenant no longer admits it (the
// tenant is suspended, or the membership there ended): the session and its tenant_sig have
// verified, only the tenant refused them, so the user may still move the session to another
// tenant where they are an active member. Nothing of the tenant left is read or written.
func (s *Server) leaveTenant(w http.ResponseWriter, r *http.Request, user, session uuid.UUID) error {
	return s.moveSession(w, r, user, session, nil)
}

// moveSession moves the verified session to the tenant the body names, where user must be an
// active member of an active tenant, and answers with the session in its new tenant. left, if
// not nil, records the departure in the tenant left.
func (s *Server) moveSession(w http.ResponseWriter, r *http.Request, user, session uuid.UUID, left func(context.Context) error) error {
	var in switchRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Tenant) == "" {
		return errField("tenant", "is required")
	}
	ctx := r.Context()
	ms, err := s.store.MembershipsOf(ctx, user)
	if err != nil {
		return err
	}
	m, err := chooseMembership(ms, nil, in.Tenant, nil)
	if err != nil {
		return err
	}
	expires, err := s.store.SwitchSession(ctx, session, user, m.TenantID)
	if err != nil {
		return err
	}
	u, err := s.store.UserByID(ctx, user)
	if err != nil {
		return err
	}
	if left != nil {
		if err := left(ctx); err != nil {
			return err
		}
	}
	// The new signature never outlives the session it is bound to.
	s.issueSignature(w, user, session, m.TenantID, expires)
	return writeJSON(w, http.StatusOK, sessionBody(u, tenantView{ID: m.TenantID, Slug: m.TenantSlug, Name: m.TenantName}, m.Role, ms))
}

type registerRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
	Tenant   string `json:"tenant"`
}

// register signs a new client up with the tenant of the host (at the apex: the tenant named by
// slug in the body), when the tenant allows self-registration.
func (s *Server) register(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
	var in registerRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	var f fields
	in.Email = strings.TrimSpace(in.Email)
	if a, err := mail.ParseAddress(in.Email); err != nil || a.Address != in.Email || charCount(in.Email) > 320 {
		f.add("email", "must be a valid email address (at most 320 characters)")
	}
	if n := charCount(in.Password); n < 10 || n > 200 {
		f.add("password", "must be 10 to 200 characters")
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || charCount(in.Name) > 200 {
		f.add("name", "is required (at most 200 characters)")
	}
	if err := f.err(); err != nil {
		return err
	}
	// Registration spends an argon2 hash and says whether an email already has an account (emails
	// are unique across tenants): it draws on the same per-IP and per-email budgets as login, so
	// that neither can be had in bulk.
	if ok, wait := s.loginByIP.Allow(clientIP(r)); !ok {
		return &apiError{status: http.StatusTooManyRequests, code: CodeRateLimited, detail: "Too many attempts; try again later.", retryAfter: wait}
	}
	if ok, wait := s.loginByEmail.Allow(strings.ToLower(in.Email)); !ok {
		return &apiError{status: http.StatusTooManyRequests, code: CodeRateLimited, detail: "Too many attempts; try again later.", retryAfter: wait}
	}
	ctx := r.Context()
	host := tenancy.ParseHost(r.Host, s.cfg.BaseDomain)
	var t store.Tenant
	var err error
	if !host.Apex {
		t, err = s.store.ResolveHost(ctx, host.Slug, host.Domain)
	} else if in.Tenant != "" && tenancy.SlugPattern.MatchString(in.Tenant) {
		t, err = s.store.TenantByRef(ctx, in.Tenant)
	} else {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.Deny(store.DenyHostUnknown)
	} else if err != nil {
		return err
	}
	if t.Status != "active" {
		return store.Deny(store.DenySuspended)
	}
	hash, err := auth.HashPassword(ctx, in.Password)
	if err != nil {
		return err
	}
	u, err := s.store.RegisterClient(ctx, t, in.Email, in.Name, hash)
	if errors.Is(err, store.ErrRegistrationClosed) {
		return errForbidden("This tenant does not allow self-registration.")
	}
	var ce *store.ConflictError
	if errors.As(err, &ce) {
		return errConflict("An account with this email already exists; sign in instead.")
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{
		"user": userView{ID: u.ID, Email: u.Email, Name: u.Name}, "tenant": tenantView{ID: t.ID, Slug: t.Slug, Name: t.Name}, "role": auth.RoleClient,
	})
}
