package httpapi

// Service requests: the staff view (every request, assignment, status workflow) and the
// portal view (a client's own requests).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/google/uuid"

	"tenantd/internal/auth"
	"tenantd/internal/store"
)

func (s *Server) serviceRequestRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/admin/service-requests", Kind: KindTenant, Permission: auth.PermRequestsAll, Summary: "List service requests", Handler: s.listServiceRequests},
		{Method: "POST", Pattern: "/api/admin/service-requests", Kind: KindTenant, Permission: auth.PermRequestsAll, Creates: true, Summary: "Create a service request for a client", Handler: s.createServiceRequest},
		{Method: "GET", Pattern: "/api/admin/service-requests/{id}", Kind: KindTenant, Permission: auth.PermRequestsAll, Summary: "Get a service request", Handler: s.getServiceRequest},
		{Method: "PATCH", Pattern: "/api/admin/service-requests/{id}", Kind: KindTenant, Permission: auth.PermRequestsAll, Summary: "Change a service request's title, description, priority or service", Handler: s.patchServiceRequest},
		{Method: "DELETE", Pattern: "/api/admin/service-requests/{id}", Kind: KindTenant, Permission: auth.PermRequestsAll, Summary: "Delete a service request", Handler: s.deleteServiceRequest},
		{Method: "POST", Pattern: "/api/admin/service-requests/{id}/assign", Kind: KindTenant, Permission: auth.PermRequestsAssign, Summary: "Assign a service request to a team member (null unassigns)", Handler: s.assignServiceRequest},
		{Method: "PATCH", Pattern: "/api/admin/service-requests/{id}/status", Kind: KindTenant, Permission: auth.PermRequestsAll, Summary: "Move a service request through its status workflow", Handler: s.setServiceRequestStatus},
		{Method: "GET", Pattern: "/api/portal/service-requests", Kind: KindTenant, Permission: auth.PermRequestsOwn, Summary: "The caller's own service requests", Handler: s.listPortalServiceRequests},
		{Method: "POST", Pattern: "/api/portal/service-requests", Kind: KindTenant, Permission: auth.PermRequestsOwn, Creates: true, Summary: "Open a service request for oneself", Handler: s.createPortalServiceRequest},
		{Method: "GET", Pattern: "/api/portal/service-requests/{id}", Kind: KindTenant, Permission: auth.PermRequestsOwn, Summary: "Get one of the caller's service requests", Handler: s.getPortalServiceRequest},
		{Method: "PATCH", Pattern: "/api/portal/service-requests/{id}", Kind: KindTenant, Permission: auth.PermRequestsOwn, Summary: "Edit a new request of one's own, or cancel it", Handler: s.patchPortalServiceRequest},
	}
}

// The service request workflow. completed and cancelled are final.
var (
	reqStatuses    = []string{"new", "in_progress", "on_hold", "completed", "cancelled"}
	reqPriorities  = []string{"low", "normal", "high", "urgent"}
	reqTransitions = map[string][]string{
		"new":         {"in_progress", "on_hold", "cancelled"},
		"in_progress": {"on_hold", "completed", "cancelled"},
		"on_hold":     {"in_progress", "cancelled"},
	}
)

// reqCheckTransition says whether a request may move from one status to another. Setting the
// status a request already has is a no-op (so a retried PATCH succeeds) unless that status is
// final: nothing moves a completed or cancelled request.
func reqCheckTransition(from, to string) error {
	if _, open := reqTransitions[from]; !open {
		return errConflict(fmt.Sprintf("The request is %s; that status is final.", from))
	}
	if from == to || slices.Contains(reqTransitions[from], to) {
		return nil
	}
	return errConflict(fmt.Sprintf("A request cannot move from %s to %s.", from, to))
}

// reqOptionalID is an id field that tells apart "absent" (Set false), "null" (Set true, ID
// nil) and an id, so that PATCH-style bodies can clear a reference.
type reqOptionalID struct {
	Set bool
	ID  *uuid.UUID
}

func (*reqOptionalID) valueType() reflect.Type { return reflect.TypeFor[uuid.UUID]() }

