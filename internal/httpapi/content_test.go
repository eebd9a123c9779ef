package httpapi_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

type contReminder struct {
	ID        uuid.UUID  `json:"id"`
	Title     string     `json:"title"`
	DueAt     time.Time  `json:"due_at"`
	UserID    *uuid.UUID `json:"user_id"`
	Status    string     `json:"status"`
	SentAt    *time.Time `json:"sent_at"`
	CreatedBy *uuid.UUID `json:"created_by"`
}

func contReminders(t *testing.T, c *client) []contReminder {
	t.Helper()
	r := c.do("GET", "/api/admin/reminders?limit=200", nil)
	mustStatus(t, r, 200)
	var l struct{ Items []contReminder }
	r.decode(t, &l)
	return l.Items
}

// mustInvalid asserts a 422 validation_failed naming each of the fields.
func mustInvalid(t *testing.T, r *resp, fields ...string) {
	t.Helper()
	mustStatus(t, r, 422, "validation_failed")
	for _, f := range fields {
		if !strings.Contains(string(r.Body), `"field":"`+f+`"`) {
			t.Errorf("422 does not name %s: %s", f, r.Body)
		}
	}
}

func TestContentReminders(t *testing.T) {
	e, _ := contEnv(t)
	acme, globex := e.demo.Acme, e.demo.Globex
	owner := e.login("owner@acme.test", "")
	staff := e.login("staff@acme.test", "")
	cli := e.login("client@acme.test", "")
	gOwner := e.login("owner@globex.test", "")

	t.Run("list", func(t *testing.T) {
		if n := len(contReminders(t, staff)); n < 2 {
			t.Fatalf("%d seeded reminders", n)
		}
		mustInvalid(t, staff.do("GET", "/api/admin/reminders?status=nope", nil), "status")
		mustStatus(t, cli.do("GET", "/api/admin/reminders", nil), 403, "forbidden")
		mustStatus(t, cli.do("POST", "/api/admin/reminders/run", nil), 403, "forbidden")
	})

	t.Run("create validation", func(t *testing.T) {
		before := contSnapshot(t, e)
		mustInvalid(t, staff.do("POST", "/api/admin/reminders", map[string]any{}), "title", "due_at")
		mustInvalid(t, staff.do("POST", "/api/admin/reminders", map[string]any{"title": "x", "due_at": "tomorrow"}))
		mustInvalid(t, staff.do("POST", "/api/admin/reminders", map[string]any{"title": "x", "due_at": time.Now(), "status": "sent"}), "status")
		mustInvalid(t, staff.do("POST", "/api/admin/reminders", map[string]any{"title": strings.Repeat("x", 201), "due_at": time.Now()}), "title")
		mustInvalid(t, staff.do("POST", "/api/admin/reminders", map[string]any{"title": "Hi\r\nBcc: someone@example.test", "due_at": time.Now()}), "title")
		// Another tenant's user or booking cannot be referenced.
		mustInvalid(t, staff.do("POST", "/api/admin/reminders", map[string]any{"title": "x", "due_at": time.Now(), "user_id": globex.Client}))
		mustInvalid(t, staff.do("POST", "/api/admin/reminders", map[string]any{"title": "x", "due_at": time.Now(), "booking_id": globex.Bookings[0]}))
		if contSnapshot(t, e) != before {
			t.Fatal("refused creates changed data")
		}
	})

	t.Run("run sends due reminders of this tenant only", func(t *testing.T) {
		r := staff.do("POST", "/api/admin/reminders", map[string]any{"title": "Call back", "message": "Ring the client",
			"due_at": time.Now().Add(-time.Minute), "user_id": acme.Client, "booking_id": acme.Bookings[0]})
		mustStatus(t, r, 201)
		var due contReminder
		r.decode(t, &due)
		if due.Status != "pending" || due.CreatedBy == nil || *due.CreatedBy != acme.Staff {
			t.Fatalf("new reminder %+v", due)
		}
		r = staff.do("POST", "/api/admin/reminders", map[string]any{"title": "Later", "due_at": time.Now().Add(48 * time.Hour), "user_id": acme.Client2})
		mustStatus(t, r, 201)
		var later contReminder
		r.decode(t, &later)

		var wantRan, globexPending, outboxBefore int
		contSQL(t, e, `SELECT count(*) FROM reminders WHERE tenant_id = $1 AND status = 'pending' AND due_at <= now()`, []any{acme.ID}, &wantRan)
		contSQL(t, e, `SELECT count(*) FROM reminders WHERE tenant_id = $1 AND status = 'pending'`, []any{globex.ID}, &globexPending)
		contSQL(t, e, `SELECT count(*) FROM outbox_messages WHERE tenant_id = $1`, []any{acme.ID}, &outboxBefore)

		r = staff.do("POST", "/api/admin/reminders/run", nil)
		mustStatus(t, r, 200)
		var out struct{ Ran int }
		r.decode(t, &out)
		if out.Ran != wantRan || wantRan < 2 {
			t.Fatalf("ran %d, want %d (at least the seeded and the new one)", out.Ran, wantRan)
		}
		byID := map[uuid.UUID]contReminder{}
		for _, x := range contReminders(t, staff) {
			byID[x.ID] = x
		}
		if d := byID[due.ID]; d.Status != "sent" || d.SentAt == nil {
			t.Fatalf("due reminder after run: %+v", d)
		}
		if l := byID[later.ID]; l.Status != "pending" || l.SentAt != nil {
			t.Fatalf("future reminder after run: %+v", l)
		}
		var mails, outboxAfter int
		contSQL(t, e, `SELECT count(*) FROM outbox_messages WHERE tenant_id = $1 AND to_address = 'client@acme.test' AND subject = 'Reminder: Call back'
			AND body LIKE 'Ring the client%' AND from_address = 'hello@acme.test'`, []any{acme.ID}, &mails)
		contSQL(t, e, `SELECT count(*) FROM outbox_messages WHERE tenant_id = $1`, []any{acme.ID}, &outboxAfter)
		if mails != 1 || outboxAfter-outboxBefore != wantRan {
			t.Fatalf("outbox: %d mails to the client, %d new rows, want 1 and %d", mails, outboxAfter-outboxBefore, wantRan)
		}
		var globexAfter int
		contSQL(t, e, `SELECT count(*) FROM reminders WHERE tenant_id = $1 AND status = 'pending'`, []any{globex.ID}, &globexAfter)
		if globexAfter != globexPending {
			t.Fatal("running acme's reminders touched globex's")
		}
		r = staff.do("POST", "/api/admin/reminders/run", nil)
		mustStatus(t, r, 200)
		r.decode(t, &out)
		if out.Ran != 0 {
			t.Fatalf("second run sent %d again", out.Ran)
		}
	})

	t.Run("delete and cross-tenant ids", func(t *testing.T) {
		g := contReminders(t, gOwner)
		before := contSnapshot(t, e)
		for _, x := range g {
			mustStatus(t, owner.do("DELETE", "/api/admin/reminders/"+x.ID.String(), map[string]any{}), 404, "not_found")
		}
		mustStatus(t, owner.do("DELETE", "/api/admin/reminders/"+uuid.New().String(), nil), 404, "not_found")
		mustStatus(t, owner.do("DELETE", "/api/admin/reminders/nope", nil), 404, "not_found")
		if contSnapshot(t, e) != before {
			t.Fatal("cross-tenant deletes changed data")
		}
		mine := contReminders(t, owner)[0]
		mustStatus(t, cli.do("DELETE", "/api/admin/reminders/"+mine.ID.String(), nil), 403, "forbidden")
		mustStatus(t, owner.do("DELETE", "/api/admin/reminders/"+mine.ID.String(), nil), 204)
		mustStatus(t, owner.do("DELETE", "/api/admin/reminders/"+mine.ID.String(), nil), 404, "not_found")
	})
}

