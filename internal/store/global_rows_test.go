package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"tenantd/internal/store"
)

// A tenant's transaction reaches no other tenant through the global tables either: it can
// neither change nor delete another tenant's row in tenants (a deletion would take every row
// of that tenant with it by cascade, past row level security), nor set any tenant's
// authorization generation, nor count another tenant's objects, nor list, change or delete
// another tenant's people (even acting as one, the foreign key refuses to delete a member),
// nor queue, change or delete jobs of another tenant, nor touch another tenant's sessions, nor read the platform
// log, nor create a temporary table that would hide a real one from later statements on the
// pooled connection.
func TestGlobalRowsOutOfReach(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	acme, globex := f.demo.Acme.ID, f.demo.Globex.ID
	globexSession, err := f.st.CreateSession(ctx, f.demo.Globex.Owner, globex, []byte("globex-session-hash"), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	acmeSession, err := f.st.CreateSession(ctx, f.demo.Acme.Owner, acme, []byte("acme-session-hash"), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Platform("test").SetTenantStatus(ctx, globex, "suspended"); err != nil {
		t.Fatal(err)
	}
	// Jobs in River's table: one per tenant and one of the platform's (no tenant).
	if _, err := f.super.Exec(ctx, `DELETE FROM river_job`); err != nil {
		t.Fatal(err)
	}
	for _, args := range []string{`{"tenant_id":"` + acme.String() + `"}`, `{"tenant_id":"` + globex.String() + `","bundle":"exports/globex.tar.gz"}`, `{}`} {
		if _, err := f.super.Exec(ctx, `INSERT INTO river_job (args, kind, max_attempts, priority, queue, state, scheduled_at)
			VALUES ($1, 'review.check', 5, 1, 'review', 'scheduled', now() + interval '1 day')`, args); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name      string
		sql       string
		args      []any
		setup     string // run first, with setupArg, when not empty
		setupArg  string
		wantState string // SQLSTATE, or "" for success
		wantRows  int64  // rows affected or counted, when it succeeds
	}{
		{name: "lift another tenant's suspension", sql: `UPDATE tenants SET status = 'active' WHERE id = $1`, args: []any{globex}},
		{name: "rename another tenant", sql: `UPDATE tenants SET slug = 'taken' WHERE id = $1`, args: []any{globex}},
		{name: "delete another tenant", sql: `DELETE FROM tenants WHERE id = $1`, args: []any{globex}},
		{name: "delete every tenant but its own", sql: `DELETE FROM tenants WHERE id <> $1`, args: []any{acme}},
		{name: "create a tenant other than its own", sql: `INSERT INTO tenants (id, slug, name) VALUES ($1, 'intruder', 'Intruder')`, args: []any{uuid.New()}, wantState: "42501"},
		{name: "set its own authorization generation", sql: `UPDATE tenants SET auth_gen = 0 WHERE id = $1`, args: []any{acme}, wantState: "42501"},
		{name: "set another tenant's authorization generation", sql: `UPDATE tenants SET auth_gen = 0 WHERE id = $1`, args: []any{globex}, wantState: "42501"},
		{name: "count another tenant's objects", sql: `SELECT count(*) FROM object_owners WHERE owner_tenant_id = $1`, args: []any{globex}},
		{name: "create a temporary table", sql: `CREATE TEMP TABLE tenants (id uuid, status text, auth_gen bigint)`, wantState: "42501"},
		{name: "take over another tenant's user", sql: `UPDATE users SET password_hash = 'chosen' WHERE lower(email) = 'owner@globex.test'`, wantState: "42501"},
		{name: "delete another tenant's user", sql: `DELETE FROM users WHERE lower(email) = 'owner@globex.test'`},
		{name: "delete another tenant's user, acting as that user", setup: `SELECT set_config('app.user_id', $1, true)`, setupArg: f.demo.Globex.Owner.String(),
			sql: `DELETE FROM users WHERE id = $1`, args: []any{f.demo.Globex.Owner}, wantState: "23503"},
		{name: "list another tenant's people", sql: `SELECT count(*) FROM users WHERE lower(email) LIKE '%@globex.test'`},
		{name: "list its own people (still allowed)", sql: `SELECT count(*) FROM users WHERE lower(email) LIKE '%@acme.test'`, wantRows: 4},
		{name: "revoke another tenant's session", sql: `UPDATE sessions SET revoked_at = now() WHERE id = $1`, args: []any{globexSession}},
		{name: "extend another tenant's session", sql: `UPDATE sessions SET expires_at = 'infinity' WHERE id = $1`, args: []any{globexSession}},
		{name: "move another tenant's session here", sql: `UPDATE sessions SET active_tenant_id = $2 WHERE id = $1`, args: []any{globexSession, acme}},
		{name: "delete another tenant's session", sql: `DELETE FROM sessions WHERE id = $1`, args: []any{globexSession}},
		{name: "read the platform log", sql: `SELECT count(*) FROM platform_events`},
		{name: "change another tenant's job", sql: `UPDATE river_job SET priority = 4 WHERE args->>'tenant_id' = $1`, args: []any{globex.String()}, wantState: "42501"},
		{name: "delete the platform's jobs", sql: `DELETE FROM river_job WHERE args->>'tenant_id' IS NULL`, wantState: "42501"},
		{name: "queue a job in another tenant's name", sql: `INSERT INTO river_job (args, kind, max_attempts, priority, queue, state)
			VALUES (jsonb_build_object('tenant_id', $1::text), 'tenant.offboard', 5, 1, 'default', 'available')`, args: []any{globex.String()}, wantState: "42501"},
		{name: "queue a platform job", sql: `INSERT INTO river_job (args, kind, max_attempts, priority, queue, state)
			VALUES ('{}', 'jobs.dispatch', 5, 1, 'default', 'available')`, wantState: "42501"},
		{name: "queue a job in its own name (still allowed)", sql: `INSERT INTO river_job (args, kind, max_attempts, priority, queue, state, scheduled_at)
			VALUES (jsonb_build_object('tenant_id', $1::text), 'review.check', 5, 1, 'review', 'scheduled', now() + interval '1 day')`, args: []any{acme.String()}, wantRows: 1},
		{name: "change its own name (still allowed)", sql: `UPDATE tenants SET name = 'Acme Renamed' WHERE id = $1`, args: []any{acme}, wantRows: 1},
		{name: "revoke its own session (still allowed)", sql: `UPDATE sessions SET revoked_at = now() WHERE id = $1`, args: []any{acmeSession}, wantRows: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inTx(t, f.app, acme, func(tx pgx.Tx) {
				var n int64
				var err error
				if tc.setup != "" {
					if _, err := tx.Exec(ctx, tc.setup, tc.setupArg); err != nil {
						t.Fatal(err)
					}
				}
				if len(tc.sql) > 6 && tc.sql[:6] == "SELECT" {
					err = tx.QueryRow(ctx, tc.sql, tc.args...).Scan(&n)
				} else {
					var tag interface{ RowsAffected() int64 }
					tag, err = tx.Exec(ctx, tc.sql, tc.args...)
					if err == nil {
						n = tag.RowsAffected()
					}
				}
				if got := sqlState(err); got != tc.wantState {
					t.Fatalf("error %v (SQLSTATE %q), want SQLSTATE %q", err, got, tc.wantState)
				}
				if err == nil && n != tc.wantRows {
					t.Fatalf("%d rows, want %d", n, tc.wantRows)
				}
			})
		})
	}
	// The platform log is there, only out of a tenant's reach.
	var events int
	if err := f.super.QueryRow(ctx, `SELECT count(*) FROM platform_events`).Scan(&events); err != nil || events == 0 {
		t.Fatalf("%d platform events (%v): the fixture should have some", events, err)
	}
	// Nothing of globex changed: still suspended, same slug, all its memberships.
	var status, slug string
	var members int
	if err := f.super.QueryRow(ctx, `SELECT status, slug, (SELECT count(*) FROM memberships WHERE tenant_id = $1) FROM tenants WHERE id = $1`, globex).
		Scan(&status, &slug, &members); err != nil {
		t.Fatal(err)
	}
	if status != "suspended" || slug != "globex" || members == 0 {
		t.Fatalf("globex now %s %s with %d members", status, slug, members)
	}
	// River itself, with no tenant bound, still sees every job.
	inTx(t, f.app, uuid.Nil, func(tx pgx.Tx) {
		var n int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE queue = 'review'`).Scan(&n); err != nil || n != 3 {
			t.Fatalf("with no tenant bound, %d of 3 jobs seen (%v)", n, err)
		}
	})
	// Its own objects it still counts (offboarding does).
	inTx(t, f.app, acme, func(tx pgx.Tx) {
		var n int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM object_owners WHERE owner_tenant_id = $1`, acme).Scan(&n); err != nil || n == 0 {
			t.Fatalf("acme counts %d of its own objects (%v)", n, err)
		}
	})
}

// The authorization generation still moves when a membership changes, now bumped by the
// owner on the application role's behalf, so a revoked member is refused at once.
func TestAuthGenStillBumpedForTheAppRole(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	acme, staff := f.demo.Acme.ID, f.demo.Acme.Staff
	var h [32]byte
	h[0] = 7
	sid, err := f.st.CreateSession(ctx, staff, acme, h[:], time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	claim := store.Claim{TenantID: acme, UserID: staff, SessionID: sid, SessionHash: h[:]}
	if _, err := f.st.RequestScope(claim, true, nil).Verify(ctx); err != nil {
		t.Fatal(err)
	}
	inTxCommit(t, f.app, acme, `UPDATE memberships SET status = 'revoked' WHERE tenant_id = $1 AND user_id = $2`, acme, staff)
	if _, err := f.st.RequestScope(claim, true, nil).Verify(ctx); err == nil {
		t.Fatal("a revoked member was still verified")
	}
}

// inTxCommit runs one statement in a committed transaction bound to tenant.
func inTxCommit(t *testing.T, conn *pgx.Conn, tenant uuid.UUID, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	bindTx(t, tx, tenant)
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}
