package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/store"
)

// bookingRow is a booking as the database holds it, read as the cluster superuser.
type bookingRow struct {
	Service  uuid.UUID
	StartsAt time.Time
	EndsAt   time.Time
	Status   string
	Notes    string
}

func readBookingRow(t testing.TB, e *env, id string) bookingRow {
	t.Helper()
	var b bookingRow
	contSQL(t, e, `SELECT service_id, starts_at, ends_at, status, notes FROM bookings WHERE id = $1`, []any{id},
		&b.Service, &b.StartsAt, &b.EndsAt, &b.Status, &b.Notes)
	return b
}

func (b bookingRow) same(o bookingRow) bool {
	return b.Service == o.Service && b.StartsAt.Equal(o.StartsAt) && b.EndsAt.Equal(o.EndsAt) && b.Status == o.Status && b.Notes == o.Notes
}

// A client may reschedule (and so needs staff's confirmation again), annotate or cancel their
// own booking, but never change its service, confirm it, or touch it once it is cancelled or
// completed. Staff may change anything but the lifecycle (a completed booking is final, a
// cancelled one may only be reopened as pending), and a confirmed booking they move stays
// confirmed.
func TestBookingClientRules(t *testing.T) {
	e := newEnv(t)
	staff := e.login("staff@acme.test", "")
	cl := e.login("client@acme.test", "")
	cl2 := e.login("client2@acme.test", "")
	svc, other := e.demo.Acme.Services[0], e.demo.Acme.Services[1]
	// Both times are slots the booking page offers, since a client moves a booking only to one.
	when := rrFirstSlot(t, e, svc, time.Now().UTC().AddDate(0, 0, 9)).StartsAt
	later := rrFirstSlot(t, e, svc, when.AddDate(0, 0, 20)).StartsAt
	closed := rrWeekday(when.AddDate(0, 0, 3), rrWeekend)

	// The booking each case starts from: the client's (pending), then brought by staff to the
	// status the case needs. Staff make it, since a client may book only a free slot the
	// booking page offers, and every case starts from the same time.
	setup := func(t *testing.T, status string) string {
		t.Helper()
		r := staff.do("POST", "/api/bookings", map[string]any{"service_id": svc, "client_id": e.demo.Acme.Client, "starts_at": when, "notes": "first"})
		mustStatus(t, r, http.StatusCreated)
		id := idOf(t, r)
		switch status {
		case "pending":
		case "confirmed":
			mustStatus(t, staff.do("POST", "/api/bookings/"+id+"/confirm", nil), http.StatusOK)
		default:
			mustStatus(t, staff.do("PUT", "/api/bookings/"+id, map[string]any{"service_id": svc, "starts_at": when, "notes": "first", "status": status}), http.StatusOK)
		}
		if got := readBookingRow(t, e, id).Status; got != status {
			t.Fatalf("setup: booking is %s, want %s", got, status)
		}
		return id
	}

	cases := []struct {
		name string
		from string // the booking's status before the change
		// noConfirmation: the booking settings say online bookings need no confirmation.
		noConfirmation bool
		who            *client
		body           map[string]any
		status         int
		code           string
		field          string // the field a 422 must name
		// After a success: the booking's status, service and start.
		wantStatus  string
		wantService uuid.UUID
		wantStart   time.Time
	}{
		{name: "client reschedules a pending booking", from: "pending", who: cl,
			body:   map[string]any{"service_id": svc, "starts_at": later, "notes": "moved"},
			status: http.StatusOK, wantStatus: "pending", wantService: svc, wantStart: later},
		{name: "client reschedules a confirmed booking: pending again", from: "confirmed", who: cl,
			body:   map[string]any{"service_id": svc, "starts_at": later, "notes": "moved"},
			status: http.StatusOK, wantStatus: "pending", wantService: svc, wantStart: later},
		{name: "no confirmation needed: client reschedules a confirmed booking, stays confirmed", from: "confirmed", noConfirmation: true, who: cl,
			body:   map[string]any{"service_id": svc, "starts_at": later, "notes": "moved"},
			status: http.StatusOK, wantStatus: "confirmed", wantService: svc, wantStart: later},
		{name: "no confirmation needed: client reschedules a pending booking, stays pending", from: "pending", noConfirmation: true, who: cl,
			body:   map[string]any{"service_id": svc, "starts_at": later, "notes": "moved"},
			status: http.StatusOK, wantStatus: "pending", wantService: svc, wantStart: later},
		{name: "no confirmation needed: client still may not confirm", from: "pending", noConfirmation: true, who: cl,
			body:   map[string]any{"service_id": svc, "starts_at": when, "status": "confirmed"},
			status: http.StatusUnprocessableEntity, code: "validation_failed", field: "status"},
		{name: "client reschedules a confirmed booking echoing its status: pending again", from: "confirmed", who: cl,
			body:   map[string]any{"service_id": svc, "starts_at": later, "status": "confirmed"},
			status: http.StatusOK, wantStatus: "pending", wantService: svc, wantStart: later},
		{name: "client lengthens a booking beyond its slot", from: "confirmed", who: cl,
			body:   map[string]any{"service_id": svc, "starts_at": when, "ends_at": when.Add(5 * time.Hour)},
			status: http.StatusUnprocessableEntity, code: "validation_failed", field: "ends_at"},
		{name: "client moves a booking to a time not offered", from: "pending", who: cl,
			body:   map[string]any{"service_id": svc, "starts_at": closed},
			status: http.StatusUnprocessableEntity, code: "validation_failed", field: "starts_at"},
		{name: "client moves a booking into the past", from: "pending", who: cl,
			body:   map[string]any{"service_id": svc, "starts_at": time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Hour)},
			status: http.StatusUnprocessableEntity, code: "validation_failed", field: "starts_at"},
		{name: "client moves a booking by one slot, over its own time", from: "pending", who: cl,
			body:   map[string]any{"service_id": svc, "starts_at": rrSlots(t, e, svc, when)[1].StartsAt},
			status: http.StatusOK, wantStatus: "pending", wantService: svc, wantStart: rrSlots(t, e, svc, when)[1].StartsAt},
		{name: "client changes only the notes of a confirmed booking: stays confirmed", from: "confirmed", who: cl,
			body:   map[string]any{"service_id": svc, "starts_at": when, "notes": "bring the papers"},
			status: http.StatusOK, wantStatus: "confirmed", wantService: svc, wantStart: when},
		{name: "client cancels a confirmed booking", from: "confirmed", who: cl,
			body:   map[string]any{"service_id": svc, "starts_at": when, "status": "cancelled"},
			status: http.StatusOK, wantStatus: "cancelled", wantService: svc, wantStart: when},
		{name: "client changes the service of a pending booking", from: "pending", who: cl,
			body:   map[string]any{"service_id": other, "starts_at": when},
			status: http.StatusUnprocessableEntity, code: "validation_failed", field: "service_id"},
		{name: "client changes the service and time of a confirmed booking", from: "confirmed", who: cl,
			body:   map[string]any{"service_id": other, "starts_at": later, "notes": "switched"},
			status: http.StatusUnprocessableEntity, code: "validation_failed", field: "service_id"},
		{name: "client confirms their own booking", from: "pending", who: cl,
			body:   map[string]any{"service_id": svc, "starts_at": when, "status": "confirmed"},
			status: http.StatusUnprocessableEntity, code: "validation_failed", field: "status"},
		{name: "client reschedules a cancelled booking", from: "cancelled", who: cl,
			body:   map[string]any{"service_id": svc, "starts_at": later},
			status: http.StatusConflict, code: "conflict"},
		{name: "client reopens a cancelled booking", from: "cancelled", who: cl,
			body:   map[string]any{"service_id": svc, "starts_at": when, "status": "pending"},
			status: http.StatusConflict, code: "conflict"},
		{name: "client edits a completed booking", from: "completed", who: cl,
			body:   map[string]any{"service_id": svc, "starts_at": when, "notes": "changed my mind"},
			status: http.StatusConflict, code: "conflict"},
		{name: "another client's booking", from: "confirmed", who: cl2,
			body:   map[string]any{"service_id": svc, "starts_at": later},
			status: http.StatusNotFound, code: "not_found"},
		{name: "staff changes the service of a confirmed booking", from: "confirmed", who: staff,
			body:   map[string]any{"service_id": other, "starts_at": when},
			status: http.StatusOK, wantStatus: "confirmed", wantService: other, wantStart: when},
		{name: "staff reschedules a confirmed booking: stays confirmed", from: "confirmed", who: staff,
			body:   map[string]any{"service_id": svc, "starts_at": later},
			status: http.StatusOK, wantStatus: "confirmed", wantService: svc, wantStart: later},
		{name: "staff confirms a cancelled booking through PUT", from: "cancelled", who: staff,
			body:   map[string]any{"service_id": svc, "starts_at": when, "status": "confirmed"},
			status: http.StatusConflict, code: "conflict"},
		{name: "staff completes a cancelled booking", from: "cancelled", who: staff,
			body:   map[string]any{"service_id": svc, "starts_at": when, "status": "completed"},
			status: http.StatusConflict, code: "conflict"},
		{name: "staff reopens a completed booking", from: "completed", who: staff,
			body:   map[string]any{"service_id": svc, "starts_at": when, "status": "pending"},
			status: http.StatusConflict, code: "conflict"},
		{name: "staff edits the notes of a completed booking", from: "completed", who: staff,
			body:   map[string]any{"service_id": svc, "starts_at": when, "notes": "invoiced"},
			status: http.StatusOK, wantStatus: "completed", wantService: svc, wantStart: when},
		{name: "staff completes a confirmed booking", from: "confirmed", who: staff,
			body:   map[string]any{"service_id": svc, "starts_at": when, "status": "completed"},
			status: http.StatusOK, wantStatus: "completed", wantService: svc, wantStart: when},
		{name: "staff edits a cancelled booking", from: "cancelled", who: staff,
			body:   map[string]any{"service_id": other, "starts_at": later, "status": "pending"},
			status: http.StatusOK, wantStatus: "pending", wantService: other, wantStart: later},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := setup(t, tc.from)
			// Each case's booking goes when it is done, so the next finds the same slots free.
			defer superExec(t, e, `DELETE FROM bookings WHERE id = '`+id+`'`)
			if tc.noConfirmation {
				superExec(t, e, `UPDATE booking_settings SET require_confirmation = false WHERE tenant_id = $1`, e.demo.Acme.ID)
				defer superExec(t, e, `UPDATE booking_settings SET require_confirmation = true WHERE tenant_id = $1`, e.demo.Acme.ID)
			}
			before := readBookingRow(t, e, id)
			r := tc.who.do("PUT", "/api/bookings/"+id, tc.body)
			after := readBookingRow(t, e, id)
			if tc.status != http.StatusOK {
				if tc.field != "" {
					mustInvalid(t, r, tc.field)
				} else {
					mustStatus(t, r, tc.status, tc.code)
				}
				if !after.same(before) {
					t.Fatalf("a refused change changed the booking: %+v, was %+v", after, before)
				}
				return
			}
			mustStatus(t, r, http.StatusOK)
			var got struct {
				Status    string    `json:"status"`
				ServiceID uuid.UUID `json:"service_id"`
				StartsAt  time.Time `json:"starts_at"`
			}
			r.decode(t, &got)
			if got.Status != tc.wantStatus || got.ServiceID != tc.wantService || !got.StartsAt.Equal(tc.wantStart) {
				t.Fatalf("answered %s, want status %s, service %s, start %s", r.Body, tc.wantStatus, tc.wantService, tc.wantStart)
			}
			if after.Status != tc.wantStatus || after.Service != tc.wantService || !after.StartsAt.Equal(tc.wantStart) {
				t.Fatalf("stored %+v, want status %s, service %s, start %s", after, tc.wantStatus, tc.wantService, tc.wantStart)
			}
		})
	}
}

