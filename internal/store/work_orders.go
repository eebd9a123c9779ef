package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// WorkOrder is an internal unit of work, optionally for a service request, with a code that
// is unique within the tenant (the same code may exist in another tenant).
type WorkOrder struct {
	ID               uuid.UUID  `json:"id"`
	Code             string     `json:"code"`
	Title            string     `json:"title"`
	Description      string     `json:"description"`
	Status           string     `json:"status"`
	ServiceRequestID *uuid.UUID `json:"service_request_id"`
	AssigneeID       *uuid.UUID `json:"assignee_id"`
	DueOn            *string    `json:"due_on"` // YYYY-MM-DD
	EstimatedHours   float64    `json:"estimated_hours"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
}

const reqWorkOrderColumns = `id, code, title, description, status, service_request_id, assignee_id, due_on::text, estimated_hours::float8, created_at, updated_at`

func reqScanWorkOrder(r pgx.Rows) (WorkOrder, error) {
	var v WorkOrder
	err := r.Scan(&v.ID, &v.Code, &v.Title, &v.Description, &v.Status, &v.ServiceRequestID, &v.AssigneeID, &v.DueOn, &v.EstimatedHours, &v.CreatedAt, &v.UpdatedAt)
	return v, err
}

func (sc *Scope) oneWorkOrder(ctx context.Context, sql string, args ...any) (WorkOrder, error) {
	items, err := collect(ctx, sc, sql, args, reqScanWorkOrder)
	if err != nil {
		return WorkOrder{}, err
	}
	if len(items) == 0 {
		return WorkOrder{}, ErrNotFound
	}
	return items[0], nil
}

// WorkOrderFilter narrows a work order list; zero fields do not filter.
type WorkOrderFilter struct {
	Status           string
	AssigneeID       *uuid.UUID
	ServiceRequestID *uuid.UUID
}

// ListWorkOrders lists work orders, newest first.
func (sc *Scope) ListWorkOrders(ctx context.Context, f WorkOrderFilter, p Page) ([]WorkOrder, error) {
	return collect(ctx, sc, `SELECT `+reqWorkOrderColumns+` FROM work_orders
		WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id < $2) AND ($3 = '' OR status = $3)
		  AND ($4::uuid IS NULL OR assignee_id = $4) AND ($5::uuid IS NULL OR service_request_id = $5)
		ORDER BY id DESC LIMIT $6`,
		[]any{sc.TenantID(), p.Before, f.Status, f.AssigneeID, f.ServiceRequestID, p.limitPlusOne()}, reqScanWorkOrder)
}

// GetWorkOrder returns one work order.
func (sc *Scope) GetWorkOrder(ctx context.Context, id uuid.UUID) (WorkOrder, error) {
	return sc.oneWorkOrder(ctx, `SELECT `+reqWorkOrderColumns+` FROM work_orders WHERE tenant_id = $1 AND id = $2`, sc.TenantID(), id)
}

// GetWorkOrderForUpdate is GetWorkOrder inside a write transaction, with the row locked until
// the transaction ends: what a PUT keeps when it does not send it (the status), and the
// references it does not check again because they stay what they were, are the stored ones,
// not those from before a concurrent PUT committed.
func (sc *Scope) GetWorkOrderForUpdate(ctx context.Context, id uuid.UUID) (WorkOrder, error) {
	return sc.oneWorkOrder(ctx, `SELECT `+reqWorkOrderColumns+` FROM work_orders WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, sc.TenantID(), id)
}

// WorkOrderInput is the writable part of a work order.
type WorkOrderInput struct {
	Code             string
	Title            string
	Description      string
	Status           string
	ServiceRequestID *uuid.UUID
	AssigneeID       *uuid.UUID
	DueOn            *string // YYYY-MM-DD
	EstimatedHours   float64
}

// CreateWorkOrder adds a work order. A code already used in this tenant is a ConflictError;
// a request or assignee of another tenant is a ReferenceError.
func (sc *Scope) CreateWorkOrder(ctx context.Context, in WorkOrderInput) (WorkOrder, error) {
	return sc.oneWorkOrder(ctx, `INSERT INTO work_orders (tenant_id, id, code, title, description, status, service_request_id, assignee_id, due_on, estimated_hours)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::date, $10) RETURNING `+reqWorkOrderColumns,
		sc.TenantID(), NewID(), in.Code, in.Title, in.Description, in.Status, in.ServiceRequestID, in.AssigneeID, in.DueOn, in.EstimatedHours)
}

// UpdateWorkOrder replaces a work order's writable fields.
func (sc *Scope) UpdateWorkOrder(ctx context.Context, id uuid.UUID, in WorkOrderInput) (WorkOrder, error) {
	return sc.oneWorkOrder(ctx, `UPDATE work_orders SET code = $3, title = $4, description = $5, status = $6, service_request_id = $7,
		    assignee_id = $8, due_on = $9::text::date, estimated_hours = $10, updated_at = now()
		WHERE tenant_id = $1 AND id = $2 RETURNING `+reqWorkOrderColumns,
		sc.TenantID(), id, in.Code, in.Title, in.Description, in.Status, in.ServiceRequestID, in.AssigneeID, in.DueOn, in.EstimatedHours)
}

// DeleteWorkOrder removes a work order.
func (sc *Scope) DeleteWorkOrder(ctx context.Context, id uuid.UUID) error {
	tag, err := sc.exec(ctx, `DELETE FROM work_orders WHERE tenant_id = $1 AND id = $2`, sc.TenantID(), id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
