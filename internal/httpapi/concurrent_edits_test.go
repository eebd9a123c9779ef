package httpapi_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/google/uuid"
)

// Two requests that change the same row at the same moment must not lose either change, nor
// decide a rule on the row as it was before the other committed. Every handler that reads a
// row and then writes it (or writes what it decided on it) reads it locked.

type concCall struct {
	c      *client
	method string
	path   string
	body   any
}

func (k concCall) do() *resp { return k.c.do(k.method, k.path, k.body) }

// concInterleave runs first and second against one row, in this order, while a separate
// transaction holds that row. Each request gets as far as the row lock (having done the reads
// it decides on), then the lock is released and they finish in arrival order.
func concInterleave(t *testing.T, e *env, lockSQL string, args []any, first, second concCall) (*resp, *resp) {
	t.Helper()
	holder := holdRows(t, e, 1, lockSQL, args...)
	var wg sync.WaitGroup
	out := make([]*resp, 2)
	for i, call := range []concCall{first, second} {
		wg.Go(func() { out[i] = call.do() })
		awaitLockWaiters(t, e, i+1)
	}
	holder.commit()
	wg.Wait()
	return out[0], out[1]
}

func concID(t *testing.T, r *resp) uuid.UUID {
	t.Helper()
	var v struct {
		ID uuid.UUID `json:"id"`
	}
	r.decode(t, &v)
	return v.ID
}

// concRowLock is the lock query for the row of a tenant-owned table with this id.
func concRowLock(table string) string {
	return `SELECT 1 FROM ` + table + ` WHERE tenant_id = $1 AND id = $2 FOR UPDATE`
}