// UnmarshalJSON accepts null or a UUID string.
func (o *reqOptionalID) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.ID = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{Value: "non-string", Type: reflect.TypeFor[uuid.UUID]()}
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: "string", Type: reflect.TypeFor[uuid.UUID]()}
	}
	o.ID = &id
	return nil
}

// reqText validates a trimmed text field of at most max characters.
func reqText(f *fields, name string, v *string, required bool, max int) string {
	if v == nil {
		if required {
			f.add(name, "is required")
		}
		return ""
	}
	s := strings.TrimSpace(*v)
	switch {
	case required && s == "":
		f.add(name, "must not be empty")
	case charCount(s) > max:
		f.add(name, fmt.Sprintf("is at most %d characters", max))
	}
	return s
}

// reqCheckClient adds a field error unless id names an active client of this tenant.
func reqCheckClient(ctx context.Context, sc *store.Scope, f *fields, name string, id uuid.UUID) error {
	m, err := sc.ShareTenantMember(ctx, id) // held until commit: a revocation cannot slip in between
	if errors.Is(err, store.ErrNotFound) || err == nil && (m.Role != string(auth.RoleClient) || m.Status != "active") {
		f.add(name, "must be an active client of this tenant")
		return nil
	}
	return err
}

// reqCheckService adds a field error unless id names a service of this tenant (an active one
// when activeOnly).
func reqCheckService(ctx context.Context, sc *store.Scope, f *fields, id uuid.UUID, activeOnly bool) error {
	v, err := sc.GetService(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && activeOnly && !v.Active {
		f.add("service_id", "no such service")
		return nil
	}
	return err
}

// reqCheckAssignee adds a field error unless id names an active team member of this tenant.
func reqCheckAssignee(ctx context.Context, sc *store.Scope, f *fields, id uuid.UUID) error {
	v, err := sc.ShareTeamMember(ctx, id) // held until commit: a deactivation cannot slip in between
	if errors.Is(err, store.ErrNotFound) || err == nil && !v.Active {
		f.add("assignee_id", "must be an active team member")
		return nil
	}
	return err
}

func reqRequestID(v store.ServiceRequest) uuid.UUID { return v.ID }

// reqQueryID parses an optional id query parameter.
func reqQueryID(r *http.Request, name string) (*uuid.UUID, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return nil, nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return nil, errField(name, "must be an id")
	}
	return &id, nil
}

// reqQueryEnum parses an optional query parameter that must be one of allowed.
func reqQueryEnum(r *http.Request, name string, allowed []string) (string, error) {
	s := r.URL.Query().Get(name)
	if s != "" && !slices.Contains(allowed, s) {
		return "", errField(name, "must be one of "+strings.Join(allowed, ", "))
	}
	return s, nil
}

func reqListFilter(r *http.Request) (store.ServiceRequestFilter, error) {
	var f store.ServiceRequestFilter
	var err error
	if f.Status, err = reqQueryEnum(r, "status", reqStatuses); err != nil {
		return f, err
	}
	if f.Priority, err = reqQueryEnum(r, "priority", reqPriorities); err != nil {
		return f, err
	}
	if f.ClientID, err = reqQueryID(r, "client"); err != nil {
		return f, err
	}
	if f.AssigneeID, err = reqQueryID(r, "assignee"); err != nil {
		return f, err
	}
	return f, nil
}

func (s *Server) listServiceRequests(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	f, err := reqListFilter(r)
	if err != nil {
		return err
	}
	items, err := sc.ListServiceRequests(r.Context(), f, p)
	if err != nil {
		return err
	}
	return writeList(w, items, p, reqRequestID)
}

// reqBody is a service request as clients and staff send it; pointers and reqOptionalID tell
// which fields were given. Status and assignee are accepted only so that a misdirected change
// gets a precise message: they have their own routes.
type reqBody struct {
	ClientID    reqOptionalID `json:"client_id"`
	ServiceID   reqOptionalID `json:"service_id"`
	AssigneeID  reqOptionalID `json:"assignee_id"`
	Title       *string       `json:"title"`
	Description *string       `json:"description"`
	Priority    *string       `json:"priority"`
	Status      *string       `json:"status"`
}

