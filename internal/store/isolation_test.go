package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"tenantd/internal/pgtest"
	"tenantd/internal/seed"
	"tenantd/internal/store"
)

// fixture is a fresh database with the demo data, and raw connections as the application
// role and as the superuser (the latter only to learn the truth to compare against).
type fixture struct {
	st    *store.Store
	db    *pgtest.DB
	demo  *seed.Result
	app   *pgx.Conn
	super *pgx.Conn
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, db := pgtest.Store(t)
	demo, err := seed.DemoWithFiles(ctx, st, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	app, err := pgx.Connect(ctx, db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close(context.Background()) })
	super, err := pgx.Connect(ctx, db.SuperURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { super.Close(context.Background()) })
	return &fixture{st: st, db: db, demo: demo, app: app, super: super}
}

// tenantTables lists every table with a tenant_id column, from the catalog (not a hand list).
func tenantTables(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT c.relname FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attname = 'tenant_id' AND NOT a.attisdropped ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 23 {
		t.Fatalf("only %d tenant tables found: %v", len(names), names)
	}
	return names
}

func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// inTx runs fn in a transaction of conn that is always rolled back, with the tenant set when
// tenant is not Nil.
func inTx(t *testing.T, conn *pgx.Conn, tenant uuid.UUID, fn func(tx pgx.Tx)) {
	t.Helper()
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	bindTx(t, tx, tenant)
	fn(tx)
}

// bindTx sets the tenant of tx (none when tenant is Nil), as the store does.
func bindTx(t *testing.T, tx pgx.Tx, tenant uuid.UUID) {
	t.Helper()
	if tenant == uuid.Nil {
		return
	}
	if _, err := tx.Exec(context.Background(), `SELECT set_config('app.tenant_id', $1, true)`, tenant.String()); err != nil {
		t.Fatal(err)
	}
}

// (a) With no tenant set, every tenant table shows zero rows to the application role and
// refuses inserts, although the demo data fills them.
func TestNoTenantMeansNoRows(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, table := range tenantTables(t, f.super) {
		t.Run(table, func(t *testing.T) {
			var total int
			if err := f.super.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&total); err != nil {
				t.Fatal(err)
			}
			if total == 0 {
				t.Fatalf("demo data has no rows in %s; the test would prove nothing", table)
			}
			for _, setting := range []string{"", "unset"} {
				inTx(t, f.app, uuid.Nil, func(tx pgx.Tx) {
					if setting == "" {
						// '' is what a pooled connection shows after an earlier SET LOCAL.
						if _, err := tx.Exec(ctx, `SELECT set_config('app.tenant_id', '', true)`); err != nil {
							t.Fatal(err)
						}
					}
					var n int
					if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
						t.Fatal(err)
					}
					if n != 0 {
						t.Errorf("%s: %d rows visible without a tenant", table, n)
					}
					_, err := tx.Exec(ctx, `INSERT INTO `+pgx.Identifier{table}.Sanitize()+` (tenant_id, id) VALUES ($1, $2)`, f.demo.Acme.ID, uuid.New())
					if sqlState(err) != "42501" {
						t.Errorf("%s: insert without a tenant: got %v, want a row-level security violation", table, err)
					}
				})
			}
		})
	}
}

