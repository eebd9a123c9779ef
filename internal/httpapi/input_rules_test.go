package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// Values JSON and URLs can carry but no request may: text with a NUL character or invalid
// UTF-8 (PostgreSQL text holds neither) and timestamps outside the years 1 to 9998 (a JSON
// answer cannot carry a year beyond 9999). Each is refused with 422 naming where it was, and
// nothing is stored; none reaches the database as a 500.
func TestInputRulesUnstorableValues(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "acme")
	acme := e.demo.Acme
	svc, clientID, staff := acme.Services[0].String(), acme.Client.String(), acme.Staff.String()
	cases := []struct {
		name      string
		caller    *client
		method    string
		path      string
		body      any
		headers   []string
		wantField string
	}{
		{"NUL in a body field", owner, "POST", "/api/admin/expenses",
			map[string]any{"description": "lunch\u0000", "category": "meals", "amount_cents": 100, "incurred_on": "2030-01-01"}, nil, "description"},
		{"NUL in a field of a list item", owner, "POST", "/api/admin/invoices",
			map[string]any{"client_id": clientID, "items": []any{map[string]any{"description": "a\u0000", "quantity": 1, "unit_price_cents": 1}}}, nil, "items.description"},
		{"NUL in an optional field of a change", owner, "PATCH", "/api/admin/services/" + svc,
			map[string]any{"name": "x\u0000"}, nil, "name"},
		{"NUL in a login email", e.anon(), "POST", "/api/auth/login",
			map[string]any{"email": "owner@acme.test\u0000", "password": "demo-password"}, nil, "email"},
		{"NUL in a registration name", e.anon().onHost("acme.localhost"), "POST", "/api/auth/register",
			map[string]any{"email": "n@x.test", "password": "long-enough-password", "name": "n\u0000"}, nil, "name"},
		{"NUL in a query parameter", owner, "GET", "/api/admin/audit-logs?action=" + url.QueryEscape("\x00"), nil, nil, "action"},
		{"invalid UTF-8 in a query parameter", owner, "GET", "/api/admin/expenses?category=" + url.QueryEscape("\xff"), nil, nil, "category"},
		{"a byte above ASCII in an Idempotency-Key", owner, "POST", "/api/admin/expenses",
			map[string]any{"description": "d", "category": "c", "amount_cents": 1, "incurred_on": "2030-01-01"}, []string{"Idempotency-Key", "k\xff"}, "Idempotency-Key"},
		{"a start in the year 10000 (UTC)", owner, "POST", "/api/bookings",
			map[string]any{"service_id": svc, "client_id": clientID, "starts_at": "9999-12-31T22:00:00-01:00", "ends_at": "9999-12-31T23:30:00-01:00"}, nil, "starts_at"},
		{"a start whose computed end would be in the year 10000", owner, "POST", "/api/bookings",
			map[string]any{"service_id": svc, "client_id": clientID, "starts_at": "9999-12-31T23:30:00Z"}, nil, "starts_at"},
		{"a start in the year 0", owner, "POST", "/api/bookings",
			map[string]any{"service_id": svc, "client_id": clientID, "starts_at": "0000-01-01T00:00:00+01:00"}, nil, "starts_at"},
		{"a reminder due in the year 10000", owner, "POST", "/api/admin/reminders",
			map[string]any{"title": "t", "due_at": "9999-12-31T23:30:00-01:00", "user_id": staff}, nil, "due_at"},
		{"a token expiring in the year 10000", owner, "POST", "/api/admin/api-tokens",
			map[string]any{"name": "n", "role": "STAFF", "expires_at": "9999-12-31T23:30:00-01:00"}, nil, "expires_at"},
		{"a calendar range ending in the year 10000", owner, "GET", "/api/admin/calendar?from=2030-01-01&to=" + url.QueryEscape("9999-12-31T23:30:00-01:00"), nil, nil, "to"},
	}
	counts := `SELECT (SELECT count(*) FROM expenses) + (SELECT count(*) FROM invoices) + (SELECT count(*) FROM bookings)
		+ (SELECT count(*) FROM reminders) + (SELECT count(*) FROM api_tokens) + (SELECT count(*) FROM users)
		+ (SELECT count(*) FROM idempotency_keys)`
	var before int64
	contSQL(t, e, counts, nil, &before)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.caller.do(tc.method, tc.path, tc.body, tc.headers...)
			mustStatus(t, r, http.StatusUnprocessableEntity, "validation_failed")
			if !r.namesField(tc.wantField) {
				t.Fatalf("the problem does not name %s: %s", tc.wantField, r.Body)
			}
		})
	}
	var after int64
	contSQL(t, e, counts, nil, &after)
	if after != before {
		t.Fatalf("refused requests stored %d rows", after-before)
	}
}

