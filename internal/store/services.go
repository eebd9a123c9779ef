package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Service is something a firm sells.
type Service struct {
	ID              uuid.UUID `json:"id"`
	Slug            string    `json:"slug"`
	Name            string    `json:"name"`
	Description     string    `json:"description"`
	DurationMinutes int       `json:"duration_minutes"`
	PriceCents      int64     `json:"price_cents"`
	Currency        string    `json:"currency"`
	Active          bool      `json:"active"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

const serviceColumns = `id, slug, name, description, duration_minutes, price_cents, currency, active, created_at, updated_at`

func scanService(r pgx.Rows) (Service, error) {
	var v Service
	err := r.Scan(&v.ID, &v.Slug, &v.Name, &v.Description, &v.DurationMinutes, &v.PriceCents, &v.Currency, &v.Active, &v.CreatedAt, &v.UpdatedAt)
	return v, err
}

func (sc *Scope) oneService(ctx context.Context, sql string, args ...any) (Service, error) {
	items, err := collect(ctx, sc, sql, args, scanService)
	if err != nil {
		return Service{}, err
	}
	if len(items) == 0 {
		return Service{}, ErrNotFound
	}
	return items[0], nil
}

// ListServices lists the tenant's services; activeOnly for the public catalogue.
func (sc *Scope) ListServices(ctx context.Context, p Page, activeOnly bool) ([]Service, error) {
	return collect(ctx, sc, `SELECT `+serviceColumns+` FROM services
		WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id < $2) AND (active OR NOT $3)
		ORDER BY id DESC LIMIT $4`, []any{sc.TenantID(), p.Before, activeOnly, p.limitPlusOne()}, scanService)
}

// GetService returns one service by id.
func (sc *Scope) GetService(ctx context.Context, id uuid.UUID) (Service, error) {
	return sc.oneService(ctx, `SELECT `+serviceColumns+` FROM services WHERE tenant_id = $1 AND id = $2`, sc.TenantID(), id)
}

// GetServiceForUpdate is GetService inside a write transaction, with the row locked until the
// transaction ends: a PATCH writes back the fields it was not sent as they are, so a rename
// that waited for a concurrent deactivation leaves the service inactive (and unbookable).
func (sc *Scope) GetServiceForUpdate(ctx context.Context, id uuid.UUID) (Service, error) {
	return sc.oneService(ctx, `SELECT `+serviceColumns+` FROM services WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, sc.TenantID(), id)
}

// GetServiceBySlug returns one service by its per-tenant slug.
func (sc *Scope) GetServiceBySlug(ctx context.Context, slug string, activeOnly bool) (Service, error) {
	return sc.oneService(ctx, `SELECT `+serviceColumns+` FROM services WHERE tenant_id = $1 AND slug = $2 AND (active OR NOT $3)`,
		sc.TenantID(), slug, activeOnly)
}

// ServiceInput is the writable part of a service.
type ServiceInput struct {
	Slug            string
	Name            string
	Description     string
	DurationMinutes int
	PriceCents      int64
	Currency        string
	Active          bool
}

// CreateService adds a service; a duplicate slug in this tenant is a ConflictError.
func (sc *Scope) CreateService(ctx context.Context, in ServiceInput) (Service, error) {
	return sc.oneService(ctx, `INSERT INTO services (tenant_id, id, slug, name, description, duration_minutes, price_cents, currency, active)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING `+serviceColumns,
		sc.TenantID(), NewID(), in.Slug, in.Name, in.Description, in.DurationMinutes, in.PriceCents, in.Currency, in.Active)
}

// UpdateService replaces a service's writable fields.
func (sc *Scope) UpdateService(ctx context.Context, id uuid.UUID, in ServiceInput) (Service, error) {
	return sc.oneService(ctx, `UPDATE services SET slug = $3, name = $4, description = $5, duration_minutes = $6,
		price_cents = $7, currency = $8, active = $9, updated_at = now()
		WHERE tenant_id = $1 AND id = $2 RETURNING `+serviceColumns,
		sc.TenantID(), id, in.Slug, in.Name, in.Description, in.DurationMinutes, in.PriceCents, in.Currency, in.Active)
}

// DeleteService removes a service; one still referenced by bookings is a conflict.
func (sc *Scope) DeleteService(ctx context.Context, id uuid.UUID) error {
	tag, err := sc.exec(ctx, `DELETE FROM services WHERE tenant_id = $1 AND id = $2`, sc.TenantID(), id)
	if err != nil {
		if _, ok := err.(*ReferenceError); ok {
			return &ConflictError{Constraint: "service_in_use"}
		}
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// ServiceDefaults are the tenant's service settings.
type ServiceDefaults struct {
	DefaultCurrency        string    `json:"default_currency"`
	DefaultDurationMinutes int       `json:"default_duration_minutes"`
	BufferMinutes          int       `json:"buffer_minutes"`
	UpdatedAt              time.Time `json:"updated_at"`
}

// GetServiceDefaults reads the tenant's service settings singleton.
func (sc *Scope) GetServiceDefaults(ctx context.Context) (ServiceDefaults, error) {
	var d ServiceDefaults
	err := sc.queryRow(ctx, `SELECT default_currency, default_duration_minutes, buffer_minutes, updated_at
		FROM service_settings WHERE tenant_id = $1`, []any{sc.TenantID()}, &d.DefaultCurrency, &d.DefaultDurationMinutes, &d.BufferMinutes, &d.UpdatedAt)
	return d, err
}

// PutServiceDefaults replaces the tenant's service settings.
func (sc *Scope) PutServiceDefaults(ctx context.Context, d ServiceDefaults) (ServiceDefaults, error) {
	err := sc.queryRow(ctx, `UPDATE service_settings SET default_currency = $2, default_duration_minutes = $3, buffer_minutes = $4, updated_at = now()
		WHERE tenant_id = $1 RETURNING default_currency, default_duration_minutes, buffer_minutes, updated_at`,
		[]any{sc.TenantID(), d.DefaultCurrency, d.DefaultDurationMinutes, d.BufferMinutes},
		&d.DefaultCurrency, &d.DefaultDurationMinutes, &d.BufferMinutes, &d.UpdatedAt)
	return d, err
}