func TestContentCalendar(t *testing.T) {
	e, _ := contEnv(t)
	acme := e.demo.Acme
	staff := e.login("staff@acme.test", "")
	cli := e.login("client@acme.test", "")
	gOwner := e.login("owner@globex.test", "")

	cal := func(c *client, from, to string) *resp {
		return c.do("GET", "/api/admin/calendar?from="+url.QueryEscape(from)+"&to="+url.QueryEscape(to), nil)
	}
	now := time.Now().UTC()
	type entry struct {
		Type     string
		ID       uuid.UUID
		Title    string
		StartsAt time.Time `json:"starts_at"`
		EndsAt   time.Time `json:"ends_at"`
	}
	r := cal(staff, now.Add(-48*time.Hour).Format(time.RFC3339), now.AddDate(0, 0, 30).Format(time.RFC3339))
	mustStatus(t, r, 200)
	var l struct{ Items []entry }
	r.decode(t, &l)
	kinds := map[string]int{}
	bookings := map[uuid.UUID]bool{}
	for i, x := range l.Items {
		kinds[x.Type]++
		if x.Type == "booking" {
			bookings[x.ID] = true
		}
		if x.Title == "" || x.EndsAt.Before(x.StartsAt) || (i > 0 && x.StartsAt.Before(l.Items[i-1].StartsAt)) {
			t.Errorf("bad or unordered entry %+v", x)
		}
	}
	if kinds["booking"] < 2 || kinds["reminder"] < 2 {
		t.Fatalf("calendar holds %v", kinds)
	}
	for _, b := range acme.Bookings {
		if !bookings[b] {
			t.Errorf("seeded booking %s missing", b)
		}
	}
	for _, b := range e.demo.Globex.Bookings {
		if bookings[b] {
			t.Errorf("globex booking %s in acme's calendar", b)
		}
	}
	// Dates work too, and an empty range is an empty list.
	mustStatus(t, cal(staff, "2001-01-01", "2001-02-01"), 200)
	if !strings.Contains(string(cal(staff, "2001-01-01", "2001-02-01").Body), `"items":[]`) {
		t.Error("empty range is not an empty list")
	}
	for _, c := range []struct {
		name, from, to string
		fields         []string
	}{
		{"missing both", "", "", []string{"from", "to"}},
		{"missing to", "2024-01-01", "", []string{"to"}},
		{"bad from", "yesterday", "2024-01-01", []string{"from"}},
		{"reversed", "2024-02-01", "2024-01-01", []string{"to"}},
		{"equal", "2024-01-01", "2024-01-01", []string{"to"}},
		{"too long", "2024-01-01", "2025-01-02T00:00:01Z", []string{"to"}},
	} {
		t.Run(c.name, func(t *testing.T) { mustInvalid(t, cal(staff, c.from, c.to), c.fields...) })
	}
	mustStatus(t, cal(staff, "2024-01-01", "2025-01-01"), 200) // 366 days: a leap year
	mustStatus(t, cal(cli, "2024-01-01", "2024-02-01"), 403, "forbidden")
	// Globex's calendar does not hold acme's bookings.
	r = cal(gOwner, now.Add(-48*time.Hour).Format(time.RFC3339), now.AddDate(0, 0, 30).Format(time.RFC3339))
	mustStatus(t, r, 200)
	for _, b := range acme.Bookings {
		if strings.Contains(string(r.Body), b.String()) {
			t.Errorf("acme booking %s in globex's calendar", b)
		}
	}
}

