package httpapi

// Work orders: internal units of work with a per-tenant unique code.

import (
	"context"
	"errors"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/auth"
	"tenantd/internal/store"
)

func (s *Server) workOrderRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/admin/work-orders", Kind: KindTenant, Permission: auth.PermWorkOrders, Summary: "List work orders", Handler: s.listWorkOrders},
		{Method: "POST", Pattern: "/api/admin/work-orders", Kind: KindTenant, Permission: auth.PermWorkOrders, Creates: true, Summary: "Create a work order (code unique per tenant)", Handler: s.createWorkOrder},
		{Method: "GET", Pattern: "/api/admin/work-orders/{id}", Kind: KindTenant, Permission: auth.PermWorkOrders, Summary: "Get a work order", Handler: s.getWorkOrder},
		{Method: "PUT", Pattern: "/api/admin/work-orders/{id}", Kind: KindTenant, Permission: auth.PermWorkOrders, Summary: "Replace a work order", Handler: s.putWorkOrder},
		{Method: "DELETE", Pattern: "/api/admin/work-orders/{id}", Kind: KindTenant, Permission: auth.PermWorkOrders, Summary: "Delete a work order", Handler: s.deleteWorkOrder},
	}
}

var (
	reqWorkOrderStatuses = []string{"open", "in_progress", "done", "cancelled"}
	// reqCodePattern keeps codes printable and free of spaces, so they read well in lists and
	// on paper; uniqueness is exact (case-sensitive) within the tenant.
	reqCodePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$`)
)

// reqMaxHours bounds estimated_hours well inside the column's numeric(8, 2).
const reqMaxHours = 100000

func reqWorkOrderID(v store.WorkOrder) uuid.UUID { return v.ID }

func (s *Server) listWorkOrders(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	var f store.WorkOrderFilter
	if f.Status, err = reqQueryEnum(r, "status", reqWorkOrderStatuses); err != nil {
		return err
	}
	if f.AssigneeID, err = reqQueryID(r, "assignee"); err != nil {
		return err
	}
	if f.ServiceRequestID, err = reqQueryID(r, "service_request"); err != nil {
		return err
	}
	items, err := sc.ListWorkOrders(r.Context(), f, p)
	if err != nil {
		return err
	}
	return writeList(w, items, p, reqWorkOrderID)
}

func (s *Server) getWorkOrder(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := sc.GetWorkOrder(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// reqWorkOrderBody is a whole work order as clients send it, for POST and PUT alike: code and
// title are required; absent optional fields take their defaults (no request, no assignee, no
// due date, 0 hours), except status, which starts as open and which PUT keeps when absent.
type reqWorkOrderBody struct {
	Code             *string       `json:"code"`
	Title            *string       `json:"title"`
	Description      *string       `json:"description"`
	Status           *string       `json:"status"`
	ServiceRequestID reqOptionalID `json:"service_request_id"`
	AssigneeID       reqOptionalID `json:"assignee_id"`
	DueOn            *string       `json:"due_on"`
	EstimatedHours   *float64      `json:"estimated_hours"`
}

// input validates the body. cur is the work order being replaced, or nil on create; a
// reference that stays what it was is not checked again (an assignee may have been
// deactivated since).
func (b reqWorkOrderBody) input(ctx context.Context, sc *store.Scope, cur *store.WorkOrder) (store.WorkOrderInput, error) {
	var f fields
	in := store.WorkOrderInput{Status: "open"}
	if cur != nil {
		in.Status = cur.Status
	}
	in.Code = reqText(&f, "code", b.Code, true, 64)
	if in.Code != "" && charCount(in.Code) <= 64 && !reqCodePattern.MatchString(in.Code) { // (longer: reqText said so)
		f.add("code", "must be letters, digits and . _ / - (no spaces), starting with a letter or digit")
	}
	in.Title = reqText(&f, "title", b.Title, true, 200)
	in.Description = reqText(&f, "description", b.Description, false, 10000)
	if b.Status != nil {
		if !slices.Contains(reqWorkOrderStatuses, *b.Status) {
			f.add("status", "must be one of "+strings.Join(reqWorkOrderStatuses, ", "))
		}
		in.Status = *b.Status
	}
	if b.DueOn != nil {
		d, ok := parseDate(*b.DueOn)
		if !ok {
			f.add("due_on", "must be a date (YYYY-MM-DD)")
		} else {
			s := d.Format(time.DateOnly)
			in.DueOn = &s
		}
	}
	if b.EstimatedHours != nil {
		h := *b.EstimatedHours
		if h < 0 || h > reqMaxHours {
			f.add("estimated_hours", "must be from 0 to 100000")
		}
		in.EstimatedHours = math.Round(h*100) / 100
	}
	if in.ServiceRequestID = b.ServiceRequestID.ID; in.ServiceRequestID != nil &&
		(cur == nil || cur.ServiceRequestID == nil || *cur.ServiceRequestID != *in.ServiceRequestID) {
		if _, err := sc.GetServiceRequest(ctx, *in.ServiceRequestID, nil); errors.Is(err, store.ErrNotFound) {
			f.add("service_request_id", "no such service request")
		} else if err != nil {
			return in, err
		}
	}
	if in.AssigneeID = b.AssigneeID.ID; in.AssigneeID != nil &&
		(cur == nil || cur.AssigneeID == nil || *cur.AssigneeID != *in.AssigneeID) {
		if err := reqCheckAssignee(ctx, sc, &f, *in.AssigneeID); err != nil {
			return in, err
		}
	}
	return in, f.err()
}

// reqCodeConflict turns the per-tenant code uniqueness violation into its 409.
func reqCodeConflict(err error) error {
	var ce *store.ConflictError
	if errors.As(err, &ce) {
		return errConflict("A work order with this code already exists in this tenant.")
	}
	return err
}

func (s *Server) createWorkOrder(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	ctx := r.Context()
	var b reqWorkOrderBody
	if err := decode(r, &b); err != nil {
		return err
	}
	in, err := b.input(ctx, sc, nil)
	if err != nil {
		return err
	}
	v, err := sc.CreateWorkOrder(ctx, in)
	if err != nil {
		return reqCodeConflict(err)
	}
	if err := sc.AuditEvent(ctx, "work_order.create", "work_order", v.ID.String(), map[string]any{"code": v.Code}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

// putWorkOrder replaces a work order; an absent status keeps the stored one. The work order is
// read locked, so a PUT that waited for another one that changed the status keeps that status.
func (s *Server) putWorkOrder(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b reqWorkOrderBody
	if err := decode(r, &b); err != nil {
		return err
	}
	cur, err := sc.GetWorkOrderForUpdate(ctx, id)
	if err != nil {
		return err
	}
	in, err := b.input(ctx, sc, &cur)
	if err != nil {
		return err
	}
	v, err := sc.UpdateWorkOrder(ctx, id, in)
	if err != nil {
		return reqCodeConflict(err)
	}
	if err := sc.AuditEvent(ctx, "work_order.update", "work_order", id.String(), nil); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) deleteWorkOrder(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := sc.DeleteWorkOrder(r.Context(), id); err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "work_order.delete", "work_order", id.String(), nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
