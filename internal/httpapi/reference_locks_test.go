package httpapi_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

// A write that refers to a team member or a client decides on the row as it is when it
// commits: a deactivation or revocation that another transaction is committing at that moment
// is waited for and then seen (422 naming the field), not slipped past.
func TestReferencesAreCheckedAgainstConcurrentChanges(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	acme := e.demo.Acme
	when := time.Now().UTC().Add(120 * time.Hour).Truncate(time.Hour)
	staffTM := reqTeamMemberOf(t, owner, acme.Staff).ID
	cases := []struct {
		name    string
		lockSQL string
		lockArg uuid.UUID
		change  string
		method  string
		path    string
		body    map[string]any
		field   string
	}{
		{"a booking assigned to a member being deactivated",
			`SELECT 1 FROM team_members WHERE id = $1 FOR UPDATE`, staffTM, `UPDATE team_members SET active = false WHERE id = $1`,
			"POST", "/api/bookings", map[string]any{"service_id": acme.Services[0], "client_id": acme.Client, "starts_at": when, "assignee_id": staffTM}, "assignee_id"},
		{"a request assigned to a member being deactivated",
			`SELECT 1 FROM team_members WHERE id = $1 FOR UPDATE`, staffTM, `UPDATE team_members SET active = false WHERE id = $1`,
			"POST", "/api/admin/service-requests", map[string]any{"client_id": acme.Client, "title": "Payroll", "assignee_id": staffTM}, "assignee_id"},
		{"a work order assigned to a member being deactivated",
			`SELECT 1 FROM team_members WHERE id = $1 FOR UPDATE`, staffTM, `UPDATE team_members SET active = false WHERE id = $1`,
			"POST", "/api/admin/work-orders", map[string]any{"code": "LOCK-1", "title": "Audit", "assignee_id": staffTM}, "assignee_id"},
		{"a booking for a client being revoked",
			`SELECT 1 FROM memberships WHERE user_id = $1 FOR NO KEY UPDATE`, acme.Client, `UPDATE memberships SET status = 'revoked' WHERE user_id = $1`,
			"POST", "/api/bookings", map[string]any{"service_id": acme.Services[0], "client_id": acme.Client, "starts_at": when}, "client_id"},
		{"a request for a client being revoked",
			`SELECT 1 FROM memberships WHERE user_id = $1 FOR NO KEY UPDATE`, acme.Client, `UPDATE memberships SET status = 'revoked' WHERE user_id = $1`,
			"POST", "/api/admin/service-requests", map[string]any{"client_id": acme.Client, "title": "Payroll"}, "client_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Registered before the holding transaction, so they run after it has ended.
			t.Cleanup(func() {
				superExec(t, e, `UPDATE team_members SET active = true WHERE id = $1`, staffTM)
				superExec(t, e, `UPDATE memberships SET status = 'active' WHERE user_id = $1`, acme.Client)
			})
			holder := holdRows(t, e, 1, tc.lockSQL, tc.lockArg)
			holder.exec(tc.change, tc.lockArg)
			done := make(chan *resp, 1)
			go func() { done <- owner.do(tc.method, tc.path, tc.body) }()
			awaitLockWaiters(t, e, 1)
			holder.commit()
			mustInvalid(t, <-done, tc.field)
		})
	}
}