type contMessage struct {
	ID        uuid.UUID `json:"id"`
	ClientID  uuid.UUID `json:"client_id"`
	SenderID  uuid.UUID `json:"sender_id"`
	FromStaff bool      `json:"from_staff"`
	Body      string    `json:"body"`
}

func contThread(t *testing.T, r *resp) []contMessage {
	t.Helper()
	mustStatus(t, r, 200)
	var l struct{ Items []contMessage }
	r.decode(t, &l)
	return l.Items
}

func TestContentChat(t *testing.T) {
	e, _ := contEnv(t)
	acme, globex := e.demo.Acme, e.demo.Globex
	staff := e.login("staff@acme.test", "")
	cli := e.login("client@acme.test", "")
	cli2 := e.login("client2@acme.test", "")
	gStaff := e.login("staff@globex.test", "")

	t.Run("staff reads and writes a client's thread", func(t *testing.T) {
		for _, c := range []uuid.UUID{acme.Client, acme.Client2} {
			th := contThread(t, staff.do("GET", "/api/admin/chat?client="+c.String(), nil))
			if len(th) < 2 {
				t.Fatalf("thread of %s has %d messages", c, len(th))
			}
			for _, m := range th {
				if m.ClientID != c {
					t.Fatalf("message of %s in %s's thread", m.ClientID, c)
				}
			}
		}
		r := staff.do("POST", "/api/admin/chat", map[string]any{"client_id": acme.Client, "body": "  We have your file.  "})
		mustStatus(t, r, 201)
		var m contMessage
		r.decode(t, &m)
		if m.ClientID != acme.Client || m.SenderID != acme.Staff || !m.FromStaff || m.Body != "We have your file." {
			t.Fatalf("posted %+v", m)
		}
		th := contThread(t, cli.do("GET", "/api/portal/chat", nil))
		if th[0].ID != m.ID {
			t.Fatal("the client does not see staff's message first")
		}
	})

	t.Run("staff validation and other tenants' clients", func(t *testing.T) {
		mustInvalid(t, staff.do("GET", "/api/admin/chat", nil), "client")
		mustInvalid(t, staff.do("GET", "/api/admin/chat?client=nope", nil), "client")
		before := contSnapshot(t, e)
		missing := staff.do("GET", "/api/admin/chat?client="+uuid.New().String(), nil)
		mustStatus(t, missing, 404, "not_found")
		for _, who := range []struct {
			name string
			id   uuid.UUID
		}{{"globex client", globex.Client}, {"acme staff", acme.Staff}, {"acme admin who is a globex client", e.demo.Consultant}} {
			r := staff.do("GET", "/api/admin/chat?client="+who.id.String(), nil)
			if r.Status != 404 || withoutRequestID(r.Body) != withoutRequestID(missing.Body) {
				t.Errorf("%s: got %d %s", who.name, r.Status, r.Body)
			}
			mustStatus(t, staff.do("POST", "/api/admin/chat", map[string]any{"client_id": who.id, "body": "hi"}), 404, "not_found")
		}
		mustInvalid(t, staff.do("POST", "/api/admin/chat", map[string]any{}), "client_id")
		mustInvalid(t, staff.do("POST", "/api/admin/chat", map[string]any{"client_id": acme.Client}), "body")
		mustInvalid(t, staff.do("POST", "/api/admin/chat", map[string]any{"client_id": acme.Client, "body": "   "}), "body")
		mustInvalid(t, staff.do("POST", "/api/admin/chat", map[string]any{"client_id": acme.Client, "body": strings.Repeat("x", 10001)}), "body")
		mustInvalid(t, staff.do("POST", "/api/admin/chat", map[string]any{"client_id": acme.Client, "body": "x", "sender_id": acme.Client}), "sender_id")
		if contSnapshot(t, e) != before {
			t.Fatal("refused chat requests changed data")
		}
		// Globex staff see globex threads only.
		for _, m := range contThread(t, gStaff.do("GET", "/api/admin/chat?client="+globex.Client.String(), nil)) {
			if m.ClientID != globex.Client {
				t.Fatal("foreign message in globex thread")
			}
		}
		mustStatus(t, gStaff.do("GET", "/api/admin/chat?client="+acme.Client.String(), nil), 404, "not_found")
	})

	t.Run("clients have only their own thread", func(t *testing.T) {
		for _, c := range []struct {
			c  *client
			id uuid.UUID
		}{{cli, acme.Client}, {cli2, acme.Client2}} {
			th := contThread(t, c.c.do("GET", "/api/portal/chat", nil))
			if len(th) < 2 {
				t.Fatalf("%s sees %d messages", c.id, len(th))
			}
			for _, m := range th {
				if m.ClientID != c.id {
					t.Fatalf("%s sees %s's message", c.id, m.ClientID)
				}
			}
		}
		r := cli2.do("POST", "/api/portal/chat", map[string]any{"body": "A question"})
		mustStatus(t, r, 201)
		var m contMessage
		r.decode(t, &m)
		if m.ClientID != acme.Client2 || m.SenderID != acme.Client2 || m.FromStaff {
			t.Fatalf("portal post %+v", m)
		}
		for _, m := range contThread(t, cli.do("GET", "/api/portal/chat", nil)) {
			if m.Body == "A question" {
				t.Fatal("client 1 sees client 2's message")
			}
		}
		mustInvalid(t, cli.do("POST", "/api/portal/chat", map[string]any{"body": ""}), "body")
		mustInvalid(t, cli.do("POST", "/api/portal/chat", map[string]any{}), "body")
		mustInvalid(t, cli.do("POST", "/api/portal/chat", map[string]any{"body": "x", "client_id": acme.Client2}), "client_id")
		mustStatus(t, cli.do("GET", "/api/admin/chat?client="+acme.Client.String(), nil), 403, "forbidden")
		mustStatus(t, cli.do("POST", "/api/admin/chat", map[string]any{"client_id": acme.Client2, "body": "x"}), 403, "forbidden")
		mustStatus(t, staff.do("GET", "/api/portal/chat", nil), 403, "forbidden")
	})
}

