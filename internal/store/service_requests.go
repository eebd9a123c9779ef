package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ServiceRequest is a client's request for work from the firm. It always belongs to one client
// (client_id is that client's user id), which is what the client-own rule checks.
type ServiceRequest struct {
	ID          uuid.UUID  `json:"id"`
	ClientID    uuid.UUID  `json:"client_id"`
	ServiceID   *uuid.UUID `json:"service_id"`
	AssigneeID  *uuid.UUID `json:"assignee_id"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Status      string     `json:"status"`
	Priority    string     `json:"priority"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

const reqServiceRequestColumns = `id, client_id, service_id, assignee_id, title, description, status, priority, created_at, updated_at`

func reqScanServiceRequest(r pgx.Rows) (ServiceRequest, error) {
	var v ServiceRequest
	err := r.Scan(&v.ID, &v.ClientID, &v.ServiceID, &v.AssigneeID, &v.Title, &v.Description, &v.Status, &v.Priority, &v.CreatedAt, &v.UpdatedAt)
	return v, err
}

func (sc *Scope) oneServiceRequest(ctx context.Context, sql string, args ...any) (ServiceRequest, error) {
	items, err := collect(ctx, sc, sql, args, reqScanServiceRequest)
	if err != nil {
		return ServiceRequest{}, err
	}
	if len(items) == 0 {
		return ServiceRequest{}, ErrNotFound
	}
	return items[0], nil
}

// ServiceRequestFilter narrows a service request list. ClientID restricts it to one client's
// requests (the client-own rule); nil fields do not filter.
type ServiceRequestFilter struct {
	ClientID   *uuid.UUID
	AssigneeID *uuid.UUID
	Status     string
	Priority   string
}

// ListServiceRequests lists service requests, newest first.
func (sc *Scope) ListServiceRequests(ctx context.Context, f ServiceRequestFilter, p Page) ([]ServiceRequest, error) {
	return collect(ctx, sc, `SELECT `+reqServiceRequestColumns+` FROM service_requests
		WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id < $2) AND ($3::uuid IS NULL OR client_id = $3)
		  AND ($4::uuid IS NULL OR assignee_id = $4) AND ($5 = '' OR status = $5) AND ($6 = '' OR priority = $6)
		ORDER BY id DESC LIMIT $7`,
		[]any{sc.TenantID(), p.Before, f.ClientID, f.AssigneeID, f.Status, f.Priority, p.limitPlusOne()}, reqScanServiceRequest)
}

// GetServiceRequest returns one service request. clientID, when not nil, restricts it to that
// client's own requests: another client's request is ErrNotFound, exactly like a missing one.
func (sc *Scope) GetServiceRequest(ctx context.Context, id uuid.UUID, clientID *uuid.UUID) (ServiceRequest, error) {
	return sc.oneServiceRequest(ctx, `SELECT `+reqServiceRequestColumns+` FROM service_requests
		WHERE tenant_id = $1 AND id = $2 AND ($3::uuid IS NULL OR client_id = $3)`, sc.TenantID(), id, clientID)
}

// GetServiceRequestForUpdate is GetServiceRequest inside a write transaction, with the row
// locked until the transaction ends: a change decided on what it returned (a client's edit
// allowed only while the request is new, the fields a PATCH did not send and writes back)
// cannot be based on a status, priority or assignee that another request is changing at the
// same moment. clientID limits it as in GetServiceRequest, and another client's request is
// neither returned nor locked.
func (sc *Scope) GetServiceRequestForUpdate(ctx context.Context, id uuid.UUID, clientID *uuid.UUID) (ServiceRequest, error) {
	return sc.oneServiceRequest(ctx, `SELECT `+reqServiceRequestColumns+` FROM service_requests
		WHERE tenant_id = $1 AND id = $2 AND ($3::uuid IS NULL OR client_id = $3) FOR UPDATE`, sc.TenantID(), id, clientID)
}

// ServiceRequestInput is the writable content of a service request. Status and assignee have
// their own operations, because they follow their own rules and permissions.
type ServiceRequestInput struct {
	ClientID    uuid.UUID
	ServiceID   *uuid.UUID
	AssigneeID  *uuid.UUID // on create only
	Title       string
	Description string
	Priority    string
}

// CreateServiceRequest adds a request in status new. The client, service and assignee must
// exist in this tenant: the composite foreign keys refuse anything else (ReferenceError).
func (sc *Scope) CreateServiceRequest(ctx context.Context, in ServiceRequestInput) (ServiceRequest, error) {
	if in.Priority == "" {
		in.Priority = "normal"
	}
	return sc.oneServiceRequest(ctx, `INSERT INTO service_requests (tenant_id, id, client_id, service_id, assignee_id, title, description, priority)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+reqServiceRequestColumns,
		sc.TenantID(), NewID(), in.ClientID, in.ServiceID, in.AssigneeID, in.Title, in.Description, in.Priority)
}

// UpdateServiceRequest replaces a request's title, description, priority and service.
// clientID restricts the change to that client's own request.
func (sc *Scope) UpdateServiceRequest(ctx context.Context, id uuid.UUID, clientID *uuid.UUID, in ServiceRequestInput) (ServiceRequest, error) {
	return sc.oneServiceRequest(ctx, `UPDATE service_requests SET title = $4, description = $5, priority = $6, service_id = $7, updated_at = now()
		WHERE tenant_id = $1 AND id = $2 AND ($3::uuid IS NULL OR client_id = $3) RETURNING `+reqServiceRequestColumns,
		sc.TenantID(), id, clientID, in.Title, in.Description, in.Priority, in.ServiceID)
}

// TransitionServiceRequest moves a request from status from to status to. The change only
// happens if the request still has status from, so two concurrent transitions cannot both
// pass their checks; the loser gets a ConflictError.
func (sc *Scope) TransitionServiceRequest(ctx context.Context, id uuid.UUID, clientID *uuid.UUID, from, to string) (ServiceRequest, error) {
	v, err := sc.oneServiceRequest(ctx, `UPDATE service_requests SET status = $5, updated_at = now()
		WHERE tenant_id = $1 AND id = $2 AND ($3::uuid IS NULL OR client_id = $3) AND status = $4 RETURNING `+reqServiceRequestColumns,
		sc.TenantID(), id, clientID, from, to)
	if err == ErrNotFound {
		return v, &ConflictError{Constraint: "service_request_status"}
	}
	return v, err
}

// AssignServiceRequest sets (or, with nil, clears) a request's assignee. Requests that are
// completed or cancelled keep the assignee they finished with: changing it is a ConflictError.
func (sc *Scope) AssignServiceRequest(ctx context.Context, id uuid.UUID, assignee *uuid.UUID) (ServiceRequest, error) {
	v, err := sc.oneServiceRequest(ctx, `UPDATE service_requests SET assignee_id = $3, updated_at = now()
		WHERE tenant_id = $1 AND id = $2 AND status NOT IN ('completed', 'cancelled') RETURNING `+reqServiceRequestColumns,
		sc.TenantID(), id, assignee)
	if err == ErrNotFound {
		if _, gerr := sc.GetServiceRequest(ctx, id, nil); gerr != nil {
			return v, gerr
		}
		return v, &ConflictError{Constraint: "service_request_status"}
	}
	return v, err
}

// DeleteServiceRequest removes a request. One that bookings, work orders, invoices or
// attachments still refer to is a ConflictError: those records would lose their context.
func (sc *Scope) DeleteServiceRequest(ctx context.Context, id uuid.UUID) error {
	tag, err := sc.exec(ctx, `DELETE FROM service_requests WHERE tenant_id = $1 AND id = $2`, sc.TenantID(), id)
	if err != nil {
		if _, ok := err.(*ReferenceError); ok {
			return &ConflictError{Constraint: "service_request_in_use"}
		}
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
