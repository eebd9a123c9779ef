package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/auth"
	"tenantd/internal/store"
	"tenantd/internal/tenancy"
)

func (s *Server) bookingRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/bookings", Kind: KindTenant, Permission: auth.PermBookingsUse, Summary: "List bookings (clients: their own)", Handler: s.listBookings},
		{Method: "POST", Pattern: "/api/bookings", Kind: KindTenant, Permission: auth.PermBookingsUse, Creates: true, Summary: "Create a booking (clients: for themselves)", Handler: s.createBooking},
		{Method: "GET", Pattern: "/api/bookings/{id}", Kind: KindTenant, Permission: auth.PermBookingsUse, Summary: "Get a booking", Handler: s.getBooking},
		{Method: "PUT", Pattern: "/api/bookings/{id}", Kind: KindTenant, Permission: auth.PermBookingsUse, Summary: "Replace a booking's schedule and notes", Handler: s.putBooking},
		{Method: "DELETE", Pattern: "/api/bookings/{id}", Kind: KindTenant, Permission: auth.PermBookingsUse, Summary: "Delete a booking", Handler: s.deleteBooking},
		{Method: "POST", Pattern: "/api/bookings/{id}/confirm", Kind: KindTenant, Permission: auth.PermBookingsConfirm, Summary: "Confirm a booking", Handler: s.confirmBooking},
		{Method: "GET", Pattern: "/api/bookings/availability", Kind: KindPublic, HostTenant: true, Summary: "Free slots for a service on a date", Handler: s.availability},
		{Method: "GET", Pattern: "/api/admin/bookings", Kind: KindTenant, Permission: auth.PermBookingsAll, Summary: "Every booking, with filters", Handler: s.adminBookings},
		{Method: "GET", Pattern: "/api/admin/bookings/stats", Kind: KindTenant, Permission: auth.PermBookingsAll, Summary: "Booking counts", Handler: s.bookingStats},
		{Method: "GET", Pattern: "/api/portal/bookings", Kind: KindTenant, Permission: auth.PermBookingsUse, Summary: "The caller's own bookings", Handler: s.portalBookings},
		{Method: "POST", Pattern: "/api/portal/bookings", Kind: KindTenant, Permission: auth.PermBookingsUse, Creates: true, Summary: "Book for oneself", Handler: s.portalCreateBooking},
	}
}

func bookingID(b store.Booking) uuid.UUID { return b.ID }

// ownFilter is the client-own rule: clients are limited to their own records, staff are not.
func ownFilter(a *store.Access) *uuid.UUID {
	if auth.Role(a.Role).IsStaff() {
		return nil
	}
	return &a.UserID
}

func bookingFilter(r *http.Request) (store.BookingFilter, error) {
	var f store.BookingFilter
	var err error
	if f.From, err = queryTime(r, "from"); err != nil {
		return f, err
	}
	if f.To, err = queryTime(r, "to"); err != nil {
		return f, err
	}
	f.Status = r.URL.Query().Get("status")
	if f.Status != "" && !slices.Contains(bookingStatuses, f.Status) {
		return f, errField("status", "must be one of pending, confirmed, cancelled, completed")
	}
	if c := r.URL.Query().Get("client"); c != "" {
		id, err := uuid.Parse(c)
		if err != nil {
			return f, errField("client", "must be a user id")
		}
		f.ClientID = &id
	}
	return f, nil
}

var bookingStatuses = []string{"pending", "confirmed", "cancelled", "completed"}

// bookingTransitions are the status changes staff may make through PUT, the same lifecycle the
// action routes keep: a completed booking is final, and a cancelled one may only be reopened as
// pending, to be confirmed again (POST .../confirm refuses it as it stands).
var bookingTransitions = map[string][]string{
	"pending":   {"confirmed", "cancelled", "completed"},
	"confirmed": {"pending", "cancelled", "completed"},
	"cancelled": {"pending"},
	"completed": {},
}

func (s *Server) listBookingsFor(w http.ResponseWriter, r *http.Request, sc *store.Scope, own bool) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	f, err := bookingFilter(r)
	if err != nil {
		return err
	}
	a, err := sc.Verify(r.Context())
	if err != nil {
		return err
	}
	if own {
		f.ClientID = &a.UserID
	} else if c := ownFilter(a); c != nil {
		f.ClientID = c
	}
	items, err := sc.ListBookings(r.Context(), f, p)
	if err != nil {
		return err
	}
	return writeList(w, items, p, bookingID)
}

func (s *Server) listBookings(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	return s.listBookingsFor(w, r, sc, false)
}

func (s *Server) portalBookings(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	return s.listBookingsFor(w, r, sc, true)
}

func (s *Server) adminBookings(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	return s.listBookingsFor(w, r, sc, false)
}

