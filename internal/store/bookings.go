package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Booking is a client's appointment for a service.
type Booking struct {
	ID               uuid.UUID  `json:"id"`
	ServiceID        uuid.UUID  `json:"service_id"`
	ClientID         uuid.UUID  `json:"client_id"`
	ServiceRequestID *uuid.UUID `json:"service_request_id"`
	AssigneeID       *uuid.UUID `json:"assignee_id"`
	StartsAt         time.Time  `json:"starts_at"`
	EndsAt           time.Time  `json:"ends_at"`
	Status           string     `json:"status"`
	Notes            string     `json:"notes"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
}

const bookingColumns = `id, service_id, client_id, service_request_id, assignee_id, starts_at, ends_at, status, notes, created_at, updated_at`

func scanBooking(r pgx.Rows) (Booking, error) {
	var b Booking
	err := r.Scan(&b.ID, &b.ServiceID, &b.ClientID, &b.ServiceRequestID, &b.AssigneeID, &b.StartsAt, &b.EndsAt, &b.Status, &b.Notes, &b.CreatedAt, &b.UpdatedAt)
	return b, err
}

func (sc *Scope) oneBooking(ctx context.Context, sql string, args ...any) (Booking, error) {
	items, err := collect(ctx, sc, sql, args, scanBooking)
	if err != nil {
		return Booking{}, err
	}
	if len(items) == 0 {
		return Booking{}, ErrNotFound
	}
	return items[0], nil
}

// BookingFilter narrows a booking list. ClientID restricts it to one client's bookings (the
// client-own rule); nil means every client.
type BookingFilter struct {
	ClientID *uuid.UUID
	Status   string
	From, To *time.Time
}

// ListBookings lists bookings, newest first.
func (sc *Scope) ListBookings(ctx context.Context, f BookingFilter, p Page) ([]Booking, error) {
	return collect(ctx, sc, `SELECT `+bookingColumns+` FROM bookings
		WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id < $2) AND ($3::uuid IS NULL OR client_id = $3)
		  AND ($4 = '' OR status = $4) AND ($5::timestamptz IS NULL OR starts_at >= $5) AND ($6::timestamptz IS NULL OR starts_at < $6)
		ORDER BY id DESC LIMIT $7`,
		[]any{sc.TenantID(), p.Before, f.ClientID, f.Status, f.From, f.To, p.limitPlusOne()}, scanBooking)
}

// GetBooking returns one booking. clientID, when not nil, restricts it to that client's own
// bookings: another client's booking is ErrNotFound, exactly like a missing one.
func (sc *Scope) GetBooking(ctx context.Context, id uuid.UUID, clientID *uuid.UUID) (Booking, error) {
	return sc.oneBooking(ctx, `SELECT `+bookingColumns+` FROM bookings
		WHERE tenant_id = $1 AND id = $2 AND ($3::uuid IS NULL OR client_id = $3)`, sc.TenantID(), id, clientID)
}

// GetBookingForUpdate is GetBooking inside a write transaction, with the row locked until the
// transaction ends: a change decided on what it returned (a client's reschedule, say) cannot
// be based on a service or status that another request is changing at the same moment.
func (sc *Scope) GetBookingForUpdate(ctx context.Context, id uuid.UUID, clientID *uuid.UUID) (Booking, error) {
	return sc.oneBooking(ctx, `SELECT `+bookingColumns+` FROM bookings
		WHERE tenant_id = $1 AND id = $2 AND ($3::uuid IS NULL OR client_id = $3) FOR UPDATE`, sc.TenantID(), id, clientID)
}

// BookingInput is the writable part of a booking. EndsAt zero means "starts_at + the service's
// duration".
type BookingInput struct {
	ServiceID        uuid.UUID
	ClientID         uuid.UUID
	ServiceRequestID *uuid.UUID
	AssigneeID       *uuid.UUID
	StartsAt         time.Time
	EndsAt           time.Time
	Notes            string
	Status           string
	// ActiveOnly (CreateBooking): the service must be active, as a client's own booking needs;
	// decided by the insert itself, so a service switched off meanwhile cannot be booked.
	ActiveOnly bool
	// Reconfirm (UpdateBooking): when the booking is written as confirmed but its start or end
	// moves, it goes back to pending instead, to be confirmed again by staff (a client's
	// reschedule). The comparison is made by the database, with the end it actually stores.
	Reconfirm bool
}

// CreateBooking adds a booking. The service, client, request and assignee must exist in this
// tenant: the composite foreign keys refuse anything else (ReferenceError). A missing service,
// or an inactive one when in.ActiveOnly, is ErrNotFound.
func (sc *Scope) CreateBooking(ctx context.Context, in BookingInput) (Booking, error) {
	if in.Status == "" {
		in.Status = "pending"
	}
	return sc.oneBooking(ctx, `INSERT INTO bookings (tenant_id, id, service_id, client_id, service_request_id, assignee_id, starts_at, ends_at, notes, status)
		SELECT $1, $2, s.id, $4, $5, $6, $7,
		       CASE WHEN $8::timestamptz IS NULL THEN $7::timestamptz + make_interval(mins => s.duration_minutes) ELSE $8 END, $9, $10
		FROM services s WHERE s.tenant_id = $1 AND s.id = $3 AND (s.active OR NOT $11)
		RETURNING `+bookingColumns,
		sc.TenantID(), NewID(), in.ServiceID, in.ClientID, in.ServiceRequestID, in.AssigneeID, in.StartsAt, nullTime(in.EndsAt), in.Notes, in.Status,
		in.ActiveOnly)
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// UpdateBooking replaces a booking's service, assignee, schedule, notes and status as given;
// which of them a caller may change is the caller's to decide (clients: see putBooking).
// clientID restricts the change to that client's own booking.
func (sc *Scope) UpdateBooking(ctx context.Context, id uuid.UUID, clientID *uuid.UUID, in BookingInput) (Booking, error) {
	return sc.oneBooking(ctx, `UPDATE bookings b SET service_id = s.id, assignee_id = $5, starts_at = $6,
		    ends_at = e.ends_at, notes = $8,
		    status = CASE WHEN $10::boolean AND $9::text = 'confirmed' AND (b.starts_at <> $6 OR b.ends_at <> e.ends_at)
		                  THEN 'pending' ELSE $9::text END,
		    updated_at = now()
		FROM services s
		CROSS JOIN LATERAL (SELECT CASE WHEN $7::timestamptz IS NULL THEN $6::timestamptz + make_interval(mins => s.duration_minutes) ELSE $7 END AS ends_at) e
		WHERE b.tenant_id = $1 AND b.id = $2 AND ($3::uuid IS NULL OR b.client_id = $3)
		  AND s.tenant_id = $1 AND s.id = $4
		RETURNING b.id, b.service_id, b.client_id, b.service_request_id, b.assignee_id, b.starts_at, b.ends_at, b.status, b.notes, b.created_at, b.updated_at`,
		sc.TenantID(), id, clientID, in.ServiceID, in.AssigneeID, in.StartsAt, nullTime(in.EndsAt), in.Notes, in.Status, in.Reconfirm)
}

// DeleteBooking removes a booking (and its reminders). clientID restricts it to that client's
// own booking.
func (sc *Scope) DeleteBooking(ctx context.Context, id uuid.UUID, clientID *uuid.UUID) error {
	tag, err := sc.exec(ctx, `DELETE FROM bookings WHERE tenant_id = $1 AND id = $2 AND ($3::uuid IS NULL OR client_id = $3)`,
		sc.TenantID(), id, clientID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// ConfirmBooking marks a pending booking confirmed (confirming it again changes nothing); a
// cancelled or completed one is a conflict. The status is checked by the update itself, so a
// booking cancelled while this request waited for its row is not confirmed over the
// cancellation.
func (sc *Scope) ConfirmBooking(ctx context.Context, id uuid.UUID) (Booking, error) {
	b, err := sc.oneBooking(ctx, `UPDATE bookings SET status = 'confirmed', updated_at = now()
		WHERE tenant_id = $1 AND id = $2 AND status IN ('pending', 'confirmed') RETURNING `+bookingColumns, sc.TenantID(), id)
	if !errors.Is(err, ErrNotFound) {
		return b, err
	}
	if _, err := sc.GetBooking(ctx, id, nil); err != nil {
		return b, err
	}
	return b, &ConflictError{Constraint: "booking_status"}
}

// BookingStats summarises the tenant's bookings.
type BookingStats struct {
	Total     int64            `json:"total"`
	ByStatus  map[string]int64 `json:"by_status"`
	Upcoming  int64            `json:"upcoming"`
	ThisMonth int64            `json:"this_month"`
}

// GetBookingStats counts the tenant's bookings by status and time.
func (sc *Scope) GetBookingStats(ctx context.Context) (BookingStats, error) {
	type row struct {
		status           string
		n, up, thisMonth int64
	}
	rows, err := collect(ctx, sc, `SELECT status, count(*), count(*) FILTER (WHERE starts_at >= now()),
		       count(*) FILTER (WHERE starts_at >= date_trunc('month', now()) AND starts_at < date_trunc('month', now()) + interval '1 month')
		FROM bookings WHERE tenant_id = $1 GROUP BY status`, []any{sc.TenantID()}, func(r pgx.Rows) (row, error) {
		var x row
		err := r.Scan(&x.status, &x.n, &x.up, &x.thisMonth)
		return x, err
	})
	if err != nil {
		return BookingStats{}, err
	}
	st := BookingStats{ByStatus: map[string]int64{"pending": 0, "confirmed": 0, "cancelled": 0, "completed": 0}}
	for _, r := range rows {
		st.Total += r.n
		st.ByStatus[r.status] = r.n
		if r.status != "cancelled" {
			st.Upcoming += r.up
		}
		st.ThisMonth += r.thisMonth
	}
	return st, nil
}

// BookingSettings are the tenant's booking rules.
type BookingSettings struct {
	AllowOnlineBooking  bool      `json:"allow_online_booking"`
	RequireConfirmation bool      `json:"require_confirmation"`
	SlotMinutes         int       `json:"slot_minutes"`
	MinNoticeMinutes    int       `json:"min_notice_minutes"`
	MaxAdvanceDays      int       `json:"max_advance_days"`
	DayStartMinute      int       `json:"day_start_minute"`
	DayEndMinute        int       `json:"day_end_minute"`
	WorkingDays         []int32   `json:"working_days"`
	Timezone            string    `json:"timezone"`
	UpdatedAt           time.Time `json:"updated_at"`
}

const bookingSettingsColumns = `allow_online_booking, require_confirmation, slot_minutes, min_notice_minutes, max_advance_days,
	day_start_minute, day_end_minute, working_days, timezone, updated_at`

func (s *BookingSettings) dest() []any {
	return []any{&s.AllowOnlineBooking, &s.RequireConfirmation, &s.SlotMinutes, &s.MinNoticeMinutes, &s.MaxAdvanceDays,
		&s.DayStartMinute, &s.DayEndMinute, &s.WorkingDays, &s.Timezone, &s.UpdatedAt}
}

// GetBookingSettings reads the tenant's booking settings singleton.
func (sc *Scope) GetBookingSettings(ctx context.Context) (BookingSettings, error) {
	var s BookingSettings
	err := sc.queryRow(ctx, `SELECT `+bookingSettingsColumns+` FROM booking_settings WHERE tenant_id = $1`, []any{sc.TenantID()}, s.dest()...)
	return s, err
}

// PutBookingSettings replaces the tenant's booking settings.
func (sc *Scope) PutBookingSettings(ctx context.Context, in BookingSettings) (BookingSettings, error) {
	var s BookingSettings
	err := sc.queryRow(ctx, `UPDATE booking_settings SET allow_online_booking = $2, require_confirmation = $3, slot_minutes = $4,
		min_notice_minutes = $5, max_advance_days = $6, day_start_minute = $7, day_end_minute = $8, working_days = $9,
		timezone = $10, updated_at = now() WHERE tenant_id = $1 RETURNING `+bookingSettingsColumns,
		[]any{sc.TenantID(), in.AllowOnlineBooking, in.RequireConfirmation, in.SlotMinutes, in.MinNoticeMinutes, in.MaxAdvanceDays,
			in.DayStartMinute, in.DayEndMinute, in.WorkingDays, in.Timezone}, s.dest()...)
	return s, err
}

// Slot is a free interval offered for booking.
type Slot struct {
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
}

// Availability computes the free slots for a service on one day (in the tenant's time zone)
// from the booking settings, the service's duration and buffer, and the bookings that are not
// cancelled.
func (sc *Scope) Availability(ctx context.Context, serviceSlug string, day time.Time, now time.Time) (Service, []Slot, error) {
	svc, err := sc.GetServiceBySlug(ctx, serviceSlug, true)
	if err != nil {
		return svc, nil, err
	}
	set, err := sc.GetBookingSettings(ctx)
	if err != nil {
		return svc, nil, err
	}
	slots, err := sc.slotsOn(ctx, set, svc, set.dayStart(day), now, nil)
	return svc, slots, err
}

// location is the tenant's time zone, UTC when it cannot be loaded.
func (s BookingSettings) location() *time.Location {
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// dayStart is the midnight that starts day's calendar date (as written in day) in the
// tenant's time zone.
func (s BookingSettings) dayStart(day time.Time) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, s.location())
}

// clock is the instant the wall clock in the tenant's time zone shows minute (minutes after
// midnight; 1440 is the next midnight) on the date that starts at dayStart. Opening and closing
// are clock times, so on a day that daylight saving time makes 23 or 25 hours long they are not
// a fixed duration after midnight.
func (s BookingSettings) clock(dayStart time.Time, minute int) time.Time {
	return time.Date(dayStart.Year(), dayStart.Month(), dayStart.Day(), 0, minute, 0, 0, s.location())
}

// MaxBookingLength is the longest a booking may last (ends_at - starts_at). The database holds
// every booking to it: migration 00009_filter_indexes.sql adds the CHECK constraint
// bookings_length_check (ends_at - starts_at <= interval '168 hours'), and the two must change
// together. slotsOn relies on it to bound its read of a day's bookings from below: were the
// constraint relaxed alone, a longer booking would be missed by availability.
//
// Seven days: an online booking is one service and fits inside one opening day (slots end by
// closing time, and the API takes services of at most 1440 minutes); a booking made by staff is
// an appointment, and a week leaves room for a multi-day engagement while keeping the
// availability read to a week of bookings.
const MaxBookingLength = 7 * 24 * time.Hour

// slotsOn is the one definition of what may be booked online: on the day that starts at
// dayStart, every start on the slot grid from the opening minute such that the service fits
// before closing, not before the minimum notice, and clear (with the buffer on both sides) of
// every booking that is not cancelled; nothing on a closed day, beyond the maximum advance, or
// while online booking is switched off. Availability shows these, and OfferedSlot books only
// these.
func (sc *Scope) slotsOn(ctx context.Context, set BookingSettings, svc Service, dayStart time.Time, now time.Time, except *uuid.UUID) ([]Slot, error) {
	slots := []Slot{}
	if !set.AllowOnlineBooking || !containsDay(set.WorkingDays, isoWeekday(dayStart)) {
		return slots, nil
	}
	if dayStart.After(now.AddDate(0, 0, set.MaxAdvanceDays)) {
		return slots, nil
	}
	defs, err := sc.GetServiceDefaults(ctx)
	if err != nil {
		return nil, err
	}
	// A booking that overlaps the day ends after dayStart and lasts at most MaxBookingLength,
	// so it starts after dayStart - MaxBookingLength: with that lower bound ($5) the index on
	// (tenant_id, starts_at) reads at most eight days of bookings, not every earlier booking of
	// the tenant. ends_at > $2 stays the exact overlap test.
	busy, err := collect(ctx, sc, `SELECT starts_at, ends_at FROM bookings
		WHERE tenant_id = $1 AND status <> 'cancelled' AND starts_at > $5 AND starts_at < $3 AND ends_at > $2
		  AND ($4::uuid IS NULL OR id <> $4)
		ORDER BY starts_at`,
		[]any{sc.TenantID(), dayStart, dayStart.AddDate(0, 0, 1), except, dayStart.Add(-MaxBookingLength)}, func(r pgx.Rows) (Slot, error) {
			var s Slot
			err := r.Scan(&s.StartsAt, &s.EndsAt)
			return s, err
		})
	if err != nil {
		return nil, err
	}
	buffer := time.Duration(defs.BufferMinutes) * time.Minute
	length := time.Duration(svc.DurationMinutes) * time.Minute
	step := time.Duration(set.SlotMinutes) * time.Minute
	earliest := now.Add(time.Duration(set.MinNoticeMinutes) * time.Minute)
	end := set.clock(dayStart, set.DayEndMinute)
	for t := set.clock(dayStart, set.DayStartMinute); !t.Add(length).After(end); t = t.Add(step) {
		if t.Before(earliest) {
			continue
		}
		free := true
		for _, b := range busy {
			if t.Before(b.EndsAt.Add(buffer)) && t.Add(length).Add(buffer).After(b.StartsAt) {
				free = false
				break
			}
		}
		if free {
			slots = append(slots, Slot{StartsAt: t, EndsAt: t.Add(length)})
		}
	}
	return slots, nil
}

// SlotRefusal says why a start time is not one Availability offers.
type SlotRefusal int

// The reasons, in the order OfferedSlot tells them (the first that applies).
const (
	SlotOffered       SlotRefusal = iota // it is offered
	SlotBookingClosed                    // online booking is switched off: no time is offered
	SlotTooSoon                          // before now plus the minimum notice
	SlotClosedDay                        // not a working day
	SlotTooFarAhead                      // on a day beyond the maximum advance
	SlotOutsideHours                     // the service would not fit between opening and closing
	SlotOffGrid                          // not on the slot grid
	SlotTaken                            // overlaps (with the buffer) a booking that is not cancelled
)

// SlotOffer is OfferedSlot's answer.
type SlotOffer struct {
	Refusal  SlotRefusal
	Slot     Slot            // the offered slot, when Refusal is SlotOffered
	Settings BookingSettings // the rules it was decided by, to explain a refusal
}

// OfferedSlot decides whether a booking of service svc starting at start is one Availability
// offers at now, with the very rules Availability applies (slotsOn), so that an online booker
// can book exactly what the booking page shows. It locks the tenant's booking settings row
// until the transaction ends: two online bookings of one tenant are decided one after the
// other, each seeing the bookings committed before it (a slot is not sold twice), and the
// rules cannot change between the decision and the insert. except, when not nil, is a booking
// being moved, whose current time does not count as taken. Write transactions only.
func (sc *Scope) OfferedSlot(ctx context.Context, svc Service, start, now time.Time, except *uuid.UUID) (SlotOffer, error) {
	var set BookingSettings
	if err := sc.queryRow(ctx, `SELECT `+bookingSettingsColumns+` FROM booking_settings WHERE tenant_id = $1 FOR UPDATE`,
		[]any{sc.TenantID()}, set.dest()...); err != nil {
		return SlotOffer{}, err
	}
	out := SlotOffer{Settings: set}
	dayStart := set.dayStart(start.In(set.location()))
	slots, err := sc.slotsOn(ctx, set, svc, dayStart, now, except)
	if err != nil {
		return out, err
	}
	for _, s := range slots {
		if s.StartsAt.Equal(start) {
			out.Slot = s
			return out, nil
		}
	}
	// Not offered; say why, with the first of slotsOn's rules that it breaks.
	length := time.Duration(svc.DurationMinutes) * time.Minute
	open := set.clock(dayStart, set.DayStartMinute)
	closing := set.clock(dayStart, set.DayEndMinute)
	switch {
	case !set.AllowOnlineBooking:
		out.Refusal = SlotBookingClosed
	case start.Before(now.Add(time.Duration(set.MinNoticeMinutes) * time.Minute)):
		out.Refusal = SlotTooSoon
	case !containsDay(set.WorkingDays, isoWeekday(dayStart)):
		out.Refusal = SlotClosedDay
	case dayStart.After(now.AddDate(0, 0, set.MaxAdvanceDays)):
		out.Refusal = SlotTooFarAhead
	case start.Before(open) || start.Add(length).After(closing):
		out.Refusal = SlotOutsideHours
	case start.Sub(open)%(time.Duration(set.SlotMinutes)*time.Minute) != 0:
		out.Refusal = SlotOffGrid
	default:
		out.Refusal = SlotTaken
	}
	return out, nil
}

func isoWeekday(t time.Time) int32 {
	d := int32(t.Weekday())
	if d == 0 {
		return 7
	}
	return d
}

func containsDay(days []int32, d int32) bool {
	for _, x := range days {
		if x == d {
			return true
		}
	}
	return false
}
