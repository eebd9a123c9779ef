package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/auth"
)

// rrSlot is one slot of GET /api/bookings/availability.
type rrSlot struct {
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
}

// rrSlots is what the public booking page of acme offers for a service on day's date.
func rrSlots(t testing.TB, e *env, service uuid.UUID, day time.Time) []rrSlot {
	t.Helper()
	var slug string
	contSQL(t, e, `SELECT slug FROM services WHERE id = $1`, []any{service}, &slug)
	r := e.anon().onHost("acme.localhost").do("GET", "/api/bookings/availability?service="+slug+"&date="+day.UTC().Format(time.DateOnly), nil)
	mustStatus(t, r, http.StatusOK)
	var out struct {
		Slots []rrSlot `json:"slots"`
	}
	r.decode(t, &out)
	return out.Slots
}

// rrOffered reports whether the booking page offers a slot of service starting at start.
func rrOffered(t testing.TB, e *env, service uuid.UUID, start time.Time) bool {
	t.Helper()
	for _, s := range rrSlots(t, e, service, start) {
		if s.StartsAt.Equal(start) {
			return true
		}
	}
	return false
}

// rrSlot returns the first slot the booking page offers for service on the date of from or a
// later one: a time an online booker may take.
func rrFirstSlot(t testing.TB, e *env, service uuid.UUID, from time.Time) rrSlot {
	t.Helper()
	for d := range 60 {
		if slots := rrSlots(t, e, service, from.AddDate(0, 0, d)); len(slots) > 0 {
			return slots[0]
		}
	}
	t.Fatalf("no slot offered for %s in the 60 days from %s", service, from)
	return rrSlot{}
}

// rrWeekday returns 10:00 UTC of the first day on or after from whose weekday is wanted.
func rrWeekday(from time.Time, wanted func(time.Weekday) bool) time.Time {
	d := time.Date(from.Year(), from.Month(), from.Day(), 10, 0, 0, 0, time.UTC)
	for !wanted(d.Weekday()) {
		d = d.AddDate(0, 0, 1)
	}
	return d
}

func rrWeekend(d time.Weekday) bool { return d == time.Saturday || d == time.Sunday }
func rrWorkday(d time.Weekday) bool { return !rrWeekend(d) }

// rrWorld is one case's system: its own database with the demo data, signed-in demo users (made
// on first use, after the case's setup), and what the setup hands to the request.
type rrWorld struct {
	e        *env
	sessions map[string]*client
	slot     rrSlot // a slot the case books or probes
	id       string // an object the case acts on
}

func (w *rrWorld) as(email string) *client {
	if c := w.sessions[email]; c != nil {
		return c
	}
	tenant := ""
	if email == "consultant@demo.test" {
		tenant = "acme"
	}
	c := w.e.login(email, tenant)
	w.sessions[email] = c
	return c
}

func (w *rrWorld) set(t *testing.T, sql string) {
	t.Helper()
	superExec(t, w.e, sql, w.e.demo.Acme.ID)
}

// rrBookingStatus is a booking's status as stored, "" when it is gone.
func rrBookingStatus(t testing.TB, e *env, id string) string {
	t.Helper()
	var n int
	var status string
	contSQL(t, e, `SELECT count(*), coalesce(max(status), '') FROM bookings WHERE id = $1`, []any{id}, &n, &status)
	return status
}

// rrRequestOf is one of a client's service requests in acme.
func rrRequestOf(t testing.TB, e *env, clientID uuid.UUID) string {
	t.Helper()
	var id string
	contSQL(t, e, `SELECT id::text FROM service_requests WHERE tenant_id = $1 AND client_id = $2 ORDER BY id LIMIT 1`,
		[]any{e.demo.Acme.ID, clientID}, &id)
	return id
}

// rrBook is a client's (or a self-booker's) booking request body for a slot.
func rrBook(service uuid.UUID, s rrSlot) map[string]any {
	return map[string]any{"service_id": service, "starts_at": s.StartsAt, "notes": "role rules"}
}