// getBooking reads the row in the same round trip as the caller's verification, then applies
// the client-own rule: another client's booking is the same 404 as a missing one.
func (s *Server) getBooking(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	b, err := sc.GetBooking(r.Context(), id, nil)
	if err != nil {
		return err
	}
	if c := ownFilter(sc.Verified()); c != nil && b.ClientID != *c {
		return errNotFound()
	}
	return writeJSON(w, http.StatusOK, b)
}

type bookingBody struct {
	ServiceID        *uuid.UUID `json:"service_id"`
	ClientID         *uuid.UUID `json:"client_id"`
	ServiceRequestID *uuid.UUID `json:"service_request_id"`
	AssigneeID       *uuid.UUID `json:"assignee_id"`
	StartsAt         *time.Time `json:"starts_at"`
	EndsAt           *time.Time `json:"ends_at"`
	Notes            string     `json:"notes"`
	Status           string     `json:"status"`
}

func (b bookingBody) validate(f *fields) {
	if b.ServiceID == nil {
		f.add("service_id", "is required")
	}
	if b.StartsAt == nil {
		f.add("starts_at", "is required (RFC 3339)")
	}
	if b.StartsAt != nil && b.EndsAt != nil && !b.EndsAt.After(*b.StartsAt) {
		f.add("ends_at", "must be after starts_at")
	}
	if b.StartsAt != nil && b.EndsAt != nil && b.EndsAt.Sub(*b.StartsAt) > store.MaxBookingLength {
		f.add("ends_at", "must be at most 7 days (168 hours) after starts_at")
	}
	if charCount(b.Notes) > 5000 {
		f.add("notes", "is at most 5000 characters")
	}
	if b.Status != "" && !slices.Contains(bookingStatuses, b.Status) {
		f.add("status", "must be one of pending, confirmed, cancelled, completed")
	}
}