// (b) Set to acme, the application role sees exactly acme's rows and cannot read, change or
// create globex's, even with hand-written statements that forget the tenant filter.
func TestOtherTenantInvisibleWithoutFilter(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	acme, globex := f.demo.Acme.ID, f.demo.Globex.ID
	for _, table := range tenantTables(t, f.super) {
		t.Run(table, func(t *testing.T) {
			q := pgx.Identifier{table}.Sanitize()
			var want, globexRows int
			if err := f.super.QueryRow(ctx, `SELECT count(*) FILTER (WHERE tenant_id = $1), count(*) FILTER (WHERE tenant_id = $2) FROM `+q, acme, globex).Scan(&want, &globexRows); err != nil {
				t.Fatal(err)
			}
			if globexRows == 0 {
				t.Fatalf("no globex rows in %s", table)
			}
			inTx(t, f.app, acme, func(tx pgx.Tx) {
				var got, foreign int
				if err := tx.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE tenant_id <> $1) FROM `+q, acme).Scan(&got, &foreign); err != nil {
					t.Fatal(err)
				}
				if got != want || foreign != 0 {
					t.Errorf("visible %d (foreign %d), want %d acme rows only", got, foreign, want)
				}
				tag, err := tx.Exec(ctx, `UPDATE `+q+` SET tenant_id = tenant_id WHERE tenant_id = $1`, globex)
				if err != nil || tag.RowsAffected() != 0 {
					t.Errorf("update of globex rows: %v, %d rows", err, tag.RowsAffected())
				}
				tag, err = tx.Exec(ctx, `DELETE FROM `+q+` WHERE tenant_id = $1`, globex)
				if err != nil || tag.RowsAffected() != 0 {
					t.Errorf("delete of globex rows: %v, %d rows", err, tag.RowsAffected())
				}
				_, err = tx.Exec(ctx, `INSERT INTO `+q+` (tenant_id, id) VALUES ($1, $2)`, globex, uuid.New())
				if sqlState(err) != "42501" {
					t.Errorf("insert into globex: got %v, want a row-level security violation", err)
				}
			})
			inTx(t, f.app, acme, func(tx pgx.Tx) {
				// Moving an own row into another tenant is refused too.
				_, err := tx.Exec(ctx, `UPDATE `+q+` SET tenant_id = $2 WHERE tenant_id = $1`, acme, globex)
				if want > 0 && sqlState(err) != "42501" {
					t.Errorf("moving acme rows to globex: got %v, want a row-level security violation", err)
				}
			})
		})
	}
	// Unfiltered reads of the whole table return acme's rows only, not globex's.
	inTx(t, f.app, acme, func(tx pgx.Tx) {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM bookings WHERE id = ANY($1)`, f.demo.Globex.Bookings).Scan(&n); err != nil || n != 0 {
			t.Errorf("globex bookings by id visible in acme: %d %v", n, err)
		}
	})
}

// (c) Composite foreign keys refuse a reference to another tenant's row, for every role,
// because the key includes tenant_id.
func TestCompositeForeignKeysRefuseOtherTenants(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	acme, globex := f.demo.Acme, f.demo.Globex
	cases := []struct {
		name string
		sql  string
		args []any
	}{
		{"booking with globex service", `INSERT INTO bookings (tenant_id, id, service_id, client_id, starts_at, ends_at) VALUES ($1, $2, $3, $4, now(), now() + interval '1 hour')`,
			[]any{acme.ID, uuid.New(), globex.Services[0], acme.Client}},
		{"booking for globex client", `INSERT INTO bookings (tenant_id, id, service_id, client_id, starts_at, ends_at) VALUES ($1, $2, $3, $4, now(), now() + interval '1 hour')`,
			[]any{acme.ID, uuid.New(), acme.Services[0], globex.Client}},
		{"chat in globex client's thread", `INSERT INTO chat_messages (tenant_id, id, client_id, sender_id, body) VALUES ($1, $2, $3, $4, 'hi')`,
			[]any{acme.ID, uuid.New(), globex.Client, acme.Staff}},
		{"api token for a globex member", `INSERT INTO api_tokens (tenant_id, id, user_id, name, role, token_hash, prefix) VALUES ($1, $2, $3, 'x', 'STAFF', '\x00', 'p')`,
			[]any{acme.ID, uuid.New(), globex.Owner}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inTx(t, f.app, acme.ID, func(tx pgx.Tx) {
				if _, err := tx.Exec(ctx, c.sql, c.args...); sqlState(err) != "23503" {
					t.Errorf("as app role: got %v, want a foreign key violation", err)
				}
			})
			// Even the superuser, who bypasses row level security, cannot store it.
			inTx(t, f.super, uuid.Nil, func(tx pgx.Tx) {
				if _, err := tx.Exec(ctx, c.sql, c.args...); sqlState(err) != "23503" {
					t.Errorf("as superuser: got %v, want a foreign key violation", err)
				}
			})
		})
	}
}

