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

// ListAPITokens lists the tenant's tokens; userID, when not nil, only that user's.
func (sc *Scope) ListAPITokens(ctx context.Context, userID *uuid.UUID, p Page) ([]APIToken, error) {
	return collect(ctx, sc, `SELECT `+tokenColumns+` FROM api_tokens
		WHERE tenant_id = $1 AND ($2::uuid IS NULL OR user_id = $2) AND ($3::uuid IS NULL OR id < $3)
		ORDER BY id DESC LIMIT $4`, []any{sc.TenantID(), userID, p.Before, p.limitPlusOne()}, scanToken)
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

// RevokeAPIToken revokes a token; userID, when not nil, only if it is that user's.
func (sc *Scope) RevokeAPIToken(ctx context.Context, id uuid.UUID, userID *uuid.UUID) error {
	tag, err := sc.exec(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
		WHERE tenant_id = $1 AND id = $2 AND ($3::uuid IS NULL OR user_id = $3)`, sc.TenantID(), id, userID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