func TestContentSettings(t *testing.T) {
	e, _ := contEnv(t)
	owner := e.login("owner@acme.test", "")
	staff := e.login("staff@acme.test", "")
	cli := e.login("client@acme.test", "")
	gOwner := e.login("owner@globex.test", "")

	t.Run("booking settings", func(t *testing.T) {
		r := staff.do("GET", "/api/admin/booking-settings", nil)
		mustStatus(t, r, 200)
		var cur map[string]any
		r.decode(t, &cur)
		mustStatus(t, staff.do("PUT", "/api/admin/booking-settings", cur), 403, "forbidden")
		mustStatus(t, cli.do("GET", "/api/admin/booking-settings", nil), 403, "forbidden")
		// A GET body can be sent back unchanged.
		mustStatus(t, owner.do("PUT", "/api/admin/booking-settings", cur), 200)
		next := map[string]any{"allow_online_booking": true, "require_confirmation": false, "slot_minutes": 15,
			"min_notice_minutes": 120, "max_advance_days": 60, "day_start_minute": 480, "day_end_minute": 960,
			"working_days": []int{5, 1, 2}, "timezone": "Europe/Berlin"}
		r = owner.do("PUT", "/api/admin/booking-settings", next)
		mustStatus(t, r, 200)
		var got struct {
			SlotMinutes int     `json:"slot_minutes"`
			WorkingDays []int   `json:"working_days"`
			Timezone    string  `json:"timezone"`
			Require     bool    `json:"require_confirmation"`
			Extra       *string `json:"smtp_password"`
		}
		r.decode(t, &got)
		if got.SlotMinutes != 15 || got.Timezone != "Europe/Berlin" || got.Require || len(got.WorkingDays) != 3 || got.WorkingDays[0] != 1 {
			t.Fatalf("after PUT: %+v", got)
		}
		r = gOwner.do("GET", "/api/admin/booking-settings", nil)
		mustStatus(t, r, 200)
		r.decode(t, &got)
		if got.SlotMinutes == 15 {
			t.Fatal("acme's PUT changed globex's settings")
		}
		bad := func(k string, v any) map[string]any {
			m := map[string]any{}
			for a, b := range next {
				m[a] = b
			}
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
			return m
		}
		before := contSnapshot(t, e)
		for _, c := range []struct {
			field string
			v     any
		}{
			{"slot_minutes", 1}, {"slot_minutes", nil}, {"max_advance_days", 0}, {"day_start_minute", -1},
			{"day_end_minute", 400}, {"working_days", []int{0, 8}}, {"working_days", []int{1, 1}},
			{"working_days", nil}, {"timezone", "Mars/Olympus"}, {"timezone", ""}, {"min_notice_minutes", -5},
		} {
			mustInvalid(t, owner.do("PUT", "/api/admin/booking-settings", bad(c.field, c.v)), c.field)
		}
		mustInvalid(t, owner.do("PUT", "/api/admin/booking-settings", bad("tenant_id", uuid.New().String())), "tenant_id")
		mustInvalid(t, owner.do("PUT", "/api/admin/booking-settings", bad("slot_minutes", "15")), "slot_minutes")
		if contSnapshot(t, e) != before {
			t.Fatal("refused PUTs changed data")
		}
	})

	t.Run("communication settings never show the password", func(t *testing.T) {
		secret := "demo-smtp-secret-acme"
		check := func(r *resp) map[string]any {
			t.Helper()
			if strings.Contains(string(r.Body), secret) || strings.Contains(string(r.Body), `"smtp_password"`) {
				t.Fatalf("response holds the SMTP password: %s", r.Body)
			}
			var m map[string]any
			_ = json.Unmarshal(r.Body, &m)
			return m
		}
		r := staff.do("GET", "/api/admin/communication-settings", nil)
		mustStatus(t, r, 200)
		cur := check(r)
		if cur["smtp_password_set"] != true || cur["from_email"] != "hello@acme.test" {
			t.Fatalf("seeded settings %v", cur)
		}
		mustStatus(t, staff.do("PUT", "/api/admin/communication-settings", cur), 403, "forbidden")

		// Sent back unchanged (without a password): the stored one stays.
		cur["from_name"] = "Acme Advisory LLP"
		r = owner.do("PUT", "/api/admin/communication-settings", cur)
		mustStatus(t, r, 200)
		if m := check(r); m["smtp_password_set"] != true || m["from_name"] != "Acme Advisory LLP" {
			t.Fatalf("after PUT: %v", m)
		}
		// A new server without a new password: the old password must not follow it.
		cur["smtp_host"] = "smtp.elsewhere.test"
		r = owner.do("PUT", "/api/admin/communication-settings", cur)
		mustStatus(t, r, 200)
		if m := check(r); m["smtp_password_set"] != false {
			t.Fatalf("password carried to another host: %v", m)
		}
		cur["smtp_password"] = "new-secret"
		r = owner.do("PUT", "/api/admin/communication-settings", cur)
		mustStatus(t, r, 200)
		if strings.Contains(string(r.Body), "new-secret") || check(r)["smtp_password_set"] != true {
			t.Fatalf("after setting a password: %s", r.Body)
		}
		var stored string
		contSQL(t, e, `SELECT smtp_password FROM communication_settings WHERE tenant_id = $1`, []any{e.demo.Acme.ID}, &stored)
		if stored != "new-secret" {
			t.Fatalf("stored password %q", stored)
		}
		delete(cur, "smtp_password")

		before := contSnapshot(t, e)
		for _, c := range []struct {
			field string
			v     any
		}{
			{"from_email", "not an address"}, {"from_email", "Name <a@b.test>"}, {"reply_to", "x@"},
			{"from_name", "Acme\r\nBcc: victim@example.test"}, {"smtp_port", 0}, {"smtp_port", 70000},
			{"smtp_host", "bad host!"}, {"smtp_username", "a\nb"}, {"email_signature", strings.Repeat("x", 2001)},
			{"notify_on_booking", "yes"}, {"from_name", nil},
		} {
			m := map[string]any{}
			for k, v := range cur {
				m[k] = v
			}
			if c.v == nil {
				delete(m, c.field)
			} else {
				m[c.field] = c.v
			}
			mustInvalid(t, owner.do("PUT", "/api/admin/communication-settings", m), c.field)
		}
		if contSnapshot(t, e) != before {
			t.Fatal("refused PUTs changed data")
		}
	})

	t.Run("export and import", func(t *testing.T) {
		mustStatus(t, staff.do("GET", "/api/admin/communication-settings/export", nil), 403, "forbidden")
		r := owner.do("GET", "/api/admin/communication-settings/export", nil)
		mustStatus(t, r, 200)
		if strings.Contains(string(r.Body), "password") || strings.Contains(string(r.Body), "secret") {
			t.Fatalf("export holds a password: %s", r.Body)
		}
		var doc map[string]any
		r.decode(t, &doc)
		if doc["version"] != float64(1) || doc["settings"] == nil {
			t.Fatalf("export %v", doc)
		}
		// Globex's own password stays while its host is unchanged ...
		gr := gOwner.do("GET", "/api/admin/communication-settings/export", nil)
		mustStatus(t, gr, 200)
		mustStatus(t, gOwner.do("POST", "/api/admin/communication-settings/import", gr.Body), 200)
		var set bool
		contSQL(t, e, `SELECT smtp_password <> '' FROM communication_settings WHERE tenant_id = $1`, []any{e.demo.Globex.ID}, &set)
		if !set {
			t.Fatal("re-importing globex's own export dropped its password")
		}
		// ... and importing acme's document moves globex to acme's server without any password.
		r = gOwner.do("POST", "/api/admin/communication-settings/import", doc)
		mustStatus(t, r, 200)
		var got map[string]any
		r.decode(t, &got)
		settings := doc["settings"].(map[string]any)
		for k, v := range settings {
			if got[k] != v {
				t.Errorf("imported %s = %v, want %v", k, got[k], v)
			}
		}
		if got["smtp_password_set"] != false {
			t.Fatal("imported settings kept a password for another server")
		}
		mustStatus(t, staff.do("POST", "/api/admin/communication-settings/import", doc), 403, "forbidden")

		before := contSnapshot(t, e)
		with := func(k string, v any) map[string]any {
			s := map[string]any{}
			for a, b := range settings {
				s[a] = b
			}
			if v == nil {
				delete(s, k)
			} else {
				s[k] = v
			}
			return map[string]any{"version": 1, "settings": s}
		}
		mustInvalid(t, owner.do("POST", "/api/admin/communication-settings/import", with("smtp_password", "x")), "settings.smtp_password")
		mustInvalid(t, owner.do("POST", "/api/admin/communication-settings/import", with("smtp_port", 0)), "smtp_port")
		mustInvalid(t, owner.do("POST", "/api/admin/communication-settings/import", with("from_email", nil)), "from_email")
		mustInvalid(t, owner.do("POST", "/api/admin/communication-settings/import", map[string]any{"version": 2, "settings": settings}), "version")
		mustInvalid(t, owner.do("POST", "/api/admin/communication-settings/import", map[string]any{"version": 1}), "settings")
		mustInvalid(t, owner.do("POST", "/api/admin/communication-settings/import", map[string]any{"version": 1, "settings": settings, "tenant": "globex"}), "tenant")
		mustInvalid(t, owner.do("POST", "/api/admin/communication-settings/import", "not json"))
		if contSnapshot(t, e) != before {
			t.Fatal("refused imports changed data")
		}
	})

	t.Run("thresholds", func(t *testing.T) {
		r := staff.do("GET", "/api/admin/thresholds", nil)
		mustStatus(t, r, 200)
		var cur map[string]any
		r.decode(t, &cur)
		mustStatus(t, staff.do("PUT", "/api/admin/thresholds", cur), 403, "forbidden")
		next := map[string]any{"overdue_invoice_days": 14, "max_open_requests_per_member": 5,
			"expense_approval_cents": 50000, "requests_per_minute": 120}
		r = owner.do("PUT", "/api/admin/thresholds", next)
		mustStatus(t, r, 200)
		var got map[string]any
		r.decode(t, &got)
		for k, v := range next {
			if got[k] != float64(v.(int)) {
				t.Errorf("%s = %v, want %v", k, got[k], v)
			}
		}
		r = gOwner.do("GET", "/api/admin/thresholds", nil)
		r.decode(t, &got)
		if got["overdue_invoice_days"] == float64(14) {
			t.Fatal("acme's PUT changed globex's thresholds")
		}
		before := contSnapshot(t, e)
		for _, c := range []struct {
			field string
			v     any
		}{
			{"overdue_invoice_days", -1}, {"requests_per_minute", 0}, {"expense_approval_cents", -1},
			{"max_open_requests_per_member", nil}, {"requests_per_minute", 1.5},
		} {
			m := map[string]any{}
			for k, v := range next {
				m[k] = v
			}
			if c.v == nil {
				delete(m, c.field)
			} else {
				m[c.field] = c.v
			}
			mustInvalid(t, owner.do("PUT", "/api/admin/thresholds", m), c.field)
		}
		if contSnapshot(t, e) != before {
			t.Fatal("refused PUTs changed data")
		}
	})
}