func TestConcurrentEditsKeepEachOthersChanges(t *testing.T) {
	type run struct {
		lockSQL       string
		lockArgs      []any
		first, second concCall
		check         func(t *testing.T, r1, r2 *resp)
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, e *env) run
	}{
		{
			name: "users: a role change that waited for a revocation keeps the member revoked",
			setup: func(t *testing.T, e *env) run {
				acme := e.demo.Acme
				owner := e.login("owner@acme.test", "")
				admin := e.login("consultant@demo.test", "acme")
				staff := e.login("staff@acme.test", "")
				return run{
					lockSQL:  `SELECT 1 FROM memberships WHERE tenant_id = $1 AND user_id = $2 FOR UPDATE`,
					lockArgs: []any{acme.ID, acme.Staff},
					first:    concCall{owner, "PATCH", "/api/admin/users/" + acme.Staff.String(), map[string]any{"status": "revoked"}},
					second:   concCall{admin, "PATCH", "/api/admin/users/" + acme.Staff.String(), map[string]any{"role": "TEAM_LEAD"}},
					check: func(t *testing.T, r1, r2 *resp) {
						mustStatus(t, r1, http.StatusOK)
						mustStatus(t, r2, http.StatusOK)
						m := reqMember(t, owner, acme.Staff)
						if m.Role != "TEAM_LEAD" || m.Status != "revoked" {
							t.Errorf("revocation and role change both answered 200; the membership is %s/%s, want TEAM_LEAD/revoked", m.Role, m.Status)
						}
						if r := staff.do("GET", "/api/bookings", nil); r.Status == http.StatusOK {
							t.Errorf("the revoked member still works: GET /api/bookings = %d", r.Status)
						}
					},
				}
			},
		},
		{
			name: "users: an admin's change that waited for a promotion to owner is refused",
			setup: func(t *testing.T, e *env) run {
				acme := e.demo.Acme
				owner := e.login("owner@acme.test", "")
				admin := e.login("consultant@demo.test", "acme")
				return run{
					lockSQL:  `SELECT 1 FROM memberships WHERE tenant_id = $1 AND user_id = $2 FOR UPDATE`,
					lockArgs: []any{acme.ID, acme.Staff},
					first:    concCall{owner, "PATCH", "/api/admin/users/" + acme.Staff.String(), map[string]any{"role": "OWNER"}},
					second:   concCall{admin, "PATCH", "/api/admin/users/" + acme.Staff.String(), map[string]any{"status": "revoked"}},
					check: func(t *testing.T, r1, r2 *resp) {
						mustStatus(t, r1, http.StatusOK)
						mustStatus(t, r2, http.StatusForbidden, "forbidden")
						if m := reqMember(t, owner, acme.Staff); m.Role != "OWNER" || m.Status != "active" {
							t.Errorf("an ADMIN changed an OWNER's membership: it is %s/%s", m.Role, m.Status)
						}
					},
				}
			},
		},
		{
			name: "expenses: a PATCH of the amount keeps a concurrent PATCH of the description",
			setup: func(t *testing.T, e *env) run {
				owner := e.login("owner@acme.test", "")
				staff := e.login("staff@acme.test", "")
				r := owner.do("POST", "/api/admin/expenses", map[string]any{"description": "Taxi", "category": "travel", "amount_cents": 1000, "incurred_on": "2030-03-04"})
				mustStatus(t, r, http.StatusCreated)
				id := concID(t, r)
				return run{
					lockSQL:  concRowLock("expenses"),
					lockArgs: []any{e.demo.Acme.ID, id},
					first:    concCall{owner, "PATCH", "/api/admin/expenses/" + id.String(), map[string]any{"description": "Taxi to client site"}},
					second:   concCall{staff, "PATCH", "/api/admin/expenses/" + id.String(), map[string]any{"amount_cents": 2500}},
					check: func(t *testing.T, r1, r2 *resp) {
						mustStatus(t, r1, http.StatusOK)
						mustStatus(t, r2, http.StatusOK)
						var desc string
						var amount int64
						contSQL(t, e, `SELECT description, amount_cents FROM expenses WHERE id = $1`, []any{id}, &desc, &amount)
						if desc != "Taxi to client site" || amount != 2500 {
							t.Errorf("both PATCHes answered 200; stored description %q amount %d", desc, amount)
						}
					},
				}
			},
		},
		{
			name: "services: a rename that waited for a deactivation keeps the service inactive",
			setup: func(t *testing.T, e *env) run {
				owner := e.login("owner@acme.test", "")
				admin := e.login("consultant@demo.test", "acme")
				id := e.demo.Acme.Services[0]
				return run{
					lockSQL:  concRowLock("services"),
					lockArgs: []any{e.demo.Acme.ID, id},
					first:    concCall{owner, "PATCH", "/api/admin/services/" + id.String(), map[string]any{"active": false}},
					second:   concCall{admin, "PATCH", "/api/admin/services/" + id.String(), map[string]any{"name": "Renamed"}},
					check: func(t *testing.T, r1, r2 *resp) {
						mustStatus(t, r1, http.StatusOK)
						mustStatus(t, r2, http.StatusOK)
						var active bool
						var name string
						contSQL(t, e, `SELECT active, name FROM services WHERE id = $1`, []any{id}, &active, &name)
						if active || name != "Renamed" {
							t.Errorf("both PATCHes answered 200; stored active=%v name=%q", active, name)
						}
					},
				}
			},
		},
		{
			name: "service requests: a client's edit that waited for staff to start the request is refused",
			setup: func(t *testing.T, e *env) run {
				staff := e.login("staff@acme.test", "")
				client := e.login("client@acme.test", "")
				r := client.do("POST", "/api/portal/service-requests", map[string]any{"title": "Tax return", "description": "2029"})
				mustStatus(t, r, http.StatusCreated)
				id := concID(t, r)
				return run{
					lockSQL:  concRowLock("service_requests"),
					lockArgs: []any{e.demo.Acme.ID, id},
					first:    concCall{staff, "PATCH", "/api/admin/service-requests/" + id.String() + "/status", map[string]any{"status": "in_progress"}},
					second:   concCall{client, "PATCH", "/api/portal/service-requests/" + id.String(), map[string]any{"title": "Tax return AND audit"}},
					check: func(t *testing.T, r1, r2 *resp) {
						mustStatus(t, r1, http.StatusOK)
						mustStatus(t, r2, http.StatusConflict, "conflict")
						var status, title string
						contSQL(t, e, `SELECT status, title FROM service_requests WHERE id = $1`, []any{id}, &status, &title)
						if status != "in_progress" || title != "Tax return" {
							t.Errorf("stored status %q title %q, want in_progress and the title unchanged", status, title)
						}
					},
				}
			},
		},
		{
			name: "service requests: a client's title edit keeps staff's priority change",
			setup: func(t *testing.T, e *env) run {
				staff := e.login("staff@acme.test", "")
				client := e.login("client@acme.test", "")
				r := client.do("POST", "/api/portal/service-requests", map[string]any{"title": "Payroll", "description": "monthly"})
				mustStatus(t, r, http.StatusCreated)
				id := concID(t, r)
				return run{
					lockSQL:  concRowLock("service_requests"),
					lockArgs: []any{e.demo.Acme.ID, id},
					first:    concCall{staff, "PATCH", "/api/admin/service-requests/" + id.String(), map[string]any{"priority": "urgent"}},
					second:   concCall{client, "PATCH", "/api/portal/service-requests/" + id.String(), map[string]any{"title": "Payroll (March)"}},
					check: func(t *testing.T, r1, r2 *resp) {
						mustStatus(t, r1, http.StatusOK)
						mustStatus(t, r2, http.StatusOK)
						var priority, title string
						contSQL(t, e, `SELECT priority, title FROM service_requests WHERE id = $1`, []any{id}, &priority, &title)
						if priority != "urgent" || title != "Payroll (March)" {
							t.Errorf("both PATCHes answered 200; stored priority %q title %q", priority, title)
						}
					},
				}
			},
		},
		{
			name: "service requests: setting the status another member of staff has just set is a no-op, not a conflict",
			setup: func(t *testing.T, e *env) run {
				owner := e.login("owner@acme.test", "")
				staff := e.login("staff@acme.test", "")
				client := e.login("client@acme.test", "")
				r := client.do("POST", "/api/portal/service-requests", map[string]any{"title": "Bookkeeping"})
				mustStatus(t, r, http.StatusCreated)
				id := concID(t, r)
				path := "/api/admin/service-requests/" + id.String() + "/status"
				return run{
					lockSQL:  concRowLock("service_requests"),
					lockArgs: []any{e.demo.Acme.ID, id},
					first:    concCall{staff, "PATCH", path, map[string]any{"status": "in_progress"}},
					second:   concCall{owner, "PATCH", path, map[string]any{"status": "in_progress"}},
					check: func(t *testing.T, r1, r2 *resp) {
						mustStatus(t, r1, http.StatusOK)
						mustStatus(t, r2, http.StatusOK)
						var status string
						contSQL(t, e, `SELECT status FROM service_requests WHERE id = $1`, []any{id}, &status)
						if status != "in_progress" {
							t.Errorf("stored status %q", status)
						}
					},
				}
			},
		},
		{
			name: "work orders: a PUT without a status keeps the status a concurrent PUT set",
			setup: func(t *testing.T, e *env) run {
				owner := e.login("owner@acme.test", "")
				staff := e.login("staff@acme.test", "")
				r := staff.do("POST", "/api/admin/work-orders", map[string]any{"code": "WO-1", "title": "File"})
				mustStatus(t, r, http.StatusCreated)
				id := concID(t, r)
				path := "/api/admin/work-orders/" + id.String()
				return run{
					lockSQL:  concRowLock("work_orders"),
					lockArgs: []any{e.demo.Acme.ID, id},
					first:    concCall{staff, "PUT", path, map[string]any{"code": "WO-1", "title": "File", "status": "done"}},
					second:   concCall{owner, "PUT", path, map[string]any{"code": "WO-1", "title": "File taxes"}},
					check: func(t *testing.T, r1, r2 *resp) {
						mustStatus(t, r1, http.StatusOK)
						mustStatus(t, r2, http.StatusOK)
						var status, title string
						contSQL(t, e, `SELECT status, title FROM work_orders WHERE id = $1`, []any{id}, &status, &title)
						if status != "done" || title != "File taxes" {
							t.Errorf("both PUTs answered 200; stored status %q title %q", status, title)
						}
					},
				}
			},
		},
		{
			name: "team members: a PUT without active that waited for a deactivation keeps the member inactive",
			setup: func(t *testing.T, e *env) run {
				owner := e.login("owner@acme.test", "")
				admin := e.login("consultant@demo.test", "acme")
				r := owner.do("POST", "/api/admin/team-members", map[string]any{"name": "Robin"})
				mustStatus(t, r, http.StatusCreated)
				id := concID(t, r)
				path := "/api/admin/team-members/" + id.String()
				return run{
					lockSQL:  concRowLock("team_members"),
					lockArgs: []any{e.demo.Acme.ID, id},
					first:    concCall{owner, "PUT", path, map[string]any{"name": "Robin", "active": false}},
					second:   concCall{admin, "PUT", path, map[string]any{"name": "Robin Reviewer"}},
					check: func(t *testing.T, r1, r2 *resp) {
						mustStatus(t, r1, http.StatusOK)
						mustStatus(t, r2, http.StatusOK)
						var active bool
						var name string
						contSQL(t, e, `SELECT active, name FROM team_members WHERE id = $1`, []any{id}, &active, &name)
						if active || name != "Robin Reviewer" {
							t.Errorf("both PUTs answered 200; stored active=%v name=%q", active, name)
						}
					},
				}
			},
		},
		{
			name: "posts: an edit that waited for the post to be unpublished keeps it a draft",
			setup: func(t *testing.T, e *env) run {
				owner := e.login("owner@acme.test", "")
				staff := e.login("staff@acme.test", "")
				r := staff.do("POST", "/api/posts", map[string]any{"slug": "news", "title": "News", "body": "Hello", "status": "published"})
				mustStatus(t, r, http.StatusCreated)
				id := concID(t, r)
				return run{
					lockSQL:  concRowLock("posts"),
					lockArgs: []any{e.demo.Acme.ID, id},
					first:    concCall{owner, "PUT", "/api/posts/news", map[string]any{"status": "draft"}},
					second:   concCall{staff, "PUT", "/api/posts/news", map[string]any{"title": "News of the week"}},
					check: func(t *testing.T, r1, r2 *resp) {
						mustStatus(t, r1, http.StatusOK)
						mustStatus(t, r2, http.StatusOK)
						var status, title string
						contSQL(t, e, `SELECT status, title FROM posts WHERE id = $1`, []any{id}, &status, &title)
						if status != "draft" || title != "News of the week" {
							t.Errorf("both PUTs answered 200; stored status %q title %q", status, title)
						}
					},
				}
			},
		},
		{
			name: "posts: an edit by the old slug that waited for a rename does not undo it",
			setup: func(t *testing.T, e *env) run {
				owner := e.login("owner@acme.test", "")
				staff := e.login("staff@acme.test", "")
				r := staff.do("POST", "/api/posts", map[string]any{"slug": "news", "title": "News", "body": "Hello"})
				mustStatus(t, r, http.StatusCreated)
				id := concID(t, r)
				return run{
					lockSQL:  concRowLock("posts"),
					lockArgs: []any{e.demo.Acme.ID, id},
					first:    concCall{owner, "PUT", "/api/posts/news", map[string]any{"slug": "news-2030"}},
					second:   concCall{staff, "PUT", "/api/posts/news", map[string]any{"title": "Old news"}},
					check: func(t *testing.T, r1, r2 *resp) {
						mustStatus(t, r1, http.StatusOK)
						mustStatus(t, r2, http.StatusNotFound)
						var slug, title string
						contSQL(t, e, `SELECT slug, title FROM posts WHERE id = $1`, []any{id}, &slug, &title)
						if slug != "news-2030" || title != "News" {
							t.Errorf("stored slug %q title %q, want the rename alone", slug, title)
						}
					},
				}
			},
		},
		{
			name: "communication settings: a PUT without a password keeps the password a concurrent PUT set",
			setup: func(t *testing.T, e *env) run {
				owner := e.login("owner@acme.test", "")
				admin := e.login("consultant@demo.test", "acme")
				r := owner.do("GET", "/api/admin/communication-settings", nil)
				mustStatus(t, r, http.StatusOK)
				var rotate, rename map[string]any
				r.decode(t, &rotate)
				r.decode(t, &rename)
				if rotate["smtp_password_set"] != true {
					t.Fatalf("seeded settings have no SMTP password: %s", r.Body)
				}
				rotate["smtp_password"] = "rotated-secret"
				rename["from_name"] = "Acme Advisory LLP"
				return run{
					lockSQL:  `SELECT 1 FROM communication_settings WHERE tenant_id = $1 FOR UPDATE`,
					lockArgs: []any{e.demo.Acme.ID},
					first:    concCall{owner, "PUT", "/api/admin/communication-settings", rotate},
					second:   concCall{admin, "PUT", "/api/admin/communication-settings", rename},
					check: func(t *testing.T, r1, r2 *resp) {
						mustStatus(t, r1, http.StatusOK)
						mustStatus(t, r2, http.StatusOK)
						var password, fromName string
						contSQL(t, e, `SELECT smtp_password, from_name FROM communication_settings WHERE tenant_id = $1`,
							[]any{e.demo.Acme.ID}, &password, &fromName)
						if password != "rotated-secret" || fromName != "Acme Advisory LLP" {
							t.Errorf("both PUTs answered 200; the stored password is the rotated one: %v, from_name %q",
								password == "rotated-secret", fromName)
						}
					},
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			rn := tc.setup(t, e)
			r1, r2 := concInterleave(t, e, rn.lockSQL, rn.lockArgs, rn.first, rn.second)
			rn.check(t, r1, r2)
		})
	}
}

