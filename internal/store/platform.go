package store

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"
)

// Platform is the explicitly named path for work that is not inside one request's tenant:
// provisioning and lifecycle of tenants, and the events that record them. Each operation that
// changes something writes an audit event, to the tenant concerned and to the platform log.
type Platform struct {
	s     *Store
	actor string
}

// Platform returns the platform path acting as actor (e.g. "operator", "cli", "seed").
func (s *Store) Platform(actor string) *Platform { return &Platform{s: s, actor: actor} }

// NewTenant describes a tenant to provision with its first owner.
type NewTenant struct {
	Slug          string
	Name          string
	PrimaryDomain *string
	OwnerEmail    string
	OwnerName     string
	OwnerPassword string // argon2id hash; used only when the owner user does not exist yet
}

// CreateTenant provisions a complete, usable tenant in one transaction: the tenant, its owner
// (an existing user by email, or a new one), the owner's membership, every settings singleton
// and the invoice number sequence.
func (p *Platform) CreateTenant(ctx context.Context, nt NewTenant) (Tenant, error) {
	t := Tenant{ID: NewID(), Slug: nt.Slug, Name: nt.Name, Status: "active", PrimaryDomain: nt.PrimaryDomain, AllowSelfRegistration: true}
	sc := p.s.TrustedScope(t.ID, false)
	if err := sc.Begin(ctx); err != nil {
		return Tenant{}, err
	}
	err := func() error {
		if err := sc.conn.QueryRow(ctx, `INSERT INTO tenants (id, slug, name, primary_domain) VALUES ($1, $2, $3, $4)
			RETURNING created_at, updated_at`, t.ID, t.Slug, t.Name, t.PrimaryDomain).Scan(&t.CreatedAt, &t.UpdatedAt); err != nil {
			return translate(err)
		}
		var owner uuid.UUID
		err := sc.conn.QueryRow(ctx, userIDByEmailSQL, nt.OwnerEmail).Scan(&owner)
		if err := translate(err); err == ErrNotFound {
			owner = NewID()
			if _, err := sc.exec(ctx, `INSERT INTO users (id, email, name, password_hash, default_tenant_id) VALUES ($1, $2, $3, $4, $5)`,
				owner, nt.OwnerEmail, nt.OwnerName, nt.OwnerPassword, t.ID); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if _, err := sc.exec(ctx, `INSERT INTO memberships (tenant_id, id, user_id, role) VALUES ($1, $2, $3, 'OWNER')`, t.ID, NewID(), owner); err != nil {
			return err
		}
		if err := createSingletons(ctx, sc); err != nil {
			return err
		}
		// The platform log outlives the tenant (offboarding keeps it as the record of what was
		// done): it names people by user id, never by email.
		return p.event(ctx, sc, "tenant.create", map[string]any{"slug": t.Slug, "owner_user_id": owner})
	}()
	if err != nil {
		_ = sc.End(ctx, false)
		return Tenant{}, err
	}
	return t, sc.End(ctx, true)
}

// createSingletons inserts the one row per tenant of every settings table.
func createSingletons(ctx context.Context, sc *Scope) error {
	for _, table := range []string{"service_settings", "booking_settings", "communication_settings", "thresholds", "invoice_sequences"} {
		// table names come from the fixed list above, never from input.
		if _, err := sc.exec(ctx, `INSERT INTO `+table+` (tenant_id, id) VALUES ($1, $2)`, sc.TenantID(), NewID()); err != nil {
			return err
		}
	}
	return nil
}

// event writes an audit event to the tenant's log (inside sc's transaction) and to the
// platform log.
func (p *Platform) event(ctx context.Context, sc *Scope, action string, detail map[string]any) error {
	d, _ := json.Marshal(detail)
	if _, err := sc.exec(ctx, `INSERT INTO audit_events (tenant_id, id, actor, action, target_type, target_id, detail)
		VALUES ($1, $2, $3, $4, 'tenant', $5, $6)`, sc.TenantID(), NewID(), p.actor, action, sc.TenantID().String(), d); err != nil {
		return err
	}
	_, err := sc.exec(ctx, `INSERT INTO platform_events (id, subject_tenant_id, kind, actor, detail) VALUES ($1, $2, $3, $4, $5)`,
		NewID(), sc.TenantID(), action, p.actor, d)
	return err
}

// AddMember gives a user (created if the email is new) a membership in tenant t. Used by the
// demo seed and tenant provisioning tools.
func (p *Platform) AddMember(ctx context.Context, t uuid.UUID, email, name, passwordHash, role string) (uuid.UUID, error) {
	sc := p.s.TrustedScope(t, false)
	if err := sc.Begin(ctx); err != nil {
		return uuid.Nil, err
	}
	var id uuid.UUID
	err := func() error {
		err := sc.conn.QueryRow(ctx, userIDByEmailSQL, email).Scan(&id)
		if err := translate(err); err == ErrNotFound {
			id = NewID()
			if _, err := sc.exec(ctx, `INSERT INTO users (id, email, name, password_hash, default_tenant_id) VALUES ($1, $2, $3, $4, $5)`,
				id, email, name, passwordHash, t); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if _, err := sc.exec(ctx, `INSERT INTO memberships (tenant_id, id, user_id, role) VALUES ($1, $2, $3, $4)`, t, NewID(), id, role); err != nil {
			return err
		}
		return p.event(ctx, sc, "member.add", map[string]any{"user_id": id, "role": role})
	}()
	if err != nil {
		_ = sc.End(ctx, false)
		return uuid.Nil, err
	}
	return id, sc.End(ctx, true)
}

// Empty reports whether no tenant exists yet (the dev command seeds demo data then).
func (s *Store) Empty(ctx context.Context) (bool, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM tenants LIMIT 1) x`).Scan(&n)
	return n == 0, translate(err)
}

// userIDByEmailSQL finds an existing user by email from inside a tenant's transaction, where
// the users table shows only that tenant's members: provisioning and adding a member may name
// someone who so far belongs to other tenants only. It returns no row for an unknown email.
const userIDByEmailSQL = `SELECT id FROM app.user_id_by_email($1) AS u(id) WHERE id IS NOT NULL`