// content validates title, description and priority over cur (the current values, or the
// defaults on create).
func (b reqBody) content(f *fields, cur store.ServiceRequestInput, create bool) store.ServiceRequestInput {
	if b.Title != nil || create {
		cur.Title = reqText(f, "title", b.Title, true, 200)
	}
	if b.Description != nil {
		cur.Description = reqText(f, "description", b.Description, false, 10000)
	}
	if b.Priority != nil {
		if !slices.Contains(reqPriorities, *b.Priority) {
			f.add("priority", "must be one of "+strings.Join(reqPriorities, ", "))
		}
		cur.Priority = *b.Priority
	}
	return cur
}

func (s *Server) createServiceRequest(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	ctx := r.Context()
	a := sc.Verified()
	var b reqBody
	if err := decode(r, &b); err != nil {
		return err
	}
	var f fields
	in := b.content(&f, store.ServiceRequestInput{Priority: "normal"}, true)
	if b.Status != nil && *b.Status != "new" {
		f.add("status", "new requests start as new; change it with PATCH .../status")
	}
	if b.ClientID.ID == nil {
		f.add("client_id", "is required")
	} else {
		in.ClientID = *b.ClientID.ID
		if err := reqCheckClient(ctx, sc, &f, "client_id", in.ClientID); err != nil {
			return err
		}
	}
	if in.ServiceID = b.ServiceID.ID; in.ServiceID != nil {
		if err := reqCheckService(ctx, sc, &f, *in.ServiceID, false); err != nil {
			return err
		}
	}
	if in.AssigneeID = b.AssigneeID.ID; in.AssigneeID != nil {
		if !auth.Role(a.Role).Allows(auth.PermRequestsAssign) {
			return errForbidden("Assigning a request needs the requests.assign permission.")
		}
		if err := reqCheckAssignee(ctx, sc, &f, *in.AssigneeID); err != nil {
			return err
		}
	}
	if err := f.err(); err != nil {
		return err
	}
	return s.insertServiceRequest(w, r, sc, in)
}

