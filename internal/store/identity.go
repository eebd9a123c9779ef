package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// defaultCleanupTimeout bounds rollbacks run after the request's context is gone.
const defaultCleanupTimeout = 5 * time.Second

// Tenant is a row of the global tenants table.
type Tenant struct {
	ID                    uuid.UUID `json:"id"`
	Slug                  string    `json:"slug"`
	Name                  string    `json:"name"`
	Status                string    `json:"status"`
	PrimaryDomain         *string   `json:"primary_domain"`
	AllowSelfRegistration bool      `json:"allow_self_registration"`
	CreatedAt             time.Time `json:"created_at"`
	UpdatedAt             time.Time `json:"updated_at"`
}

const tenantColumns = `id, slug, name, status, primary_domain, allow_self_registration, created_at, updated_at`

func scanTenant(row pgx.Row) (Tenant, error) {
	var t Tenant
	err := row.Scan(&t.ID, &t.Slug, &t.Name, &t.Status, &t.PrimaryDomain, &t.AllowSelfRegistration, &t.CreatedAt, &t.UpdatedAt)
	return t, translate(err)
}

// ResolveHost finds the tenant a request host names: by slug, else by primary domain.
func (s *Store) ResolveHost(ctx context.Context, slug, domain string) (Tenant, error) {
	if slug == "" && domain == "" {
		return Tenant{}, ErrNotFound
	}
	return scanTenant(s.pool.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants
		WHERE ($1 <> '' AND slug = $1) OR ($2 <> '' AND primary_domain = $2)
		ORDER BY (slug = $1) DESC LIMIT 1`, slug, domain))
}

// TenantByRef finds a tenant by slug or id (the forms a client may name one by).
func (s *Store) TenantByRef(ctx context.Context, ref string) (Tenant, error) {
	if id, err := uuid.Parse(ref); err == nil {
		return scanTenant(s.pool.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1`, id))
	}
	return scanTenant(s.pool.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE slug = $1`, strings.ToLower(ref)))
}

// User is a row of the global users table.
type User struct {
	ID              uuid.UUID  `json:"id"`
	Email           string     `json:"email"`
	Name            string     `json:"name"`
	PasswordHash    string     `json:"-"`
	DefaultTenantID *uuid.UUID `json:"-"`
}

// UserByEmail finds a user by email, case-insensitively, through app.user_by_email: the
// users table's row level security would keep a direct query off the email index.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	var u User
	err := s.pool.QueryRow(ctx, `SELECT id, email, name, password_hash, default_tenant_id FROM app.user_by_email($1)`, email).
		Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.DefaultTenantID)
	return u, translate(err)
}

// UserByID finds a user by id.
func (s *Store) UserByID(ctx context.Context, id uuid.UUID) (User, error) {
	var u User
	err := s.pool.QueryRow(ctx, `SELECT id, email, name, password_hash, default_tenant_id FROM users WHERE id = $1`, id).
		Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.DefaultTenantID)
	return u, translate(err)
}

// Membership is one of a user's memberships, with its tenant.
type Membership struct {
	TenantID     uuid.UUID `json:"tenant_id"`
	TenantSlug   string    `json:"tenant_slug"`
	TenantName   string    `json:"tenant_name"`
	TenantStatus string    `json:"tenant_status"`
	Role         string    `json:"role"`
	Status       string    `json:"status"`
}

// MembershipsOf lists a user's own memberships in every tenant. It is the one read that crosses
// tenants on a user's behalf, and it can see nothing but that user's own rows: the query runs
// with app.user_id set and no tenant, so only the member_self_read policy admits rows.
func (s *Store) MembershipsOf(ctx context.Context, userID uuid.UUID) ([]Membership, error) {
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('app.tenant_id', '', true), set_config('app.user_id', $1, true)`, userID.String())
	b.Queue(`SELECT m.tenant_id, t.slug, t.name, t.status, m.role, m.status
		FROM memberships m JOIN tenants t ON t.id = m.tenant_id
		WHERE m.user_id = $1 ORDER BY t.slug`, userID)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Membership
	for rows.Next() {
		var m Membership
		if err := rows.Scan(&m.TenantID, &m.TenantSlug, &m.TenantName, &m.TenantStatus, &m.Role, &m.Status); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// CreateSession stores a new session (by its token's hash) with its active tenant.
func (s *Store) CreateSession(ctx context.Context, userID, tenantID uuid.UUID, tokenHash []byte, expires time.Time) (uuid.UUID, error) {
	id := NewID()
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (id, token_hash, user_id, active_tenant_id, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		id, tokenHash, userID, tenantID, expires)
	return id, translate(err)
}

// RevokeSession ends the session with this token hash for good.
func (s *Store) RevokeSession(ctx context.Context, tokenHash []byte) error {
	_, err := s.pool.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL`, tokenHash)
	return translate(err)
}

// SwitchSession moves a live session to another active tenant and returns when the session
// expires. The caller has checked the membership; the session must belong to userID.
func (s *Store) SwitchSession(ctx context.Context, sessionID, userID, tenantID uuid.UUID) (time.Time, error) {
	var expires time.Time
	err := s.pool.QueryRow(ctx, `UPDATE sessions SET active_tenant_id = $3
		WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > now() RETURNING expires_at`,
		sessionID, userID, tenantID).Scan(&expires)
	return expires, translate(err)
}

// ErrRegistrationClosed means the tenant does not allow clients to sign themselves up.
var ErrRegistrationClosed = errors.New("self-registration is closed")

// RegisterClient creates a user and their CLIENT membership in tenant t, in one transaction
// that runs in t's scope.
func (s *Store) RegisterClient(ctx context.Context, t Tenant, email, name, passwordHash string) (User, error) {
	if !t.AllowSelfRegistration {
		return User{}, ErrRegistrationClosed
	}
	sc := s.TrustedScope(t.ID, false)
	if err := sc.Begin(ctx); err != nil {
		return User{}, err
	}
	u := User{ID: NewID(), Email: email, Name: name}
	_, err := sc.exec(ctx, `INSERT INTO users (id, email, name, password_hash, default_tenant_id) VALUES ($1, $2, $3, $4, $5)`,
		u.ID, email, name, passwordHash, t.ID)
	if err == nil {
		_, err = sc.exec(ctx, `INSERT INTO memberships (tenant_id, id, user_id, role) VALUES ($1, $2, $3, 'CLIENT')`, t.ID, NewID(), u.ID)
	}
	if err != nil {
		_ = sc.End(ctx, false)
		return User{}, err
	}
	return u, sc.End(ctx, true)
}

// TrustedScope returns a scope for a tenant that the caller established itself: the host of a
// public route, a background job's envelope, a platform operation. There is no claim to verify.
func (s *Store) TrustedScope(tenantID uuid.UUID, readOnly bool) *Scope {
	return &Scope{store: s, readOnly: readOnly, claim: Claim{TenantID: tenantID},
		access: &Access{TenantID: tenantID, Role: "SYSTEM"}}
}

// PoolSettings reports the tenant and user settings that a pooled connection carries outside
// any scope. Both must always be empty: scopes set them per transaction only. /readyz checks it.
func (s *Store) PoolSettings(ctx context.Context) (tenant, user string, err error) {
	var t, u *string
	err = s.pool.QueryRow(ctx, `SELECT current_setting('app.tenant_id', true), current_setting('app.user_id', true)`).Scan(&t, &u)
	if t != nil {
		tenant = *t
	}
	if u != nil {
		user = *u
	}
	return tenant, user, err
}
