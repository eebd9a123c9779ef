package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// AuditRecord is one entry of a tenant's audit log: who did what to which object.
type AuditRecord struct {
	ID          uuid.UUID      `json:"id"`
	ActorUserID *uuid.UUID     `json:"actor_user_id"`
	Actor       string         `json:"actor"`
	Action      string         `json:"action"`
	TargetType  string         `json:"target_type"`
	TargetID    string         `json:"target_id"`
	Detail      map[string]any `json:"detail"`
	RequestID   string         `json:"request_id"`
	CreatedAt   time.Time      `json:"created_at"`
}

// AuditFilter narrows the audit log; empty fields match everything.
type AuditFilter struct {
	Action     string
	TargetType string
	ActorID    *uuid.UUID
}

// ListAuditEvents lists the tenant's audit log, newest first (ids are time-ordered).
func (sc *Scope) ListAuditEvents(ctx context.Context, f AuditFilter, p Page) ([]AuditRecord, error) {
	return collect(ctx, sc, `SELECT id, actor_user_id, actor, action, target_type, target_id, detail, request_id, created_at
		FROM audit_events
		WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id < $2) AND ($3 = '' OR action = $3) AND ($4 = '' OR target_type = $4)
		  AND ($5::uuid IS NULL OR actor_user_id = $5)
		ORDER BY id DESC LIMIT $6`,
		[]any{sc.TenantID(), p.Before, f.Action, f.TargetType, f.ActorID, p.limitPlusOne()}, func(r pgx.Rows) (AuditRecord, error) {
			var v AuditRecord
			err := r.Scan(&v.ID, &v.ActorUserID, &v.Actor, &v.Action, &v.TargetType, &v.TargetID, &v.Detail, &v.RequestID, &v.CreatedAt)
			if v.Detail == nil {
				v.Detail = map[string]any{}
			}
			return v, err
		})
}
