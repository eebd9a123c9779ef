package httpapi_test

import (
	"net/http"
	"testing"
)

// A date (YYYY-MM-DD) in a body or a query is taken from the year 1 to the year 9998, the
// years timestamps are taken from. Go parses the year 0000, which PostgreSQL refuses: such a
// date used to reach the database and come back as a 422 naming no field. Each is refused
// with 422 naming the field, and nothing is stored; the first and last days are taken.
func TestInputRulesDates(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "acme")
	clientID := e.demo.Acme.Client.String()
	ids := map[string]string{}
	for name, c := range map[string]struct {
		path string
		body map[string]any
	}{
		"expense":    {"/api/admin/expenses", map[string]any{"description": "d", "amount_cents": 1, "incurred_on": "2030-01-01"}},
		"invoice":    {"/api/admin/invoices", map[string]any{"client_id": clientID}},
		"work order": {"/api/admin/work-orders", map[string]any{"code": "WO-DATES", "title": "Dates"}},
	} {
		r := owner.do("POST", c.path, c.body)
		mustStatus(t, r, http.StatusCreated)
		var v struct{ ID string }
		r.decode(t, &v)
		ids[name] = v.ID
	}
	onHost := e.anon().onHost("acme.localhost")

	type call struct {
		caller       *client
		method, path string
		body         map[string]any
		field        string
	}
	calls := func(date string) []call {
		return []call{
			{owner, "POST", "/api/admin/expenses", map[string]any{"description": "d", "amount_cents": 1, "incurred_on": date}, "incurred_on"},
			{owner, "PATCH", "/api/admin/expenses/" + ids["expense"], map[string]any{"incurred_on": date}, "incurred_on"},
			{owner, "GET", "/api/admin/expenses?from=" + date, nil, "from"},
			{owner, "GET", "/api/admin/expenses?to=" + date, nil, "to"},
			{owner, "POST", "/api/admin/invoices", map[string]any{"client_id": clientID, "due_on": date}, "due_on"},
			{owner, "PATCH", "/api/admin/invoices/" + ids["invoice"], map[string]any{"due_on": date}, "due_on"},
			{owner, "POST", "/api/admin/work-orders", map[string]any{"code": "WO-" + date, "title": "t", "due_on": date}, "due_on"},
			{owner, "PUT", "/api/admin/work-orders/" + ids["work order"], map[string]any{"code": "WO-DATES", "title": "Dates", "due_on": date}, "due_on"},
			{onHost, "GET", "/api/bookings/availability?service=tax-return&date=" + date, nil, "date"},
		}
	}
	counts := `SELECT (SELECT count(*) FROM expenses) + (SELECT count(*) FROM invoices) + (SELECT count(*) FROM work_orders)
		+ (SELECT count(*) FROM expenses WHERE incurred_on <> '2030-01-01') + (SELECT count(*) FROM invoices WHERE due_on IS NOT NULL)
		+ (SELECT count(*) FROM work_orders WHERE due_on IS NOT NULL)`
	var before int64
	contSQL(t, e, counts, nil, &before)
	for _, date := range []string{"0000-01-01", "0000-12-31", "9999-01-01", "9999-12-31"} {
		for _, c := range calls(date) {
			t.Run(date+" "+c.method+" "+c.path, func(t *testing.T) {
				r := c.caller.do(c.method, c.path, c.body)
				mustStatus(t, r, http.StatusUnprocessableEntity, "validation_failed")
				if !r.namesField(c.field) {
					t.Fatalf("the problem does not name %s: %s", c.field, r.Body)
				}
			})
		}
	}
	var after int64
	contSQL(t, e, counts, nil, &after)
	if after != before {
		t.Fatalf("refused requests changed %d rows", after-before)
	}

	for _, date := range []string{"0001-01-01", "9998-12-31"} {
		for _, c := range calls(date) {
			t.Run(date+" "+c.method+" "+c.path, func(t *testing.T) {
				r := c.caller.do(c.method, c.path, c.body)
				if r.Status < 200 || r.Status > 299 {
					t.Fatalf("got %d %s", r.Status, r.Body)
				}
			})
		}
	}
}