// createBookingAs creates a booking. Staff on /api/bookings book for the client they name, with
// the reference checks the service-request and invoice routes make: the client must be an
// active CLIENT member, a service request must be that client's, and an assignee must be an
// active team member. Beyond that staff are unrestricted (an inactive service, a past
// appointment being recorded, a time outside the booking page's slots). Everyone else books
// for themselves, online, and gets only what the public booking page offers: an active
// service, a time in the future, and exactly one of the slots availability lists (see
// selfBookingSlot). Their booking starts pending, for staff to confirm, unless the booking
// settings say online bookings need no confirmation (require_confirmation false): then it is
// confirmed at once.
func (s *Server) createBookingAs(w http.ResponseWriter, r *http.Request, sc *store.Scope, forSelf bool) error {
	ctx := r.Context()
	a := sc.Verified()
	var b bookingBody
	if err := decode(r, &b); err != nil {
		return err
	}
	var f fields
	b.validate(&f)
	staff := auth.Role(a.Role).IsStaff() && !forSelf
	client := a.UserID
	switch {
	case staff && b.ClientID == nil:
		f.add("client_id", "is required")
	case staff:
		client = *b.ClientID
	case b.ClientID != nil && *b.ClientID != a.UserID:
		f.add("client_id", "clients book for themselves")
	}
	if !staff && (b.Status != "" && b.Status != "pending") {
		f.add("status", "is set by the firm: leave it out (or pending)")
	}
	if !staff && b.AssigneeID != nil {
		f.add("assignee_id", "is set by staff")
	}
	if err := f.err(); err != nil {
		return err
	}
	in := store.BookingInput{ServiceID: *b.ServiceID, ClientID: client, ServiceRequestID: b.ServiceRequestID,
		AssigneeID: b.AssigneeID, StartsAt: *b.StartsAt, Notes: b.Notes, Status: b.Status, ActiveOnly: !staff}
	if b.EndsAt != nil {
		in.EndsAt = *b.EndsAt
	}
	if staff {
		if err := reqCheckClient(ctx, sc, &f, "client_id", client); err != nil {
			return err
		}
		if in.AssigneeID != nil {
			if err := reqCheckAssignee(ctx, sc, &f, *in.AssigneeID); err != nil {
				return err
			}
		}
	} else {
		if err := reqCheckService(ctx, sc, &f, in.ServiceID, true); err != nil {
			return err
		}
		if !in.StartsAt.After(s.now()) {
			f.add("starts_at", "must be in the future")
		}
	}
	if in.ServiceRequestID != nil && len(f) == 0 {
		// A booking may only be attached to a request of its own client (billCheckRequest).
		if _, err := sc.OwnServiceRequest(ctx, *in.ServiceRequestID, client); errors.Is(err, store.ErrNotFound) {
			f.add("service_request_id", "no such service request for this client")
		} else if err != nil {
			return err
		}
	}
	if err := f.err(); err != nil {
		return err
	}
	if !staff {
		slot, set, err := s.selfBookingSlot(ctx, sc, in, nil)
		if err != nil {
			return err
		}
		in.EndsAt = slot.EndsAt
		if !set.RequireConfirmation {
			// The firm takes online bookings without confirming them: the slot is the client's.
			in.Status = "confirmed"
		}
	}
	v, err := sc.CreateBooking(ctx, in)
	if errors.Is(err, store.ErrNotFound) {
		return errField("service_id", "no such service")
	}
	if errors.Is(err, store.ErrInvalidReference) {
		return errValidation("client_id, service_request_id or assignee_id names nothing in this tenant.")
	}
	if err != nil {
		return err
	}
	if err := sc.AuditEvent(ctx, "booking.create", "booking", v.ID.String(), nil); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

// selfBookingSlot is the slot an online booking takes: starts_at must be the start of a slot
// GET /api/bookings/availability offers for the service (the store decides it with the same
// rules, under a lock, so a slot is not sold twice), and ends_at, when given, its end. A
// refused time is a 422 naming starts_at that says which rule it breaks. Online booking
// switched off in the booking settings is a 409: it is the firm's current state, not a
// problem with any field (no starts_at would do) nor a permission the client's role lacks.
func (s *Server) selfBookingSlot(ctx context.Context, sc *store.Scope, in store.BookingInput, moving *uuid.UUID) (store.Slot, store.BookingSettings, error) {
	svc, err := sc.GetService(ctx, in.ServiceID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Slot{}, store.BookingSettings{}, errField("service_id", "no such service")
	}
	if err != nil {
		return store.Slot{}, store.BookingSettings{}, err
	}
	o, err := sc.OfferedSlot(ctx, svc, in.StartsAt, s.now(), moving)
	if err != nil {
		return store.Slot{}, store.BookingSettings{}, err
	}
	set := o.Settings
	why := ""
	switch o.Refusal {
	case store.SlotOffered:
		if !in.EndsAt.IsZero() && !in.EndsAt.Equal(o.Slot.EndsAt) {
			return store.Slot{}, set, errField("ends_at", fmt.Sprintf("must be the end of the slot (starts_at + %d minutes), or left out", svc.DurationMinutes))
		}
		return o.Slot, set, nil
	case store.SlotBookingClosed:
		return store.Slot{}, set, errConflict("Online booking is switched off; please contact us to make an appointment.")
	case store.SlotTooSoon:
		why = fmt.Sprintf("is within the minimum notice of %d minutes", set.MinNoticeMinutes)
	case store.SlotClosedDay:
		why = "is not on a working day"
	case store.SlotTooFarAhead:
		why = fmt.Sprintf("is more than %d days ahead", set.MaxAdvanceDays)
	case store.SlotOutsideHours:
		why = fmt.Sprintf("is outside working hours (%s to %s, %s) for a %d-minute service",
			clockMinute(set.DayStartMinute), clockMinute(set.DayEndMinute), set.Timezone, svc.DurationMinutes)
	case store.SlotOffGrid:
		why = fmt.Sprintf("is not a slot start (every %d minutes from %s, %s)", set.SlotMinutes, clockMinute(set.DayStartMinute), set.Timezone)
	default:
		why = "is no longer free"
	}
	return store.Slot{}, set, errField("starts_at", why+"; see GET /api/bookings/availability for the times offered")
}

// clockMinute writes a minute of the day as HH:MM.
func clockMinute(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

func (s *Server) createBooking(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	return s.createBookingAs(w, r, sc, false)
}

func (s *Server) portalCreateBooking(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	return s.createBookingAs(w, r, sc, true)
}

// putBooking replaces a booking's service, schedule, notes and status. Clients may change only
// their own bookings, and only to reschedule or cancel: the service, client, request, assignee
// and confirmation are staff's. A client's reschedule of a confirmed booking makes it pending
// again, so that staff confirm the new time (unless the booking settings say online bookings
// need no confirmation); a cancelled or completed booking is final for
// them. The booking stays locked from this read to the commit, so these rules are decided on
// what is really being replaced.
func (s *Server) putBooking(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	a := sc.Verified()
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b bookingBody
	if err := decode(r, &b); err != nil {
		return err
	}
	own := ownFilter(a)
	cur, err := sc.GetBookingForUpdate(r.Context(), id, own)
	if err != nil {
		return err
	}
	if own != nil && (cur.Status == "cancelled" || cur.Status == "completed") {
		return errConflict("This booking is " + cur.Status + " and can no longer be changed.")
	}
	var f fields
	b.validate(&f)
	if b.ClientID != nil && *b.ClientID != cur.ClientID {
		f.add("client_id", "cannot be changed; create a new booking")
	}
	if b.ServiceRequestID != nil && (cur.ServiceRequestID == nil || *b.ServiceRequestID != *cur.ServiceRequestID) {
		f.add("service_request_id", "cannot be changed")
	}
	if b.Status == "" {
		b.Status = cur.Status
	}
	if own == nil && b.Status != cur.Status && !slices.Contains(bookingTransitions[cur.Status], b.Status) {
		return errConflict(fmt.Sprintf("A booking cannot move from %s to %s.", cur.Status, b.Status))
	}
	if own != nil {
		if b.ServiceID != nil && *b.ServiceID != cur.ServiceID {
			f.add("service_id", "cannot be changed by a client; cancel this booking and book the other service")
		}
		if b.Status != cur.Status && b.Status != "cancelled" {
			f.add("status", "clients may only cancel")
		}
		if b.AssigneeID != nil && (cur.AssigneeID == nil || *b.AssigneeID != *cur.AssigneeID) {
			f.add("assignee_id", "is set by staff")
		}
		b.AssigneeID = cur.AssigneeID
	} else if b.AssigneeID != nil && (cur.AssigneeID == nil || *b.AssigneeID != *cur.AssigneeID) {
		// A new assignee must be an active team member; one kept as it was is not checked
		// again (they may have left since, and the booking still records who had it).
		if err := reqCheckAssignee(r.Context(), sc, &f, *b.AssigneeID); err != nil {
			return err
		}
	}
	if err := f.err(); err != nil {
		return err
	}
	// A client's reschedule of a confirmed booking needs staff's confirmation again.
	in := store.BookingInput{ServiceID: *b.ServiceID, AssigneeID: b.AssigneeID, StartsAt: *b.StartsAt, Notes: b.Notes, Status: b.Status,
		Reconfirm: own != nil}
	if b.EndsAt != nil {
		in.EndsAt = *b.EndsAt
	}
	if own != nil && b.Status != "cancelled" {
		if b.EndsAt == nil && in.StartsAt.Equal(cur.StartsAt) {
			in.EndsAt = cur.EndsAt // not moved: an edit of the notes keeps the end staff set
		}
		if !in.StartsAt.Equal(cur.StartsAt) || !in.EndsAt.IsZero() && !in.EndsAt.Equal(cur.EndsAt) {
			// A client moves a booking only to a time they could book: one availability
			// offers, not counting the booking's own current time as taken.
			slot, set, err := s.selfBookingSlot(r.Context(), sc, in, &id)
			if err != nil {
				return err
			}
			in.EndsAt = slot.EndsAt
			// Where online bookings need no confirmation, a move needs none either.
			in.Reconfirm = set.RequireConfirmation
		}
	}
	v, err := sc.UpdateBooking(r.Context(), id, own, in)
	if errors.Is(err, store.ErrNotFound) {
		return errField("service_id", "no such service")
	}
	if errors.Is(err, store.ErrInvalidReference) {
		return errField("assignee_id", "no such team member")
	}
	if err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "booking.update", "booking", id.String(), nil); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// deleteBooking removes a booking. Staff may delete any. A client may only withdraw their own
// booking while it is pending: once confirmed it is cancelled through PUT (which staff see),
// and a cancelled or completed one is final for them, as putBooking rules; deleting it would
// erase the record those rules keep. The booking is read with the client-own filter and
// locked until the commit, so another client's booking is the same 404 as a missing one and
// the status cannot change between the decision and the delete.
func (s *Server) deleteBooking(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	own := ownFilter(sc.Verified())
	if own != nil {
		cur, err := sc.GetBookingForUpdate(r.Context(), id, own)
		if err != nil {
			return err
		}
		switch cur.Status {
		case "pending":
		case "confirmed":
			return errConflict("This booking is confirmed; only a pending booking can be withdrawn. Cancel it instead.")
		default:
			return errConflict("This booking is " + cur.Status + " and can no longer be changed.")
		}
	}
	if err := sc.DeleteBooking(r.Context(), id, own); err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "booking.delete", "booking", id.String(), nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) confirmBooking(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := sc.ConfirmBooking(r.Context(), id)
	var ce *store.ConflictError
	if errors.As(err, &ce) {
		return errConflict("Only a pending booking can be confirmed.")
	}
	if err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "booking.confirm", "booking", id.String(), nil); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) bookingStats(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	st, err := sc.GetBookingStats(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

// availability lists free slots of a service on a date, for the public booking page.
func (s *Server) availability(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	q := r.URL.Query()
	var f fields
	slug := q.Get("service")
	if !tenancy.SlugPattern.MatchString(slug) {
		f.add("service", "is required: a service slug")
	}
	day, ok := parseDate(q.Get("date"))
	if !ok {
		f.add("date", "is required: YYYY-MM-DD")
	}
	if err := f.err(); err != nil {
		return err
	}
	svc, slots, err := sc.Availability(r.Context(), slug, day, s.now())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"service": svc.Slug, "date": day.Format(time.DateOnly), "slots": slots})
}