func (s *Server) getServiceRequest(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := sc.GetServiceRequest(r.Context(), id, nil)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func reqInput(v store.ServiceRequest) store.ServiceRequestInput {
	return store.ServiceRequestInput{ClientID: v.ClientID, ServiceID: v.ServiceID, Title: v.Title,
		Description: v.Description, Priority: v.Priority}
}

// patchServiceRequest changes a request's content. The client, status and assignee are not
// changed here: a request never moves to another client, and status and assignment have their
// own routes with their own rules and permissions. The request is read locked, so the fields
// a PATCH does not send are written back as they are, not as they were before a concurrent
// change (a client's edit, another member of staff's) committed.
func (s *Server) patchServiceRequest(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b reqBody
	if err := decode(r, &b); err != nil {
		return err
	}
	cur, err := sc.GetServiceRequestForUpdate(ctx, id, nil)
	if err != nil {
		return err
	}
	if !b.ClientID.Set && !b.ServiceID.Set && !b.AssigneeID.Set && b.Title == nil && b.Description == nil && b.Priority == nil && b.Status == nil {
		return errValidation("Nothing to change: send title, description, priority or service_id.")
	}
	var f fields
	in := b.content(&f, reqInput(cur), false)
	if b.ClientID.Set && (b.ClientID.ID == nil || *b.ClientID.ID != cur.ClientID) {
		f.add("client_id", "cannot be changed")
	}
	if b.Status != nil {
		f.add("status", "is changed with PATCH /api/admin/service-requests/{id}/status")
	}
	if b.AssigneeID.Set {
		f.add("assignee_id", "is changed with POST /api/admin/service-requests/{id}/assign")
	}
	if b.ServiceID.Set {
		in.ServiceID = b.ServiceID.ID
		if in.ServiceID != nil && (cur.ServiceID == nil || *cur.ServiceID != *in.ServiceID) {
			if err := reqCheckService(ctx, sc, &f, *in.ServiceID, false); err != nil {
				return err
			}
		}
	}
	if err := f.err(); err != nil {
		return err
	}
	v, err := sc.UpdateServiceRequest(ctx, id, nil, in)
	if err != nil {
		return err
	}
	if err := sc.AuditEvent(ctx, "service_request.update", "service_request", id.String(), nil); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) deleteServiceRequest(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := sc.DeleteServiceRequest(r.Context(), id); err != nil {
		var ce *store.ConflictError
		if errors.As(err, &ce) {
			return errConflict("Bookings, work orders, invoices or attachments still refer to this request; cancel it instead.")
		}
		return err
	}
	if err := sc.AuditEvent(r.Context(), "service_request.delete", "service_request", id.String(), nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type reqAssignBody struct {
	AssigneeID reqOptionalID `json:"assignee_id"`
}

// assignServiceRequest sets the request's assignee to an active team member, or clears it
// with null. A finished request keeps the assignee it finished with. The request is read
// locked, so that rule and the audited previous assignee are those of the request as it is.
func (s *Server) assignServiceRequest(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b reqAssignBody
	if err := decode(r, &b); err != nil {
		return err
	}
	cur, err := sc.GetServiceRequestForUpdate(ctx, id, nil)
	if err != nil {
		return err
	}
	var f fields
	if !b.AssigneeID.Set {
		f.add("assignee_id", "is required: a team member id, or null to unassign")
	} else if b.AssigneeID.ID != nil {
		if err := reqCheckAssignee(ctx, sc, &f, *b.AssigneeID.ID); err != nil {
			return err
		}
	}
	if err := f.err(); err != nil {
		return err
	}
	if _, open := reqTransitions[cur.Status]; !open {
		return errConflict(fmt.Sprintf("The request is %s; its assignment can no longer change.", cur.Status))
	}
	v, err := sc.AssignServiceRequest(ctx, id, b.AssigneeID.ID)
	if err != nil {
		return reqStatusConflict(err)
	}
	if err := sc.AuditEvent(ctx, "service_request.assign", "service_request", id.String(),
		map[string]any{"from": cur.AssigneeID, "to": v.AssigneeID}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// reqStatusConflict explains a status race lost to a concurrent change.
func reqStatusConflict(err error) error {
	var ce *store.ConflictError
	if errors.As(err, &ce) {
		return errConflict("The request's status changed meanwhile; reload it and try again.")
	}
	return err
}

type reqStatusBody struct {
	Status *string `json:"status"`
}

// setServiceRequestStatus moves a request along its workflow (reqTransitions). The request is
// read locked, so the transition is checked against the status it has now: setting the status
// a concurrent request has just set is the no-op a retry is, not a conflict.
func (s *Server) setServiceRequestStatus(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b reqStatusBody
	if err := decode(r, &b); err != nil {
		return err
	}
	cur, err := sc.GetServiceRequestForUpdate(ctx, id, nil)
	if err != nil {
		return err
	}
	if b.Status == nil || !slices.Contains(reqStatuses, *b.Status) {
		return errField("status", "is required: one of "+strings.Join(reqStatuses, ", "))
	}
	return s.reqMove(w, r, sc, cur, nil, *b.Status)
}

// reqMove applies a status change to cur (clientID limits it to that client's request) and
// writes the result.
func (s *Server) reqMove(w http.ResponseWriter, r *http.Request, sc *store.Scope, cur store.ServiceRequest, clientID *uuid.UUID, to string) error {
	if err := reqCheckTransition(cur.Status, to); err != nil {
		return err
	}
	if cur.Status == to {
		return writeJSON(w, http.StatusOK, cur)
	}
	v, err := sc.TransitionServiceRequest(r.Context(), cur.ID, clientID, cur.Status, to)
	if err != nil {
		return reqStatusConflict(err)
	}
	if err := sc.AuditEvent(r.Context(), "service_request.status", "service_request", cur.ID.String(),
		map[string]any{"from": cur.Status, "to": to}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// The portal: requests.own is held only by clients, so the caller is always a client and
// every query is limited to the caller's own requests.

func (s *Server) listPortalServiceRequests(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	var f store.ServiceRequestFilter
	if f.Status, err = reqQueryEnum(r, "status", reqStatuses); err != nil {
		return err
	}
	a, err := sc.Verify(r.Context())
	if err != nil {
		return err
	}
	f.ClientID = &a.UserID
	items, err := sc.ListServiceRequests(r.Context(), f, p)
	if err != nil {
		return err
	}
	return writeList(w, items, p, reqRequestID)
}

// insertServiceRequest stores a validated request (from staff or from the client portal),
// records it and answers 201.
func (s *Server) insertServiceRequest(w http.ResponseWriter, r *http.Request, sc *store.Scope, in store.ServiceRequestInput) error {
	v, err := sc.CreateServiceRequest(r.Context(), in)
	if err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "service_request.create", "service_request", v.ID.String(), map[string]any{"client_id": v.ClientID}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

// reqPortalBody is what a client may send about their own request.
type reqPortalBody struct {
	ServiceID   reqOptionalID `json:"service_id"`
	Title       *string       `json:"title"`
	Description *string       `json:"description"`
	Priority    *string       `json:"priority"`
	Status      *string       `json:"status"`
}

func (s *Server) createPortalServiceRequest(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	ctx := r.Context()
	a := sc.Verified()
	var b reqPortalBody
	if err := decode(r, &b); err != nil {
		return err
	}
	var f fields
	in := reqBody{Title: b.Title, Description: b.Description, Priority: b.Priority}.
		content(&f, store.ServiceRequestInput{ClientID: a.UserID, Priority: "normal"}, true)
	if b.Status != nil && *b.Status != "new" {
		f.add("status", "new requests start as new")
	}
	if in.ServiceID = b.ServiceID.ID; in.ServiceID != nil {
		if err := reqCheckService(ctx, sc, &f, *in.ServiceID, true); err != nil {
			return err
		}
	}
	if err := f.err(); err != nil {
		return err
	}
	return s.insertServiceRequest(w, r, sc, in)
}

// getPortalServiceRequest reads the row in the same round trip as the caller's verification,
// then applies the client-own rule: another client's request is the same 404 as a missing one.
func (s *Server) getPortalServiceRequest(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := sc.GetServiceRequest(r.Context(), id, nil)
	if err != nil {
		return err
	}
	a, err := sc.Verify(r.Context())
	if err != nil {
		return err
	}
	if v.ClientID != a.UserID {
		return errNotFound()
	}
	return writeJSON(w, http.StatusOK, v)
}

// patchPortalServiceRequest lets a client change the title and description of their own
// request while it is still new, or cancel it (while it is not finished). The request is read
// locked, so an edit that waited for staff's change of the status is refused once the request
// is being handled, and one that waited for staff's change of the priority keeps it.
func (s *Server) patchPortalServiceRequest(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	ctx := r.Context()
	a := sc.Verified()
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b reqPortalBody
	if err := decode(r, &b); err != nil {
		return err
	}
	own := &a.UserID
	cur, err := sc.GetServiceRequestForUpdate(ctx, id, own)
	if err != nil {
		return err
	}
	var f fields
	in := reqBody{Title: b.Title, Description: b.Description}.content(&f, reqInput(cur), false)
	if b.Priority != nil {
		f.add("priority", "is set by the firm")
	}
	if b.ServiceID.Set {
		f.add("service_id", "cannot be changed; open a new request")
	}
	if b.Status != nil && *b.Status != "cancelled" {
		f.add("status", "clients may only cancel (status: cancelled)")
	}
	if b.Title == nil && b.Description == nil && b.Status == nil && len(f) == 0 {
		return errValidation("Nothing to change: send title, description or status.")
	}
	if err := f.err(); err != nil {
		return err
	}
	// Sending the values a request already has is not an edit, so a client that resends the
	// whole request to cancel it is not refused.
	edits := in.Title != cur.Title || in.Description != cur.Description
	if edits && cur.Status != "new" {
		return errConflict("The request is being handled; its title and description can no longer change.")
	}
	if edits {
		if cur, err = sc.UpdateServiceRequest(ctx, id, own, in); err != nil {
			return err
		}
		if err := sc.AuditEvent(ctx, "service_request.update", "service_request", id.String(), nil); err != nil {
			return err
		}
	}
	if b.Status == nil {
		return writeJSON(w, http.StatusOK, cur)
	}
	return s.reqMove(w, r, sc, cur, own, *b.Status)
}
