package store

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// StoredResponse is the first response given under an Idempotency-Key.
type StoredResponse struct {
	RequestHash []byte
	StatusCode  int
	ContentType string
	Location    string // the Location header, if the response had one
	Body        []byte
}

// ClaimIdempotencyKey reserves key for the scope's (tenant, user) inside the write
// transaction. It returns nil when the key is new (the caller runs the request), or the stored
// response of the request that used it first. A concurrent claim of the same key waits on the
// unique index until the first transaction ends.
func (sc *Scope) ClaimIdempotencyKey(ctx context.Context, key string, requestHash []byte) (*StoredResponse, error) {
	user := idempotencyUser(sc)
	var id uuid.UUID
	err := sc.queryRow(ctx, `INSERT INTO idempotency_keys (tenant_id, id, user_id, key, request_hash)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, user_id, key) DO NOTHING RETURNING id`,
		[]any{sc.TenantID(), NewID(), user, key, requestHash}, &id)
	if err == nil {
		return nil, nil
	}
	if err != ErrNotFound {
		return nil, err
	}
	var r StoredResponse
	var code *int
	var ctype, location *string
	err = sc.queryRow(ctx, `SELECT request_hash, status_code, response_type, response_location, response_body FROM idempotency_keys
		WHERE tenant_id = $1 AND user_id = $2 AND key = $3`, []any{sc.TenantID(), user, key}, &r.RequestHash, &code, &ctype, &location, &r.Body)
	if err != nil {
		return nil, err
	}
	if code != nil {
		r.StatusCode = *code
	}
	if ctype != nil {
		r.ContentType = *ctype
	}
	if location != nil {
		r.Location = *location
	}
	return &r, nil
}

// SaveIdempotentResponse stores the response given under key, in the same transaction as the
// effect it describes.
func (sc *Scope) SaveIdempotentResponse(ctx context.Context, key string, status int, contentType, location string, body []byte) error {
	_, err := sc.exec(ctx, `UPDATE idempotency_keys SET status_code = $4, response_type = $5, response_location = nullif($6, ''), response_body = $7
		WHERE tenant_id = $1 AND user_id = $2 AND key = $3`, sc.TenantID(), idempotencyUser(sc), key, status, contentType, location, body)
	return err
}

// idempotencyUser is the caller the key is scoped to: the user, or for a token the token
// itself, so that two tokens of one user do not share keys by accident.
func idempotencyUser(sc *Scope) uuid.UUID {
	a := sc.Verified()
	if a == nil {
		return uuid.Nil
	}
	if a.TokenID != uuid.Nil {
		return a.TokenID
	}
	return a.UserID
}

// RecordIdempotentResponse stores a finished request under (user, key) directly; the demo seed
// uses it to leave the traces that real creating requests would have left.
func (sc *Scope) RecordIdempotentResponse(ctx context.Context, user uuid.UUID, key string, requestHash []byte, status int, contentType string, body []byte) error {
	_, err := sc.exec(ctx, `INSERT INTO idempotency_keys (tenant_id, id, user_id, key, request_hash, status_code, response_type, response_body)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, sc.TenantID(), NewID(), user, key, requestHash, status, contentType, body)
	return err
}

// IdempotencyKeyLifetime is how long the first answer under an Idempotency-Key is kept for
// replays. A client retries within minutes; keeping answers for ever only grows the table.
const IdempotencyKeyLifetime = 24 * time.Hour

// ForgetIdempotencyKeys deletes the scope's tenant's keys made before before, and says how many.
// The tenant's periodic job calls it, with now - IdempotencyKeyLifetime.
func (sc *Scope) ForgetIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	tag, err := sc.exec(ctx, `DELETE FROM idempotency_keys WHERE tenant_id = $1 AND created_at < $2`, sc.TenantID(), before)
	return tag.RowsAffected(), err
}