// TestRoleRules proves five authorization rules, each case on a fresh copy of the demo data:
//
//   - F1: a client may withdraw (DELETE) only their own pending booking; a confirmed, cancelled
//     or completed one is a 409, another client's is the 404 of a random id; staff unchanged.
//   - F2: a client (POST /api/bookings or /api/portal/bookings) books only an active service, in
//     the future, and exactly what GET /api/bookings/availability offers under the booking
//     settings; online booking switched off is a 409. Staff stay unrestricted.
//   - F3: GET /api/admin/permissions/{userId} without users.read answers only about oneself;
//     any other id is the 404 of a non-member. TEAM_LEAD and ADMIN still read anyone's.
//   - F4: an API token's role must grant only permissions its creator holds (no CLIENT token
//     from STAFF, TEAM_LEAD or ADMIN), besides being no higher in rank.
//   - F5: staff bookings name an active CLIENT member as client_id, and a service request only
//     of that client.
//
// Every refusal is checked to change nothing in the database (audit log aside), and the cases
// that are allowed are checked to still work.
func TestRoleRules(t *testing.T) {
	t.Run("subset helper", func(t *testing.T) {
		for _, tc := range []struct {
			r, of auth.Role
			want  bool
		}{
			{auth.RoleStaff, auth.RoleStaff, true},
			{auth.RoleStaff, auth.RoleTeamLead, true},
			{auth.RoleStaff, auth.RoleAdmin, true},
			{auth.RoleAdmin, auth.RoleOwner, true},
			{auth.RoleOwner, auth.RoleAdmin, true}, // same permissions; rank (AtMost) tells them apart
			{auth.RoleClient, auth.RoleClient, true},
			{auth.RoleClient, auth.RoleStaff, false},
			{auth.RoleClient, auth.RoleTeamLead, false},
			{auth.RoleClient, auth.RoleOwner, false},
			{auth.RoleStaff, auth.RoleClient, false},
			{auth.RoleAdmin, auth.RoleTeamLead, false},
			{auth.Role("ROOT"), auth.RoleOwner, false},
			{auth.RoleClient, auth.Role("ROOT"), false},
		} {
			if got := tc.r.PermissionsSubsetOf(tc.of); got != tc.want {
				t.Errorf("%s.PermissionsSubsetOf(%s) = %v, want %v", tc.r, tc.of, got, tc.want)
			}
		}
	})

	const (
		asOwner   = "owner@acme.test"
		asStaff   = "staff@acme.test"
		asClient  = "client@acme.test"
		asClient2 = "client2@acme.test"
		asAdmin   = "consultant@demo.test" // ADMIN in acme
	)
	now := time.Now().UTC()
	type rule struct {
		name  string
		by    string // the caller, signed in before anything is measured
		setup func(t *testing.T, w *rrWorld)
		call  func(w *rrWorld, c *client) *resp
		// The answer: a status, and for a refusal its code and (422) the field it names and
		// words its message must contain.
		status int
		code   string
		field  string
		says   string
		// sameAs, for a refusal, is a request whose answer it must equal byte for byte
		// (request id aside): a random id's, a non-member's.
		sameAs func(w *rrWorld, c *client) *resp
		// check runs last, whatever the answer: what must (not) have happened.
		check func(t *testing.T, w *rrWorld, r *resp)
	}
	svc := func(w *rrWorld) uuid.UUID { return w.e.demo.Acme.Services[0] }
	inactive := func(w *rrWorld) uuid.UUID { return w.e.demo.Acme.Services[3] }
	booking := func(i int) func(w *rrWorld) string {
		return func(w *rrWorld) string { return w.e.demo.Acme.Bookings[i].String() }
	}
	slotFrom := func(days int) func(t *testing.T, w *rrWorld) {
		return func(t *testing.T, w *rrWorld) { w.slot = rrFirstSlot(t, w.e, svc(w), now.AddDate(0, 0, days)) }
	}
	// notOffered: the refused time is one the booking page does not offer either.
	notOffered := func(t *testing.T, w *rrWorld, _ *resp) {
		if rrOffered(t, w.e, svc(w), w.slot.StartsAt) {
			t.Fatalf("the booking page offers %s, yet a client may not book it", w.slot.StartsAt)
		}
	}
	// bookedAs checks an online booking was made for the client, in the status wanted.
	bookedAs := func(clientOf func(w *rrWorld) uuid.UUID, want string) func(t *testing.T, w *rrWorld, r *resp) {
		return func(t *testing.T, w *rrWorld, r *resp) {
			var b struct {
				ClientID uuid.UUID `json:"client_id"`
				Status   string    `json:"status"`
				StartsAt time.Time `json:"starts_at"`
				EndsAt   time.Time `json:"ends_at"`
			}
			r.decode(t, &b)
			if b.ClientID != clientOf(w) || b.Status != want {
				t.Fatalf("booked %s, want a %s booking", r.Body, want)
			}
			if got := rrBookingStatus(t, w.e, idOf(t, r)); got != want {
				t.Fatalf("stored booking is %q, want %q", got, want)
			}
		}
	}
	booked := func(clientOf func(w *rrWorld) uuid.UUID) func(t *testing.T, w *rrWorld, r *resp) {
		return bookedAs(clientOf, "pending")
	}
	// noConfirmation switches confirmation of online bookings off, then picks the slot.
	noConfirmation := func(days int) func(t *testing.T, w *rrWorld) {
		return func(t *testing.T, w *rrWorld) {
			w.set(t, `UPDATE booking_settings SET require_confirmation = false WHERE tenant_id = $1`)
			slotFrom(days)(t, w)
		}
	}
	deleteOf := func(id func(w *rrWorld) string) func(w *rrWorld, c *client) *resp {
		return func(w *rrWorld, c *client) *resp { return c.do("DELETE", "/api/bookings/"+id(w), nil) }
	}
	randomDelete := func(_ *rrWorld, c *client) *resp { return c.do("DELETE", "/api/bookings/"+uuid.NewString(), nil) }
	gone := func(id func(w *rrWorld) string) func(t *testing.T, w *rrWorld, r *resp) {
		return func(t *testing.T, w *rrWorld, _ *resp) {
			if s := rrBookingStatus(t, w.e, id(w)); s != "" {
				t.Fatalf("the booking is still there (%s)", s)
			}
		}
	}
	book := func(path string, body func(w *rrWorld) map[string]any) func(w *rrWorld, c *client) *resp {
		return func(w *rrWorld, c *client) *resp { return c.do("POST", path, body(w)) }
	}
	slotBody := func(w *rrWorld) map[string]any { return rrBook(svc(w), w.slot) }
	perms := func(id func(w *rrWorld) uuid.UUID) func(w *rrWorld, c *client) *resp {
		return func(w *rrWorld, c *client) *resp {
			return c.do("GET", "/api/admin/permissions/"+id(w).String(), nil)
		}
	}
	permsRole := func(want auth.Role) func(t *testing.T, w *rrWorld, r *resp) {
		return func(t *testing.T, _ *rrWorld, r *resp) {
			var out struct {
				Role auth.Role `json:"role"`
			}
			r.decode(t, &out)
			if out.Role != want {
				t.Fatalf("role %s, want %s", out.Role, want)
			}
		}
	}
	token := func(role string) func(w *rrWorld, c *client) *resp {
		return func(_ *rrWorld, c *client) *resp {
			return c.do("POST", "/api/admin/api-tokens", map[string]any{"name": "rr " + role, "role": role})
		}
	}
	staffBody := func(clientID func(w *rrWorld) uuid.UUID, extra map[string]any) func(w *rrWorld) map[string]any {
		return func(w *rrWorld) map[string]any {
			b := map[string]any{"service_id": svc(w), "client_id": clientID(w), "starts_at": now.Add(50 * time.Hour)}
			for k, v := range extra {
				b[k] = v
			}
			return b
		}
	}
	acmeClient := func(w *rrWorld) uuid.UUID { return w.e.demo.Acme.Client }
	acmeClient2 := func(w *rrWorld) uuid.UUID { return w.e.demo.Acme.Client2 }
	acmeStaff := func(w *rrWorld) uuid.UUID { return w.e.demo.Acme.Staff }
	acmeOwner := func(w *rrWorld) uuid.UUID { return w.e.demo.Acme.Owner }

	rules := []rule{
		// F1: withdrawing a booking.
		{name: "F1 client withdraws their own pending booking",
			by: asClient, call: deleteOf(booking(0)), status: http.StatusNoContent, check: gone(booking(0))},
		{name: "F1 client deletes their own confirmed booking",
			by: asClient, call: deleteOf(booking(1)), status: http.StatusConflict, code: "conflict"},
		{name: "F1 client deletes their own completed booking",
			by: asClient2, call: deleteOf(booking(3)), status: http.StatusConflict, code: "conflict"},
		{name: "F1 client deletes their own cancelled booking",
			setup: func(t *testing.T, w *rrWorld) {
				superExec(t, w.e, `UPDATE bookings SET status = 'cancelled' WHERE id = $1`, w.e.demo.Acme.Bookings[1])
			},
			by: asClient, call: deleteOf(booking(1)), status: http.StatusConflict, code: "conflict"},
		{name: "F1 client deletes another client's pending booking: a random id's 404",
			by: asClient, call: deleteOf(booking(2)), status: http.StatusNotFound, code: "not_found", sameAs: randomDelete},
		{name: "F1 client deletes another client's completed booking: a random id's 404, not 409",
			by: asClient, call: deleteOf(booking(3)), status: http.StatusNotFound, code: "not_found", sameAs: randomDelete},
		{name: "F1 staff deletes a confirmed booking",
			by: asStaff, call: deleteOf(booking(1)), status: http.StatusNoContent, check: gone(booking(1))},
		{name: "F1 staff deletes a completed booking",
			by: asStaff, call: deleteOf(booking(3)), status: http.StatusNoContent, check: gone(booking(3))},

		// F2: online booking gets exactly what the booking page offers.
		{name: "F2 client books an offered slot", setup: slotFrom(7),
			by: asClient, call: book("/api/bookings", slotBody), status: http.StatusCreated,
			check: func(t *testing.T, w *rrWorld, r *resp) {
				booked(acmeClient)(t, w, r)
				var b rrSlot
				r.decode(t, &b)
				if !b.StartsAt.Equal(w.slot.StartsAt) || !b.EndsAt.Equal(w.slot.EndsAt) {
					t.Fatalf("booked %s to %s, offered %s to %s", b.StartsAt, b.EndsAt, w.slot.StartsAt, w.slot.EndsAt)
				}
				if rrOffered(t, w.e, svc(w), w.slot.StartsAt) {
					t.Fatal("the booked slot is still offered")
				}
			}},
		{name: "F2 client books an offered slot where online bookings need no confirmation: confirmed", setup: noConfirmation(7),
			by: asClient, call: book("/api/bookings", slotBody), status: http.StatusCreated, check: bookedAs(acmeClient, "confirmed")},
		{name: "F2 client books through the portal where online bookings need no confirmation: confirmed", setup: noConfirmation(8),
			by: asClient, call: book("/api/portal/bookings", slotBody), status: http.StatusCreated, check: bookedAs(acmeClient, "confirmed")},
		{name: "F2 client asks for a confirmed booking", setup: slotFrom(7),
			by: asClient, call: book("/api/bookings", func(w *rrWorld) map[string]any {
				b := slotBody(w)
				b["status"] = "confirmed"
				return b
			}), status: http.StatusUnprocessableEntity, code: "validation_failed", field: "status"},
		{name: "F2 client books an offered slot through the portal, naming its end", setup: slotFrom(8),
			by: asClient, call: book("/api/portal/bookings", func(w *rrWorld) map[string]any {
				b := slotBody(w)
				b["ends_at"] = w.slot.EndsAt
				return b
			}), status: http.StatusCreated, check: booked(acmeClient)},
		{name: "F2 client books every slot of a day, one after the other", setup: slotFrom(9),
			by: asClient, call: func(w *rrWorld, c *client) *resp {
				var last *resp
				for range 48 {
					slots := rrSlots(w.e.t, w.e, svc(w), w.slot.StartsAt)
					if len(slots) == 0 {
						break
					}
					last = c.do("POST", "/api/bookings", rrBook(svc(w), slots[0]))
					if last.Status != http.StatusCreated {
						return last
					}
				}
				return last
			}, status: http.StatusCreated,
			check: func(t *testing.T, w *rrWorld, _ *resp) {
				if n := len(rrSlots(t, w.e, svc(w), w.slot.StartsAt)); n != 0 {
					t.Fatalf("%d slots still offered", n)
				}
				var n int
				contSQL(t, w.e, `SELECT count(*) FROM bookings WHERE client_id = $1 AND notes = 'role rules'`, []any{w.e.demo.Acme.Client}, &n)
				if n < 3 {
					t.Fatalf("only %d bookings made", n)
				}
			}},
		{name: "F2 two clients race for one slot: one gets it", setup: func(t *testing.T, w *rrWorld) {
			slotFrom(7)(t, w)
			w.as(asClient2)
		},
			by: asClient, call: func(w *rrWorld, c *client) *resp {
				callers := []*client{c, w.as(asClient2), c, w.as(asClient2)}
				answers := make([]*resp, len(callers))
				var wg sync.WaitGroup
				for i, who := range callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						answers[i] = who.do("POST", "/api/portal/bookings", slotBody(w))
					}()
				}
				wg.Wait()
				created := 0
				for _, a := range answers {
					switch {
					case a.Status == http.StatusCreated:
						created++
					case a.Status != http.StatusUnprocessableEntity || !strings.Contains(string(a.Body), "no longer free"):
						return a
					}
				}
				if created != 1 {
					return &resp{Status: 999, Body: []byte(fmt.Sprintf("%d of %d bookings of one slot were made", created, len(callers)))}
				}
				return &resp{Status: http.StatusCreated}
			}, status: http.StatusCreated},
		{name: "F2 client books an inactive service", setup: slotFrom(7),
			by: asClient, call: book("/api/bookings", func(w *rrWorld) map[string]any { return rrBook(inactive(w), w.slot) }),
			status: http.StatusUnprocessableEntity, field: "service_id", says: "no such service"},
		{name: "F2 client books an inactive service through the portal", setup: slotFrom(7),
			by: asClient, call: book("/api/portal/bookings", func(w *rrWorld) map[string]any { return rrBook(inactive(w), w.slot) }),
			status: http.StatusUnprocessableEntity, field: "service_id", says: "no such service"},
		{name: "F2 client books in the past",
			setup: func(_ *testing.T, w *rrWorld) {
				w.slot = rrSlot{StartsAt: rrWeekday(now.AddDate(0, 0, -7), rrWorkday)}
			},
			by: asClient, call: book("/api/bookings", slotBody),
			status: http.StatusUnprocessableEntity, field: "starts_at", says: "future", check: notOffered},
		{name: "F2 client books in the past through the portal",
			setup: func(_ *testing.T, w *rrWorld) { w.slot = rrSlot{StartsAt: now.Add(-time.Hour).Truncate(time.Hour)} },
			by:    asClient, call: book("/api/portal/bookings", slotBody),
			status: http.StatusUnprocessableEntity, field: "starts_at", says: "future"},
		{name: "F2 client books while online booking is switched off",
			setup: func(t *testing.T, w *rrWorld) {
				slotFrom(7)(t, w)
				w.set(t, `UPDATE booking_settings SET allow_online_booking = false WHERE tenant_id = $1`)
			},
			by: asClient, call: book("/api/bookings", slotBody), status: http.StatusConflict, code: "conflict", check: notOffered},
		{name: "F2 client books through the portal while online booking is switched off",
			setup: func(t *testing.T, w *rrWorld) {
				slotFrom(7)(t, w)
				w.set(t, `UPDATE booking_settings SET allow_online_booking = false WHERE tenant_id = $1`)
			},
			by: asClient, call: book("/api/portal/bookings", slotBody), status: http.StatusConflict, code: "conflict", check: notOffered},
		{name: "F2 client books on a day off",
			setup: func(_ *testing.T, w *rrWorld) {
				w.slot = rrSlot{StartsAt: rrWeekday(now.AddDate(0, 0, 7), rrWeekend)}
			},
			by: asClient, call: book("/api/bookings", slotBody),
			status: http.StatusUnprocessableEntity, field: "starts_at", says: "working day", check: notOffered},
		{name: "F2 client books after working hours",
			setup: func(_ *testing.T, w *rrWorld) {
				w.slot = rrSlot{StartsAt: rrWeekday(now.AddDate(0, 0, 7), rrWorkday).Add(10 * time.Hour)} // 20:00, closing 17:00
			},
			by: asClient, call: book("/api/portal/bookings", slotBody),
			status: http.StatusUnprocessableEntity, field: "starts_at", says: "working hours", check: notOffered},
		{name: "F2 client books a service that would end after closing",
			setup: func(_ *testing.T, w *rrWorld) {
				w.slot = rrSlot{StartsAt: rrWeekday(now.AddDate(0, 0, 7), rrWorkday).Add(6*time.Hour + 30*time.Minute)} // 16:30 + 60 min
			},
			by: asClient, call: book("/api/bookings", slotBody),
			status: http.StatusUnprocessableEntity, field: "starts_at", says: "working hours", check: notOffered},
		{name: "F2 client books beyond the maximum advance",
			setup: func(_ *testing.T, w *rrWorld) {
				w.slot = rrSlot{StartsAt: rrWeekday(now.AddDate(0, 0, 120), rrWorkday)}
			},
			by: asClient, call: book("/api/bookings", slotBody),
			status: http.StatusUnprocessableEntity, field: "starts_at", says: "days ahead", check: notOffered},
		{name: "F2 client books within the minimum notice",
			setup: func(t *testing.T, w *rrWorld) {
				// Open round the clock, every day, with ten hours' notice: the next half hour
				// after an hour from now is on the grid, in working hours, and too soon.
				w.set(t, `UPDATE booking_settings SET working_days = '{1,2,3,4,5,6,7}', day_start_minute = 0,
					day_end_minute = 1440, slot_minutes = 30, min_notice_minutes = 600 WHERE tenant_id = $1`)
				w.slot = rrSlot{StartsAt: now.Add(time.Hour).Truncate(30 * time.Minute).Add(30 * time.Minute)}
			},
			by: asClient, call: book("/api/bookings", slotBody),
			status: http.StatusUnprocessableEntity, field: "starts_at", says: "minimum notice", check: notOffered},
		{name: "F2 client books between two slot starts",
			setup: func(t *testing.T, w *rrWorld) {
				slotFrom(7)(t, w)
				w.slot.StartsAt = w.slot.StartsAt.Add(10 * time.Minute)
			},
			by: asClient, call: book("/api/bookings", slotBody),
			status: http.StatusUnprocessableEntity, field: "starts_at", says: "slot start", check: notOffered},
		{name: "F2 client books a slot another client just took",
			setup: func(t *testing.T, w *rrWorld) {
				slotFrom(7)(t, w)
				mustStatus(t, w.as(asClient2).do("POST", "/api/portal/bookings", slotBody(w)), http.StatusCreated)
			},
			by: asClient, call: book("/api/bookings", slotBody),
			status: http.StatusUnprocessableEntity, field: "starts_at", says: "no longer free", check: notOffered},
		{name: "F2 client books a longer time than the slot",
			setup: slotFrom(7),
			by:    asClient, call: book("/api/bookings", func(w *rrWorld) map[string]any {
				b := slotBody(w)
				b["ends_at"] = w.slot.EndsAt.Add(3 * time.Hour)
				return b
			}),
			status: http.StatusUnprocessableEntity, field: "ends_at"},
		{name: "F2 staff book an inactive service in the past while online booking is off",
			setup: func(t *testing.T, w *rrWorld) {
				w.set(t, `UPDATE booking_settings SET allow_online_booking = false WHERE tenant_id = $1`)
			},
			by: asStaff, call: book("/api/bookings", func(w *rrWorld) map[string]any {
				return map[string]any{"service_id": inactive(w), "client_id": w.e.demo.Acme.Client, "starts_at": now.AddDate(0, 0, -3).Truncate(time.Minute).Add(7 * time.Minute)}
			}),
			status: http.StatusCreated, check: booked(acmeClient)},

		// F3: a member's effective permissions.
		{name: "F3 staff read the owner's permissions: a non-member's 404",
			by: asStaff, call: perms(acmeOwner), status: http.StatusNotFound, code: "not_found",
			sameAs: perms(func(*rrWorld) uuid.UUID { return uuid.New() })},
		{name: "F3 staff read a client's permissions: a non-member's 404",
			by: asStaff, call: perms(acmeClient), status: http.StatusNotFound, code: "not_found",
			sameAs: perms(func(w *rrWorld) uuid.UUID { return w.e.demo.Globex.Client })},
		{name: "F3 staff read a revoked member's permissions: a non-member's 404",
			setup: func(t *testing.T, w *rrWorld) {
				mustStatus(t, w.as(asOwner).do("PATCH", "/api/admin/users/"+w.e.demo.Acme.Client2.String(), map[string]any{"status": "revoked"}), http.StatusOK)
			},
			by: asStaff, call: perms(acmeClient2), status: http.StatusNotFound, code: "not_found",
			sameAs: perms(func(*rrWorld) uuid.UUID { return uuid.New() })},
		{name: "F3 staff read their own permissions",
			by: asStaff, call: perms(acmeStaff), status: http.StatusOK, check: permsRole(auth.RoleStaff)},
		{name: "F3 a client may not read permissions at all",
			by: asClient, call: perms(acmeClient), status: http.StatusForbidden, code: "forbidden"},
		{name: "F3 a team lead reads a client's permissions",
			setup: func(t *testing.T, w *rrWorld) {
				mustStatus(t, w.as(asOwner).do("PATCH", "/api/admin/users/"+w.e.demo.Acme.Staff.String(), map[string]any{"role": "TEAM_LEAD"}), http.StatusOK)
			},
			by: asStaff, call: perms(acmeClient), status: http.StatusOK, check: permsRole(auth.RoleClient)},
		{name: "F3 an admin reads the owner's permissions",
			by: asAdmin, call: perms(acmeOwner), status: http.StatusOK, check: permsRole(auth.RoleOwner)},

		// F4: API token roles.
		{name: "F4 staff create a CLIENT token",
			by: asStaff, call: token("CLIENT"), status: http.StatusUnprocessableEntity, field: "role", says: "permissions"},
		{name: "F4 a team lead creates a CLIENT token",
			setup: func(t *testing.T, w *rrWorld) {
				mustStatus(t, w.as(asOwner).do("PATCH", "/api/admin/users/"+w.e.demo.Acme.Staff.String(), map[string]any{"role": "TEAM_LEAD"}), http.StatusOK)
			},
			by: asStaff, call: token("CLIENT"), status: http.StatusUnprocessableEntity, field: "role", says: "permissions"},
		{name: "F4 an admin creates a CLIENT token",
			by: asAdmin, call: token("CLIENT"), status: http.StatusUnprocessableEntity, field: "role", says: "permissions"},
		{name: "F4 the owner creates a CLIENT token",
			by: asOwner, call: token("CLIENT"), status: http.StatusUnprocessableEntity, field: "role", says: "permissions"},
		{name: "F4 an admin creates an OWNER token",
			by: asAdmin, call: token("OWNER"), status: http.StatusUnprocessableEntity, field: "role"},
		{name: "F4 staff create a STAFF token, which works and stays off client routes",
			by: asStaff, call: token("STAFF"), status: http.StatusCreated,
			check: func(t *testing.T, w *rrWorld, r *resp) {
				var a tokenAnswer
				r.decode(t, &a)
				bearer := ruleBearer(w.e, *a.Token)
				mustStatus(t, bearer.do("GET", "/api/bookings", nil), http.StatusOK)
				mustStatus(t, bearer.do("POST", "/api/portal/service-requests", map[string]any{"title": "x", "description": "y"}), http.StatusForbidden, "forbidden")
			}},
		{name: "F4 the owner creates a STAFF token",
			by: asOwner, call: token("STAFF"), status: http.StatusCreated},
		{name: "F4 staff create a token of their own role by default",
			by: asStaff, call: func(_ *rrWorld, c *client) *resp {
				return c.do("POST", "/api/admin/api-tokens", map[string]any{"name": "mine"})
			}, status: http.StatusCreated},

		// F5: references of a staff booking.
		{name: "F5 staff book for a staff member",
			by: asStaff, call: book("/api/bookings", staffBody(acmeStaff, nil)), status: http.StatusUnprocessableEntity, field: "client_id", says: "active client"},
		{name: "F5 staff book for an admin",
			by: asStaff, call: book("/api/bookings", staffBody(func(w *rrWorld) uuid.UUID { return w.e.demo.Consultant }, nil)),
			status: http.StatusUnprocessableEntity, field: "client_id", says: "active client"},
		{name: "F5 staff book for a revoked client",
			setup: func(t *testing.T, w *rrWorld) {
				mustStatus(t, w.as(asOwner).do("PATCH", "/api/admin/users/"+w.e.demo.Acme.Client2.String(), map[string]any{"status": "revoked"}), http.StatusOK)
			},
			by: asStaff, call: book("/api/bookings", staffBody(acmeClient2, nil)), status: http.StatusUnprocessableEntity, field: "client_id", says: "active client"},
		{name: "F5 staff book for another tenant's client",
			by: asStaff, call: book("/api/bookings", staffBody(func(w *rrWorld) uuid.UUID { return w.e.demo.Globex.Client }, nil)),
			status: http.StatusUnprocessableEntity, field: "client_id", says: "active client"},
		{name: "F5 staff attach another client's service request",
			setup: func(t *testing.T, w *rrWorld) { w.id = rrRequestOf(t, w.e, w.e.demo.Acme.Client2) },
			by:    asStaff, call: book("/api/bookings", func(w *rrWorld) map[string]any {
				return staffBody(acmeClient, map[string]any{"service_request_id": w.id})(w)
			}),
			status: http.StatusUnprocessableEntity, field: "service_request_id", says: "for this client"},
		{name: "F5 staff attach the client's own service request",
			setup: func(t *testing.T, w *rrWorld) { w.id = rrRequestOf(t, w.e, w.e.demo.Acme.Client) },
			by:    asStaff, call: book("/api/bookings", func(w *rrWorld) map[string]any {
				return staffBody(acmeClient, map[string]any{"service_request_id": w.id})(w)
			}),
			status: http.StatusCreated,
			check: func(t *testing.T, w *rrWorld, r *resp) {
				booked(acmeClient)(t, w, r)
				if !strings.Contains(string(r.Body), w.id) {
					t.Fatalf("the request is not attached: %s", r.Body)
				}
			}},
		{name: "F5 a client attaches another client's service request",
			setup: func(t *testing.T, w *rrWorld) {
				slotFrom(7)(t, w)
				w.id = rrRequestOf(t, w.e, w.e.demo.Acme.Client2)
			},
			by: asClient, call: book("/api/bookings", func(w *rrWorld) map[string]any {
				b := slotBody(w)
				b["service_request_id"] = w.id
				return b
			}),
			status: http.StatusUnprocessableEntity, field: "service_request_id"},
	}

	for _, tc := range rules {
		t.Run(tc.name, func(t *testing.T) {
			w := &rrWorld{e: newEnv(t), sessions: map[string]*client{}}
			if tc.setup != nil {
				tc.setup(t, w)
			}
			c := w.as(tc.by)
			var same *resp
			if tc.sameAs != nil {
				same = tc.sameAs(w, c)
			}
			before := w.e.snapshot()
			r := tc.call(w, c)
			after := w.e.snapshot()
			if r == nil {
				t.Fatal("no request was made")
			}
			switch {
			case tc.status < 300:
				mustStatus(t, r, tc.status)
			case tc.field != "":
				mustInvalid(t, r, tc.field)
			default:
				mustStatus(t, r, tc.status, tc.code)
			}
			if tc.status >= 300 {
				if tc.says != "" && !strings.Contains(string(r.Body), tc.says) {
					t.Errorf("the refusal does not say %q: %s", tc.says, r.Body)
				}
				if after != before {
					t.Error("a refused request changed the database")
				}
				if same != nil && reqNoRequestID(r.Body) != reqNoRequestID(same.Body) {
					t.Errorf("answered %s, unlike %s", r.Body, same.Body)
				}
			}
			if tc.check != nil {
				tc.check(t, w, r)
			}
		})
	}
}