type contPost struct {
	ID          uuid.UUID  `json:"id"`
	Slug        string     `json:"slug"`
	Title       string     `json:"title"`
	Status      string     `json:"status"`
	PublishedAt *time.Time `json:"published_at"`
}

func contPostSlugs(t *testing.T, c *client) map[string]string {
	t.Helper()
	r := c.do("GET", "/api/posts", nil)
	mustStatus(t, r, 200)
	var l struct{ Items []contPost }
	r.decode(t, &l)
	out := map[string]string{}
	for _, p := range l.Items {
		out[p.Slug] = p.Status
	}
	return out
}

func TestContentPosts(t *testing.T) {
	e, _ := contEnv(t)
	staff := e.login("staff@acme.test", "")
	owner := e.login("owner@acme.test", "")
	cli := e.login("client@acme.test", "")
	gOwner := e.login("owner@globex.test", "")
	anonAcme := e.anon().onHost("acme.localhost")

	t.Run("public view", func(t *testing.T) {
		for _, c := range []struct {
			name       string
			c          *client
			wantDrafts bool
		}{
			{"anonymous", anonAcme, false},
			{"client on the host", cli.onHost("acme.localhost"), false},
			{"other tenant's owner on the host", gOwner.onHost("acme.localhost"), false},
			{"staff on the host", staff.onHost("acme.localhost"), true},
			{"staff at the apex", staff, true},
			{"client at the apex", cli, false},
		} {
			slugs := contPostSlugs(t, c.c)
			if slugs["welcome"] != "published" {
				t.Errorf("%s: published post missing: %v", c.name, slugs)
			}
			if _, ok := slugs["pricing-update"]; ok != c.wantDrafts {
				t.Errorf("%s: sees draft = %v", c.name, ok)
			}
			dr := c.c.do("GET", "/api/posts/pricing-update", nil)
			if c.wantDrafts {
				mustStatus(t, dr, 200)
			} else {
				mustStatus(t, dr, 404, "not_found")
			}
			mustStatus(t, c.c.do("GET", "/api/posts/welcome", nil), 200)
		}
		mustStatus(t, e.anon().do("GET", "/api/posts", nil), 404, "tenant_not_found")
		mustStatus(t, e.anon().onHost("nope.localhost").do("GET", "/api/posts", nil), 404, "tenant_not_found")
		mustStatus(t, anonAcme.do("GET", "/api/posts/Not_A_Slug", nil), 404, "not_found")
	})

	t.Run("write", func(t *testing.T) {
		r := staff.do("POST", "/api/posts", map[string]any{"slug": "news", "title": "News", "body": "Hello"})
		mustStatus(t, r, 201)
		var p contPost
		r.decode(t, &p)
		if p.Status != "draft" || p.PublishedAt != nil {
			t.Fatalf("new post %+v", p)
		}
		mustStatus(t, anonAcme.do("GET", "/api/posts/news", nil), 404, "not_found")
		mustStatus(t, staff.do("POST", "/api/posts", map[string]any{"slug": "news", "title": "Again"}), 409, "conflict")
		// The same slug in another tenant is fine.
		mustStatus(t, gOwner.do("POST", "/api/posts", map[string]any{"slug": "news", "title": "Globex news"}), 201)
		before := contSnapshot(t, e)
		mustInvalid(t, staff.do("POST", "/api/posts", map[string]any{}), "slug", "title")
		mustInvalid(t, staff.do("POST", "/api/posts", map[string]any{"slug": "Bad Slug", "title": "x"}), "slug")
		mustInvalid(t, staff.do("POST", "/api/posts", map[string]any{"slug": "ok", "title": "x", "status": "live"}), "status")
		mustInvalid(t, staff.do("POST", "/api/posts", map[string]any{"slug": "ok", "title": "x", "author_id": e.demo.Acme.Client}), "author_id")
		mustStatus(t, cli.do("POST", "/api/posts", map[string]any{"slug": "mine", "title": "x"}), 403, "forbidden")
		mustStatus(t, e.anon().onHost("acme.localhost").do("POST", "/api/posts", map[string]any{"slug": "x", "title": "x"}), 401)
		if contSnapshot(t, e) != before {
			t.Fatal("refused creates changed data")
		}

		r = staff.do("PUT", "/api/posts/news", map[string]any{"status": "published"})
		mustStatus(t, r, 200)
		r.decode(t, &p)
		if p.Status != "published" || p.PublishedAt == nil || p.Title != "News" {
			t.Fatalf("published %+v", p)
		}
		mustStatus(t, anonAcme.do("GET", "/api/posts/news", nil), 200)
		mustStatus(t, staff.do("PUT", "/api/posts/news", map[string]any{"slug": "welcome"}), 409, "conflict")
		mustInvalid(t, staff.do("PUT", "/api/posts/news", map[string]any{"title": ""}), "title")
		r = staff.do("PUT", "/api/posts/news", map[string]any{"slug": "news-2024", "status": "draft"})
		mustStatus(t, r, 200)
		r.decode(t, &p)
		if p.Slug != "news-2024" || p.PublishedAt != nil {
			t.Fatalf("renamed %+v", p)
		}
		mustStatus(t, cli.do("DELETE", "/api/posts/news-2024", nil), 403, "forbidden")
		mustStatus(t, owner.do("DELETE", "/api/posts/news-2024", nil), 204)
		mustStatus(t, owner.do("DELETE", "/api/posts/news-2024", nil), 404, "not_found")
	})

	t.Run("cross-tenant slugs", func(t *testing.T) {
		mustStatus(t, gOwner.do("POST", "/api/posts", map[string]any{"slug": "globex-only", "title": "Globex only", "status": "published"}), 201)
		before := contSnapshot(t, e)
		for _, c := range []struct{ method, path string }{
			{"PUT", "/api/posts/globex-only"}, {"DELETE", "/api/posts/globex-only"}, {"PUT", "/api/posts/Bad_Slug"},
		} {
			mustStatus(t, owner.do(c.method, c.path, map[string]any{}), 404, "not_found")
			mustStatus(t, owner.do(c.method, c.path, map[string]any{"title": "taken over"}), 404, "not_found")
		}
		mustStatus(t, anonAcme.do("GET", "/api/posts/globex-only", nil), 404, "not_found")
		mustStatus(t, owner.onHost("globex.localhost").do("PUT", "/api/posts/globex-only", map[string]any{}), 403, "tenant_mismatch")
		if contSnapshot(t, e) != before {
			t.Fatal("cross-tenant writes changed data")
		}
		mustStatus(t, e.anon().onHost("globex.localhost").do("GET", "/api/posts/globex-only", nil), 200)
	})
}
