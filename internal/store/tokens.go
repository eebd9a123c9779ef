package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// APIToken is a tenant-bound bearer credential (its secret is never stored).
type APIToken struct {
	ID         uuid.UUID  `json:"id"`
	UserID     uuid.UUID  `json:"user_id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Prefix     string     `json:"prefix"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	CreatedAt  time.Time  `json:"created_at"`
}

const tokenColumns = `id, user_id, name, role, prefix, expires_at, revoked_at, last_used_at, created_at`

func scanToken(r pgx.Rows) (APIToken, error) {
	var t APIToken
	err := r.Scan(&t.ID, &t.UserID, &t.Name, &t.Role, &t.Prefix, &t.ExpiresAt, &t.RevokedAt, &t.LastUsedAt, &t.CreatedAt)
	return t, err
}

// TokenOwners says whose API tokens a caller may see and revoke: their own (Self), and those
// of the tenant's members whose role is one of Roles.
type TokenOwners struct {
	Self  uuid.UUID
	Roles []string
}

// roles is Roles for the query: never NULL, so that "no role" matches no member.
func (o TokenOwners) roles() []string {
	if o.Roles == nil {
		return []string{}
	}
	return o.Roles
}

// ListAPITokens lists the tenant's tokens that owners admits.
func (sc *Scope) ListAPITokens(ctx context.Context, owners TokenOwners, p Page) ([]APIToken, error) {
	return collect(ctx, sc, `SELECT `+tokenColumns+` FROM api_tokens t
		WHERE t.tenant_id = $1 AND (t.user_id = $2 OR t.user_id IN (SELECT m.user_id FROM memberships m
		  WHERE m.tenant_id = $1 AND m.role = ANY($3::text[])))
		  AND ($4::uuid IS NULL OR t.id < $4)
		ORDER BY t.id DESC LIMIT $5`, []any{sc.TenantID(), owners.Self, owners.roles(), p.Before, p.limitPlusOne()}, scanToken)
}

// APITokenVisible reports whether the tenant has token id and owners admits it.
func (sc *Scope) APITokenVisible(ctx context.Context, id uuid.UUID, owners TokenOwners) (bool, error) {
	var ok bool
	err := sc.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_tokens t
		WHERE t.tenant_id = $1 AND t.id = $2 AND (t.user_id = $3 OR t.user_id IN (SELECT m.user_id FROM memberships m
		  WHERE m.tenant_id = $1 AND m.role = ANY($4::text[]))))`,
		[]any{sc.TenantID(), id, owners.Self, owners.roles()}, &ok)
	return ok, err
}

// CreateAPIToken stores a token by its hash for a member of the tenant.
func (sc *Scope) CreateAPIToken(ctx context.Context, userID uuid.UUID, name, role string, hash []byte, prefix string, expires *time.Time) (APIToken, error) {
	items, err := collect(ctx, sc, `INSERT INTO api_tokens (tenant_id, id, user_id, name, role, token_hash, prefix, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+tokenColumns,
		[]any{sc.TenantID(), NewID(), userID, name, role, hash, prefix, expires}, scanToken)
	if err != nil {
		return APIToken{}, err
	}
	return items[0], nil
}

// RevokeAPIToken revokes a token that owners admits; any other id is ErrNotFound.
func (sc *Scope) RevokeAPIToken(ctx context.Context, id uuid.UUID, owners TokenOwners) error {
	tag, err := sc.exec(ctx, `UPDATE api_tokens t SET revoked_at = coalesce(t.revoked_at, now())
		WHERE t.tenant_id = $1 AND t.id = $2 AND (t.user_id = $3 OR t.user_id IN (SELECT m.user_id FROM memberships m
		  WHERE m.tenant_id = $1 AND m.role = ANY($4::text[])))`, sc.TenantID(), id, owners.Self, owners.roles())
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