// (d) Scopes set the tenant per transaction only: whatever happened on a pooled connection,
// it goes back to the pool with no tenant or user setting.
func TestPooledConnectionCarriesNoTenant(t *testing.T) {
	ctx := context.Background()
	st, db := pgtest.Store(t)
	demo, err := seed.Demo(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	// One connection, so that every step below reuses it.
	one, err := store.Open(ctx, db.AppURL+"&pool_max_conns=1")
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	acme := demo.Acme.ID
	steps := []struct {
		name string
		run  func() error
	}{
		{"read scope", func() error {
			_, err := one.TrustedScope(acme, true).ListBookings(ctx, store.BookingFilter{}, store.Page{Limit: 5})
			return err
		}},
		{"write scope committed", func() error {
			sc := one.TrustedScope(acme, false)
			if err := sc.Begin(ctx); err != nil {
				return err
			}
			if _, err := sc.ConfirmBooking(ctx, demo.Acme.Bookings[0]); err != nil {
				return err
			}
			return sc.End(ctx, true)
		}},
		{"write scope failed and rolled back", func() error {
			sc := one.TrustedScope(acme, false)
			if err := sc.Begin(ctx); err != nil {
				return err
			}
			_, err := sc.CreateService(ctx, store.ServiceInput{Slug: "tax-return", Name: "dup", DurationMinutes: 30, Currency: "USD"})
			if !errors.Is(err, store.ErrConflict) {
				return errors.New("expected a conflict")
			}
			return sc.End(ctx, false)
		}},
		{"memberships of a user", func() error {
			_, err := one.MembershipsOf(ctx, demo.Consultant)
			return err
		}},
		{"denied claim", func() error {
			sc := one.RequestScope(store.Claim{TenantID: acme, UserID: demo.Acme.Owner, SessionID: uuid.New(), SessionHash: []byte("nope")}, true, nil)
			_, err := sc.ListBookings(ctx, store.BookingFilter{}, store.Page{Limit: 5})
			var de *store.DenialError
			if !errors.As(err, &de) {
				return errors.New("expected a denial")
			}
			return nil
		}},
		{"cancelled mid-query", func() error {
			cctx, cancel := context.WithTimeout(ctx, time.Nanosecond)
			defer cancel()
			_, _ = one.TrustedScope(acme, true).ListBookings(cctx, store.BookingFilter{}, store.Page{Limit: 5})
			return nil
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := s.run(); err != nil {
				t.Fatal(err)
			}
			tenant, user, err := one.PoolSettings(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tenant != "" || user != "" {
				t.Fatalf("pooled connection carries tenant %q user %q", tenant, user)
			}
		})
	}
}

// Read scopes are read-only at the database level too.
func TestReadScopeRefusesWrites(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sc := f.st.TrustedScope(f.demo.Acme.ID, true)
	if _, err := sc.ListServices(ctx, store.Page{Limit: 1}, false); err != nil {
		t.Fatal(err)
	}
	// A read scope has no write transaction; the store refuses before the database would.
	if err := sc.DeleteBooking(ctx, f.demo.Acme.Bookings[0], nil); err == nil {
		t.Fatal("delete through a read scope succeeded")
	}
}

// The server refuses to run as a role that row level security would not bind.
func TestOpenRefusesPrivilegedRoles(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	for name, url := range map[string]string{"superuser": db.SuperURL, "schema owner": db.OwnerURL} {
		if st, err := store.Open(ctx, url); err == nil {
			st.Close()
			t.Errorf("store opened as the %s", name)
		}
	}
	st, err := store.Open(ctx, db.AppURL)
	if err != nil {
		t.Fatalf("the application role was refused: %v", err)
	}
	st.Close()
}