// A card payment the provider reports expires the invoice's other waiting sessions, as staff
// settling it does: a second checkout link stops looking payable. A late report on it is still
// recorded.
func TestWebhookPaymentExpiresSiblingSessions(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "acme")
	r := owner.do("POST", "/api/admin/invoices", map[string]any{"client_id": e.demo.Acme.Client.String(), "status": "sent",
		"items": []any{map[string]any{"description": "x", "quantity": 1, "unit_price_cents": 100}}})
	mustStatus(t, r, http.StatusCreated)
	var inv struct{ ID string }
	r.decode(t, &inv)
	var sessions [2]struct{ ID string }
	for i := range sessions {
		r = owner.do("POST", "/api/payments/checkout", map[string]any{"invoice_id": inv.ID})
		mustStatus(t, r, http.StatusCreated)
		r.decode(t, &sessions[i])
	}
	report := func(id string) {
		body := fmt.Sprintf(`{"session_id":%q,"status":"paid"}`, id)
		mustStatus(t, e.anon().do("POST", "/api/payments/webhook", body, "X-Payment-Signature", billSign(e, []byte(body))), http.StatusOK)
	}
	status := func(id string) string {
		var s string
		contSQL(t, e, `SELECT status FROM payment_sessions WHERE id = $1`, []any{id}, &s)
		return s
	}
	report(sessions[0].ID)
	if got := status(sessions[1].ID); got != "expired" {
		t.Fatalf("the other session is %q, want expired", got)
	}
	report(sessions[1].ID) // paid after all: recorded
	if got := status(sessions[1].ID); got != "paid" {
		t.Fatalf("a late payment on the expired session is %q, want paid", got)
	}
}

// A booking lasts at most a week: a longer one is refused naming ends_at, and one of exactly
// a week is taken.
func TestBookingLengthIsBounded(t *testing.T) {
	e := newEnv(t)
	staff := e.login("staff@acme.test", "")
	start := time.Now().UTC().AddDate(0, 1, 0).Truncate(time.Hour)
	body := func(length time.Duration) map[string]any {
		return map[string]any{"service_id": e.demo.Acme.Services[0], "client_id": e.demo.Acme.Client,
			"starts_at": start, "ends_at": start.Add(length)}
	}
	r := staff.do("POST", "/api/bookings", body(168*time.Hour+time.Minute))
	mustStatus(t, r, http.StatusUnprocessableEntity, "validation_failed")
	if !r.namesField("ends_at") {
		t.Fatalf("the problem does not name ends_at: %s", r.Body)
	}
	mustStatus(t, staff.do("POST", "/api/bookings", body(168*time.Hour)), http.StatusCreated)
}

// A calendar answer holds at most 2,000 entries: a range holding more is refused, naming to,
// and a range holding exactly that many is answered whole.
func TestCalendarEntriesAreBounded(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	from := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	superExec(t, e, fmt.Sprintf(`INSERT INTO reminders (tenant_id, id, title, due_at, user_id)
		SELECT '%s', gen_random_uuid(), 'bulk', '%s'::timestamptz + g * interval '1 hour', '%s' FROM generate_series(0, 2000) g`,
		e.demo.Acme.ID, from.Format(time.RFC3339), e.demo.Acme.Owner))
	at := func(hours int) string {
		return url.QueryEscape(from.Add(time.Duration(hours) * time.Hour).Format(time.RFC3339))
	}
	r := owner.do("GET", "/api/admin/calendar?from="+at(0)+"&to="+at(2001), nil)
	mustStatus(t, r, http.StatusUnprocessableEntity, "validation_failed")
	if !r.namesField("to") {
		t.Fatalf("the problem does not name to: %s", r.Body)
	}
	r = owner.do("GET", "/api/admin/calendar?from="+at(0)+"&to="+at(2000), nil)
	mustStatus(t, r, http.StatusOK)
	var list struct {
		Items []any `json:"items"`
	}
	r.decode(t, &list)
	if len(list.Items) != 2000 {
		t.Fatalf("%d entries, want 2000", len(list.Items))
	}
}