// The same races without a held lock, repeated: whatever the timing, both changes stay, and
// two requests that each lock several rows (an owner demoting another while being demoted)
// never deadlock.
func TestConcurrentEditsRaceFreely(t *testing.T) {
	type round struct {
		first, second concCall
		// check says what went wrong in this round, or "".
		check func(r1, r2 *resp) string
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, e *env) func(t *testing.T, i int) round
	}{
		{
			name: "expenses: PATCHes of the description and of the amount",
			setup: func(t *testing.T, e *env) func(t *testing.T, i int) round {
				owner := e.login("owner@acme.test", "")
				staff := e.login("staff@acme.test", "")
				return func(t *testing.T, i int) round {
					r := owner.do("POST", "/api/admin/expenses", map[string]any{"description": "Taxi", "amount_cents": 1000, "incurred_on": "2030-03-04"})
					mustStatus(t, r, http.StatusCreated)
					id := concID(t, r)
					desc := fmt.Sprintf("d%d", i)
					return round{
						first:  concCall{owner, "PATCH", "/api/admin/expenses/" + id.String(), map[string]any{"description": desc}},
						second: concCall{staff, "PATCH", "/api/admin/expenses/" + id.String(), map[string]any{"amount_cents": 2500}},
						check: func(r1, r2 *resp) string {
							if r1.Status != http.StatusOK || r2.Status != http.StatusOK {
								return fmt.Sprintf("answered %d and %d", r1.Status, r2.Status)
							}
							var d string
							var a int64
							contSQL(t, e, `SELECT description, amount_cents FROM expenses WHERE id = $1`, []any{id}, &d, &a)
							if d != desc || a != 2500 {
								return fmt.Sprintf("stored description %q amount %d", d, a)
							}
							return ""
						},
					}
				}
			},
		},
		{
			name: "services: a deactivation and a rename",
			setup: func(t *testing.T, e *env) func(t *testing.T, i int) round {
				owner := e.login("owner@acme.test", "")
				admin := e.login("consultant@demo.test", "acme")
				return func(t *testing.T, i int) round {
					r := owner.do("POST", "/api/admin/services", map[string]any{"slug": fmt.Sprintf("race-%d", i), "name": "Race"})
					mustStatus(t, r, http.StatusCreated)
					id := concID(t, r)
					name := fmt.Sprintf("Race %d", i)
					return round{
						first:  concCall{owner, "PATCH", "/api/admin/services/" + id.String(), map[string]any{"active": false}},
						second: concCall{admin, "PATCH", "/api/admin/services/" + id.String(), map[string]any{"name": name}},
						check: func(r1, r2 *resp) string {
							if r1.Status != http.StatusOK || r2.Status != http.StatusOK {
								return fmt.Sprintf("answered %d and %d", r1.Status, r2.Status)
							}
							var active bool
							var n string
							contSQL(t, e, `SELECT active, name FROM services WHERE id = $1`, []any{id}, &active, &n)
							if active || n != name {
								return fmt.Sprintf("stored active=%v name %q", active, n)
							}
							return ""
						},
					}
				}
			},
		},
		{
			name: "users: two owners demote each other",
			setup: func(t *testing.T, e *env) func(t *testing.T, i int) round {
				acme := e.demo.Acme
				owner := e.login("owner@acme.test", "")
				staff := e.login("staff@acme.test", "")
				return func(t *testing.T, i int) round {
					// Both are owners when the round starts.
					for _, id := range []uuid.UUID{acme.Owner, acme.Staff} {
						superExec(t, e, `UPDATE memberships SET role = 'OWNER', status = 'active' WHERE tenant_id = $1 AND user_id = $2`, acme.ID, id)
					}
					return round{
						first:  concCall{owner, "PATCH", "/api/admin/users/" + acme.Staff.String(), map[string]any{"role": "ADMIN"}},
						second: concCall{staff, "PATCH", "/api/admin/users/" + acme.Owner.String(), map[string]any{"role": "ADMIN"}},
						check: func(r1, r2 *resp) string {
							ok1, ok2 := r1.Status == http.StatusOK, r2.Status == http.StatusOK
							// The loser is refused as the last owner, or (having been demoted
							// before its request was verified) as no longer allowed.
							lost := func(r *resp) bool { return r.Status == http.StatusConflict || r.Status == http.StatusForbidden }
							if ok1 == ok2 || !ok1 && !lost(r1) || !ok2 && !lost(r2) {
								return fmt.Sprintf("answered %d %s and %d %s, want one 200 and one refusal", r1.Status, r1.Body, r2.Status, r2.Body)
							}
							var owners int
							contSQL(t, e, `SELECT count(*) FROM memberships WHERE tenant_id = $1 AND role = 'OWNER' AND status = 'active'`,
								[]any{acme.ID}, &owners)
							if owners != 1 {
								return fmt.Sprintf("%d active owners left", owners)
							}
							return ""
						},
					}
				}
			},
		},
	}
	const rounds = 40
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			next := tc.setup(t, e)
			failed := 0
			for i := range rounds {
				rd := next(t, i)
				var r1, r2 *resp
				var wg sync.WaitGroup
				wg.Go(func() { r1 = rd.first.do() })
				wg.Go(func() { r2 = rd.second.do() })
				wg.Wait()
				if msg := rd.check(r1, r2); msg != "" {
					failed++
					t.Logf("round %d: %s", i, msg)
				}
			}
			if failed > 0 {
				t.Errorf("%d of %d rounds lost a change or failed", failed, rounds)
			}
		})
	}
}
