package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"tenantd/internal/store"
)

// The availability read and the list filters must not read a tenant's whole table: on tables
// grown to many thousand rows, each statement, as the store sends it and run as the
// application role under row level security, touches a handful of buffers (an index range),
// not hundreds (a scan of the table, or of every earlier booking). Buffers touched do not
// depend on the machine's speed.
func TestScanGuard(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	acme := f.demo.Acme
	const bulk = 20000
	// The grown bookings all ended more than a month before the day whose availability is
	// asked: the read of that day must not visit them. Every filter below has a rare value,
	// held by a few rows among the grown ones.
	longAgo := time.Now().UTC().AddDate(0, 0, -30)
	grow := []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO audit_events (tenant_id, id, actor_user_id, actor, action, target_type, target_id, created_at)
			SELECT $1, gen_random_uuid(), $2, 'owner@acme.test', 'booking.update', 'booking', g::text, now() - g * interval '1 minute'
			FROM generate_series(1, $3::int) g`, []any{acme.ID, acme.Owner, bulk}},
		{`INSERT INTO audit_events (tenant_id, id, actor_user_id, actor, action, target_type, target_id)
			SELECT $1, gen_random_uuid(), $2, 'client2@acme.test', 'scan_guard.rare', 'scan_guard_rare', g::text
			FROM generate_series(1, 3) g`, []any{acme.ID, acme.Client2}},
		{`INSERT INTO bookings (tenant_id, id, service_id, client_id, starts_at, ends_at, status)
			SELECT $1, gen_random_uuid(), $2, $3, $4::timestamptz - g * interval '2 hours', $4::timestamptz - g * interval '2 hours' + interval '1 hour',
			       CASE WHEN g % 5000 = 0 THEN 'cancelled' ELSE 'confirmed' END
			FROM generate_series(1, $5::int) g`, []any{acme.ID, acme.Services[0], acme.Client, longAgo, bulk}},
		{`INSERT INTO invoices (tenant_id, id, number, client_id, status, currency, total_cents)
			SELECT $1, gen_random_uuid(), 1000000 + g, $2, CASE WHEN g % 5000 = 0 THEN 'void' ELSE 'paid' END, 'USD', 1000
			FROM generate_series(1, $3::int) g`, []any{acme.ID, acme.Client, bulk}},
		{`INSERT INTO expenses (tenant_id, id, description, category, amount_cents, currency, incurred_on, created_by)
			SELECT $1, gen_random_uuid(), 'bulk', CASE WHEN g % 5000 = 0 THEN 'scan-guard-rare' ELSE 'travel' END, 100, 'USD',
			       current_date - g % 365, $2
			FROM generate_series(1, $3::int) g`, []any{acme.ID, acme.Owner, bulk}},
		{`INSERT INTO work_orders (tenant_id, id, code, title, status)
			SELECT $1, gen_random_uuid(), 'BULK-' || g, 'bulk', CASE WHEN g % 5000 = 0 THEN 'cancelled' ELSE 'done' END
			FROM generate_series(1, $2::int) g`, []any{acme.ID, bulk}},
		{`INSERT INTO service_requests (tenant_id, id, client_id, title, status, priority)
			SELECT $1, gen_random_uuid(), $2, 'bulk', CASE WHEN g % 5000 = 0 THEN 'on_hold' ELSE 'completed' END,
			       CASE WHEN g % 5000 = 1 THEN 'urgent' ELSE 'normal' END
			FROM generate_series(1, $3::int) g`, []any{acme.ID, acme.Client, bulk}},
		{`ANALYZE audit_events, bookings, invoices, expenses, work_orders, service_requests`, nil},
	}
	for _, g := range grow {
		if _, err := f.super.Exec(ctx, g.sql, g.args...); err != nil {
			t.Fatalf("%v\n%s", err, g.sql)
		}
	}

	// An index range touches a few pages per level and per row it returns; a scan of any of
	// the grown tables, hundreds.
	const limit = 60
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 2)
	const page = 51 // Page{Limit: 50}.limitPlusOne()
	cases := []struct {
		name  string
		fn    string // the store function whose statement is measured
		table string // the grown table a scan would read
		args  []any  // its parameters, in order
	}{
		{"availability reads the bookings near the day, not every earlier one", "slotsOn", "bookings",
			[]any{acme.ID, day, day.AddDate(0, 0, 1), nil, day.Add(-store.MaxBookingLength)}},
		{"audit log by action", "ListAuditEvents", "audit_events", []any{acme.ID, nil, "scan_guard.rare", "", nil, page}},
		{"audit log by target type", "ListAuditEvents", "audit_events", []any{acme.ID, nil, "", "scan_guard_rare", nil, page}},
		{"audit log by actor", "ListAuditEvents", "audit_events", []any{acme.ID, nil, "", "", acme.Client2, page}},
		{"bookings by status", "ListBookings", "bookings", []any{acme.ID, nil, nil, "cancelled", nil, nil, page}},
		{"invoices by status", "ListInvoices", "invoices", []any{acme.ID, nil, nil, "void", false, page}},
		{"expenses by category", "ListExpenses", "expenses", []any{acme.ID, nil, "scan-guard-rare", "", "", page}},
		{"work orders by status", "ListWorkOrders", "work_orders", []any{acme.ID, nil, "cancelled", nil, nil, page}},
		{"service requests by status", "ListServiceRequests", "service_requests", []any{acme.ID, nil, nil, nil, "on_hold", "", page}},
		{"service requests by priority", "ListServiceRequests", "service_requests", []any{acme.ID, nil, nil, nil, "", "urgent", page}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sql := storeSQL(t, tc.fn)
			// The statement's own placeholders decide how many parameters it takes (a statement
			// changed to take fewer is still measured, and fails here if it scans).
			args := tc.args[:min(len(tc.args), placeholders(sql))]
			var pages int64
			if err := f.super.QueryRow(ctx, `SELECT relpages FROM pg_class WHERE oid = $1::regclass`, tc.table).Scan(&pages); err != nil {
				t.Fatal(err)
			}
			if pages < 4*limit {
				t.Fatalf("%s has only %d pages: too small for a scan to show", tc.table, pages)
			}
			inTx(t, f.app, acme.ID, func(tx pgx.Tx) {
				// The first run plans the statement and warms the catalog caches; the second
				// is the one measured.
				var raw []byte
				for range 2 {
					if err := tx.QueryRow(ctx, `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) `+sql, args...).Scan(&raw); err != nil {
						t.Fatalf("%v\n%s", err, sql)
					}
				}
				var plan []struct {
					Plan struct {
						Hit  int64 `json:"Shared Hit Blocks"`
						Read int64 `json:"Shared Read Blocks"`
					} `json:"Plan"`
				}
				if err := json.Unmarshal(raw, &plan); err != nil {
					t.Fatal(err)
				}
				n := plan[0].Plan.Hit + plan[0].Plan.Read
				t.Logf("%d buffers touched; %s has %d pages", n, tc.table, pages)
				if n > limit {
					t.Fatalf("%d buffers touched (%s has %d pages): the statement reads the table instead of an index range\n%s\n%s",
						n, tc.table, pages, sql, raw)
				}
			})
		})
	}
}

// The bound availability relies on holds: the database keeps every booking to
// MaxBookingLength, a booking of exactly that length that ends inside a day still takes that
// day's slots, a longer one is refused as a value out of range (422 at the API), and migration
// 00009 stops, naming the tenants, on a database that already holds a longer one.
func TestScanGuardBookingLength(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	acme := f.demo.Acme
	// Every day a working day, in UTC, open from midnight to 17:00 on a 30-minute grid, no
	// notice needed.
	commitScope(t, f.st, acme.ID, func(sc *store.Scope) error {
		_, err := sc.PutBookingSettings(ctx, store.BookingSettings{AllowOnlineBooking: true, SlotMinutes: 30, MaxAdvanceDays: 90,
			DayStartMinute: 0, DayEndMinute: 17 * 60, WorkingDays: []int32{1, 2, 3, 4, 5, 6, 7}, Timezone: "UTC"})
		return err
	})
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 14) // clear of the demo bookings
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	offered := func() map[time.Time]bool {
		_, slots, err := f.st.TrustedScope(acme.ID, true).Availability(ctx, "tax-return", day, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		out := map[time.Time]bool{}
		for _, s := range slots {
			out[s.StartsAt.UTC()] = true
		}
		return out
	}
	if got := offered(); !got[at(0, 0)] || !got[at(0, 30)] {
		t.Fatalf("00:00 and 00:30 are not both offered on a free day: %v", got)
	}

	// The booking that starts earliest of all those that overlap the day (within half an hour):
	// a lower bound on the read tighter than MaxBookingLength misses it.
	t.Run("a booking of the longest length that ends in the day takes its slots", func(t *testing.T) {
		ends := at(0, 30)
		commitScope(t, f.st, acme.ID, func(sc *store.Scope) error {
			_, err := sc.CreateBooking(ctx, store.BookingInput{ServiceID: acme.Services[0], ClientID: acme.Client,
				StartsAt: ends.Add(-store.MaxBookingLength), EndsAt: ends, Status: "confirmed"})
			return err
		})
		got := offered()
		if got[at(0, 0)] {
			t.Fatalf("00:00 is offered although a booking of %s runs until 00:30", store.MaxBookingLength)
		}
		if !got[at(0, 30)] {
			t.Fatalf("00:30 is not offered, although the only booking of the day ends then: %v", got)
		}
	})

	t.Run("a longer booking is refused as out of range", func(t *testing.T) {
		starts := at(10, 0)
		sc := f.st.TrustedScope(acme.ID, false)
		if err := sc.Begin(ctx); err != nil {
			t.Fatal(err)
		}
		defer sc.End(ctx, false)
		_, err := sc.CreateBooking(ctx, store.BookingInput{ServiceID: acme.Services[0], ClientID: acme.Client,
			StartsAt: starts, EndsAt: starts.Add(store.MaxBookingLength + time.Second), Status: "confirmed"})
		var ce *store.CheckError
		if !errors.As(err, &ce) || ce.Constraint != "bookings_length_check" {
			t.Fatalf("CreateBooking: %v, want a CheckError from bookings_length_check", err)
		}
	})

	t.Run("the migration stops on an existing longer booking", func(t *testing.T) {
		m, err := store.NewMigrator(f.db.OwnerURL, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		// Roll back to before 00009 (and any later migration).
		for migrationApplied(t, m, 9) {
			if err := m.Down(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if has := filterSchema(t, f); len(has) != 0 {
			t.Fatalf("00009 rolled back, yet the schema has %v", has)
		}
		if _, err := f.super.Exec(ctx, `INSERT INTO bookings (tenant_id, id, service_id, client_id, starts_at, ends_at)
			VALUES ($1, gen_random_uuid(), $2, $3, now(), now() + interval '8 days')`, acme.ID, acme.Services[0], acme.Client); err != nil {
			t.Fatal(err)
		}
		err = m.Up(ctx)
		var pe *pgconn.PgError
		if err == nil || !errors.As(err, &pe) || pe.Code != "23514" ||
			!strings.Contains(pe.Message, "1 booking(s) last longer than 168 hours") || !strings.Contains(pe.Detail, "acme: 1") {
			t.Fatalf("migrate up: %v (%+v), want the count of long bookings per tenant", err, pe)
		}
		if has := filterSchema(t, f); len(has) != 0 || migrationApplied(t, m, 9) {
			t.Fatalf("the failed migration left %v behind", has)
		}
		if _, err := f.super.Exec(ctx, `DELETE FROM bookings WHERE ends_at - starts_at > interval '168 hours'`); err != nil {
			t.Fatal(err)
		}
		if err := m.Up(ctx); err != nil {
			t.Fatalf("migrate up once the long booking is gone: %v", err)
		}
		if has := filterSchema(t, f); len(has) != 8 {
			t.Fatalf("00009 applied again, yet the schema has only %v", has)
		}
	})
}

// commitScope runs fn in a write scope of tenant and commits it.
func commitScope(t *testing.T, st *store.Store, tenant uuid.UUID, fn func(*store.Scope) error) {
	t.Helper()
	ctx := context.Background()
	sc := st.TrustedScope(tenant, false)
	if err := sc.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fn(sc); err != nil {
		sc.End(ctx, false)
		t.Fatal(err)
	}
	if err := sc.End(ctx, true); err != nil {
		t.Fatal(err)
	}
}

// migrationApplied reports whether migration version is applied.
func migrationApplied(t *testing.T, m *store.Migrator, version int64) bool {
	t.Helper()
	st, err := m.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Version == version {
			return s.Applied
		}
	}
	t.Fatalf("no migration %d", version)
	return false
}

// filterSchema lists which of migration 00009's constraint and indexes the schema has.
func filterSchema(t *testing.T, f *fixture) map[string]bool {
	t.Helper()
	rows, err := f.super.Query(context.Background(), `SELECT conname FROM pg_constraint WHERE conname = 'bookings_length_check'
		UNION ALL SELECT indexname FROM pg_indexes WHERE indexname IN ('audit_events_action_id_idx', 'audit_events_target_type_id_idx',
		  'audit_events_actor_id_idx', 'bookings_status_id_idx', 'invoices_status_id_idx', 'expenses_category_id_idx', 'work_orders_status_id_idx')`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	has := map[string]bool{}
	for _, n := range names {
		has[n] = true
	}
	return has
}

// storeSQL returns the statement that the store function fn sends through its first call of
// collect, read from the store's own sources (store.Sources: the files this package is built
// from) with the package's string constants put in place. The statement measured is the one
// the store runs, not a copy that could drift from it.
func storeSQL(t *testing.T, fn string) string {
	t.Helper()
	entries, err := fs.ReadDir(store.Sources, ".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	consts := map[string]ast.Expr{}
	var funcs []*ast.FuncDecl
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := fs.ReadFile(store.Sources, name)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				if d.Tok != token.CONST {
					continue
				}
				for _, s := range d.Specs {
					vs := s.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							consts[n.Name] = vs.Values[i]
						}
					}
				}
			case *ast.FuncDecl:
				if d.Name.Name == fn {
					funcs = append(funcs, d)
				}
			}
		}
	}
	if len(funcs) != 1 {
		t.Fatalf("%d store functions named %s", len(funcs), fn)
	}
	var eval func(ast.Expr) (string, bool)
	eval = func(e ast.Expr) (string, bool) {
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind == token.STRING {
				s, err := strconv.Unquote(e.Value)
				return s, err == nil
			}
		case *ast.Ident:
			if v, ok := consts[e.Name]; ok {
				return eval(v)
			}
		case *ast.ParenExpr:
			return eval(e.X)
		case *ast.BinaryExpr:
			if e.Op == token.ADD {
				l, okL := eval(e.X)
				r, okR := eval(e.Y)
				return l + r, okL && okR
			}
		}
		return "", false
	}
	var sql string
	ast.Inspect(funcs[0].Body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || sql != "" {
			return sql == ""
		}
		callee := call.Fun
		if ix, ok := callee.(*ast.IndexExpr); ok {
			callee = ix.X
		}
		if id, ok := callee.(*ast.Ident); ok && id.Name == "collect" && len(call.Args) >= 3 {
			s, ok := eval(call.Args[2])
			if !ok {
				t.Fatalf("%s: the statement of %s is not a constant string", fset.Position(call.Pos()), fn)
			}
			sql = s
		}
		return true
	})
	if sql == "" {
		t.Fatalf("%s calls collect with no statement", fn)
	}
	return sql
}

var placeholder = regexp.MustCompile(`\$(\d+)`)

// placeholders is the highest parameter number sql uses.
func placeholders(sql string) int {
	n := 0
	for _, m := range placeholder.FindAllStringSubmatch(sql, -1) {
		if v, _ := strconv.Atoi(m[1]); v > n {
			n = v
		}
	}
	return n
}