// Staff may assign a booking only to an active team member of their own tenant, as on service
// requests and work orders; an assignee kept as it was stays even after they left.
func TestBookingAssignee(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	globexOwner := e.login("owner@globex.test", "")
	acme := e.demo.Acme
	svc := acme.Services[0]
	active := reqTeamMemberOf(t, owner, acme.Staff).ID
	foreign := reqList[store.TeamMember](t, globexOwner, "/api/admin/team-members")[0].ID
	r := owner.do("POST", "/api/admin/team-members", map[string]any{"name": "Gone", "active": false})
	mustStatus(t, r, http.StatusCreated)
	var gone store.TeamMember
	r.decode(t, &gone)
	when := time.Now().UTC().Add(72 * time.Hour).Truncate(time.Hour)

	cases := []struct {
		name     string
		assignee any
		status   int
	}{
		{"an active team member", active, http.StatusCreated},
		{"no assignee", nil, http.StatusCreated},
		{"an inactive team member", gone.ID, http.StatusUnprocessableEntity},
		{"another tenant's team member", foreign, http.StatusUnprocessableEntity},
		{"a random id", uuid.New(), http.StatusUnprocessableEntity},
	}
	for _, tc := range cases {
		t.Run("create: "+tc.name, func(t *testing.T) {
			var before int
			contSQL(t, e, `SELECT count(*) FROM bookings`, nil, &before)
			r := owner.do("POST", "/api/bookings", map[string]any{"service_id": svc, "client_id": acme.Client, "starts_at": when, "assignee_id": tc.assignee})
			if tc.status != http.StatusCreated {
				mustInvalid(t, r, "assignee_id")
				var after int
				contSQL(t, e, `SELECT count(*) FROM bookings`, nil, &after)
				if after != before {
					t.Fatalf("a refused booking was stored: %d bookings, were %d", after, before)
				}
				return
			}
			mustStatus(t, r, http.StatusCreated)
		})
	}

	// A booking assigned to a member who then leaves keeps its assignee through later edits,
	// but cannot be handed to someone inactive.
	r = owner.do("POST", "/api/bookings", map[string]any{"service_id": svc, "client_id": acme.Client, "starts_at": when, "assignee_id": active})
	mustStatus(t, r, http.StatusCreated)
	id := idOf(t, r)
	superExec(t, e, `UPDATE team_members SET active = false WHERE id = $1`, active)
	puts := []struct {
		name     string
		assignee any
		status   int
		want     *uuid.UUID
	}{
		{"keeps the assignee who left", active, http.StatusOK, &active},
		{"hands it to an inactive member", gone.ID, http.StatusUnprocessableEntity, &active},
		{"hands it to another tenant's member", foreign, http.StatusUnprocessableEntity, &active},
		{"unassigns it", nil, http.StatusOK, nil},
	}
	for _, tc := range puts {
		t.Run("update: "+tc.name, func(t *testing.T) {
			r := owner.do("PUT", "/api/bookings/"+id, map[string]any{"service_id": svc, "starts_at": when, "notes": tc.name, "assignee_id": tc.assignee})
			if tc.status == http.StatusOK {
				mustStatus(t, r, http.StatusOK)
			} else {
				mustInvalid(t, r, "assignee_id")
			}
			var got *uuid.UUID
			contSQL(t, e, `SELECT assignee_id FROM bookings WHERE id = $1`, []any{id}, &got)
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Fatalf("assignee is %v, want %v", got, tc.want)
			}
		})
	}
}

// A confirmation that waited for a booking's row while another transaction cancelled it does
// not confirm it over the cancellation: it answers 409 and the booking stays cancelled.
func TestBookingConfirmAfterConcurrentCancel(t *testing.T) {
	e := newEnv(t)
	staff := e.login("staff@acme.test", "")
	id := e.demo.Acme.Bookings[0].String()
	if got := readBookingRow(t, e, id).Status; got != "pending" {
		t.Fatalf("demo booking is %s, want pending", got)
	}
	holder := holdRows(t, e, 1, `SELECT 1 FROM bookings WHERE id = $1 FOR UPDATE`, id)
	done := make(chan *resp, 1)
	go func() { done <- staff.do("POST", "/api/bookings/"+id+"/confirm", nil) }()
	awaitLockWaiters(t, e, 1)
	holder.exec(`UPDATE bookings SET status = 'cancelled' WHERE id = $1`, id)
	holder.commit()
	mustStatus(t, <-done, http.StatusConflict, "conflict")
	if got := readBookingRow(t, e, id).Status; got != "cancelled" {
		t.Fatalf("booking is %s after the cancellation, want cancelled", got)
	}
}
