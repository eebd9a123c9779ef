package store

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"
)

// RecordPlatformEvent writes an event that has no verified tenant to speak for it (a forged
// signature, say) or that concerns the platform itself. subject may be uuid.Nil.
func (s *Store) RecordPlatformEvent(ctx context.Context, subject uuid.UUID, kind, actor string, detail map[string]any) error {
	d, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	var subj *uuid.UUID
	if subject != uuid.Nil {
		subj = &subject
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO platform_events (id, subject_tenant_id, kind, actor, detail) VALUES ($1, $2, $3, $4, $5)`,
		NewID(), subj, kind, actor, d)
	return translate(err)
}

// PlatformEvent is a row of the platform log.
type PlatformEvent struct {
	Kind    string
	Subject *uuid.UUID
	Detail  map[string]any
}

// PlatformEvents lists the newest platform events of a kind (for operators and tests).
func (s *Store) PlatformEvents(ctx context.Context, kind string, limit int) ([]PlatformEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, subject_tenant_id, detail FROM platform_events
		WHERE ($1 = '' OR kind = $1) ORDER BY created_at DESC, id DESC LIMIT $2`, kind, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PlatformEvent
	for rows.Next() {
		var e PlatformEvent
		if err := rows.Scan(&e.Kind, &e.Subject, &e.Detail); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// AuditEvent records an action in the tenant's own audit log, inside the scope's transaction.
func (sc *Scope) AuditEvent(ctx context.Context, action, targetType, targetID string, detail map[string]any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	d, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	var actor *uuid.UUID
	if a := sc.Verified(); a != nil && a.UserID != uuid.Nil {
		actor = &a.UserID
	}
	_, err = sc.exec(ctx, `INSERT INTO audit_events (tenant_id, id, actor_user_id, actor, action, target_type, target_id, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, sc.TenantID(), NewID(), actor, actorName(sc), action, targetType, targetID, d)
	return err
}

func actorName(sc *Scope) string {
	if a := sc.Verified(); a != nil {
		if a.UserID != uuid.Nil {
			return "user"
		}
		return a.Role
	}
	return ""
}

// RecordSecurityEvent writes a security event to the audit log of the tenant it concerns
// (tenant mismatches, forbidden actions, non-members acting), in its own short transaction
// inside that tenant's scope. user may be uuid.Nil.
func (s *Store) RecordSecurityEvent(ctx context.Context, tenant, user uuid.UUID, kind string, detail map[string]any) error {
	d, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	sc := s.TrustedScope(tenant, false)
	if err := sc.Begin(ctx); err != nil {
		return err
	}
	var actor *uuid.UUID
	if user != uuid.Nil {
		actor = &user
	}
	_, err = sc.exec(ctx, `INSERT INTO audit_events (tenant_id, id, actor_user_id, actor, action, target_type, detail, request_id)
		VALUES ($1, $2, $3, 'user', $4, 'security', $5, coalesce($6, ''))`, tenant, NewID(), actor, "security."+kind, d, detail["request_id"])
	if err != nil {
		_ = sc.End(ctx, false)
		return err
	}
	return sc.End(ctx, true)
}

// ObjectOwner tells which tenant owns an object id, if any. It is the one question the
// application may ask across tenants about tenant data, asked only after a tenant route
// answered 404, so that a probe with another tenant's id can be recorded as such. It goes
// through app.object_owner(), a function over a table the application role cannot read.
func (p *Platform) ObjectOwner(ctx context.Context, id uuid.UUID) (uuid.UUID, bool, error) {
	var owner *uuid.UUID
	if err := p.s.pool.QueryRow(ctx, `SELECT app.object_owner($1)`, id).Scan(&owner); err != nil {
		return uuid.Nil, false, translate(err)
	}
	if owner == nil {
		return uuid.Nil, false, nil
	}
	return *owner, true, nil
}
