package adopt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tenantd/internal/pgtest"
	"tenantd/internal/store"
	"tenantd/internal/store/adopt"
	"tenantd/internal/store/adopt/fixture"
	"tenantd/internal/store/catalog"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// legacyDB is an empty database owned by the owner role, next to the test's tenantd database,
// for a legacy fixture. It returns owner, superuser and application-role URLs.
type legacyDB struct{ Owner, Super, App, Admin, Name string }

// bootstrapMu serialises store.Bootstrap across parallel tests: each run alters the shared
// roles, and two concurrent ALTER ROLE of one role fail with "tuple concurrently updated".
var bootstrapMu sync.Mutex

func newLegacyDB(t testing.TB) legacyDB {
	t.Helper()
	db := pgtest.New(t)
	name := db.Name + "_legacy"
	swap := func(raw, dbname string) string {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + dbname
		return u.String()
	}
	ctx := context.Background()
	admin := swap(db.SuperURL, "postgres")
	bootstrapMu.Lock()
	err := store.Bootstrap(ctx, admin, name)
	bootstrapMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := store.DropDatabase(context.Background(), admin, name); err != nil {
			t.Logf("drop %s: %v", name, err)
		}
	})
	return legacyDB{Owner: swap(db.OwnerURL, name), Super: swap(db.SuperURL, name), App: swap(db.AppURL, name), Admin: admin, Name: name}
}

func newFixture(t testing.TB, s fixture.Size) legacyDB {
	t.Helper()
	db := newLegacyDB(t)
	start := time.Now()
	if err := fixture.Create(context.Background(), db.Owner, s); err != nil {
		t.Fatal(err)
	}
	t.Logf("fixture: %d rows in %s", s.Rows(), time.Since(start).Round(time.Millisecond))
	return db
}

func exec(t testing.TB, url string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func queryInt(t testing.TB, url, q string, args ...any) int64 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// checkReport compares `report nulls` with what the generator planted.
func checkReport(t testing.TB, db legacyDB, m *adopt.Map) {
	t.Helper()
	ctx := context.Background()
	want, err := fixture.Expected(ctx, db.Super)
	if err != nil {
		t.Fatal(err)
	}
	got, err := adopt.ReportNulls(ctx, db.Owner, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("report has %d tables, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Table != want[i].Table || got[i].Nulls != want[i].Nulls {
			t.Errorf("report: %s has %d NULL tenants, the generator planted %d in %s", got[i].Table, got[i].Nulls, want[i].Nulls, want[i].Table)
		}
		if got[i].Rows == 0 {
			t.Errorf("report: %s has no rows", got[i].Table)
		}
	}
}

// checkResult compares a backfill's counts with the truth.
func checkResult(t testing.TB, db legacyDB, res *adopt.BackfillResult) {
	t.Helper()
	want, err := fixture.Expected(context.Background(), db.Super)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		g := res.Tables[i]
		if g.Resolved != w.Resolve || g.Conflicts != w.Conflict || g.Unresolved != w.Unresolved || g.Duplicates != w.Duplicate {
			t.Errorf("%s: resolved/conflict/unresolved/duplicate = %d/%d/%d/%d, planted %d/%d/%d/%d", g.Table,
				g.Resolved, g.Conflicts, g.Unresolved, g.Duplicates, w.Resolve, w.Conflict, w.Unresolved, w.Duplicate)
		}
	}
}

func TestParseMap(t *testing.T) {
	if m := adopt.DefaultMap(); len(m.Tables) < 23 {
		t.Fatalf("default map has %d tables", len(m.Tables))
	}
	m := fixture.Map()
	if got := m.Table("Booking").TenantColumn; got != "tenantId" {
		t.Fatalf("quoted tenant column parsed as %q", got)
	}
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "tenants: {table: t}\ntables: [{table: a}]\nsurprise: 1\n", "surprise"},
		{"bad key type", "tenants: {table: t, type: float}\ntables: [{table: a}]\n", "float"},
		{"no tables", "tenants: {table: t}\n", "no tables"},
		{"twice", "tenants: {table: t}\ntables: [{table: a}, {table: a}]\n", "twice"},
		{"tenants owned", "tenants: {table: t}\ntables: [{table: t}]\n", "tenants table"},
		{"empty path", "tenants: {table: t}\ntables: [{table: a, derive: [{name: x, path: []}]}]\n", "empty path"},
		{"key length", "tenants: {table: t}\ntables: [{table: a, derive: [{path: [{from: [x, y], to: b, key: id}]}]}]\n", "length"},
		{"bad function", "tenants: {table: t}\ntenant_function: nope\ntables: [{table: a}]\n", "schema.name"},
		{"json", `{"tenants": {"table": "t"}, "tables": [{"table": "a", "derive": [{"path": [{"from": "b_id", "to": "b"}]}]}]}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := adopt.ParseMap([]byte(tc.yaml))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// On tenantd's own schema the toolkit has nothing to do, and the audit through the embedded
// map agrees with the audit by discovery.
func TestDefaultMapOnTenantdSchema(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	m := adopt.DefaultMap()
	counts, err := adopt.ReportNulls(ctx, db.OwnerURL, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range counts {
		if c.Nulls != 0 {
			t.Errorf("%s: %d NULL tenants", c.Table, c.Nulls)
		}
	}
	plan, err := adopt.PlanHarden(ctx, db.OwnerURL, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Steps) > 0 || len(plan.Blockers) > 0 {
		var b bytes.Buffer
		adopt.PrintPlan(&b, plan) //nolint:errcheck // bytes.Buffer
		t.Fatalf("harden plan on tenantd's own schema is not empty:\n%s", b.String())
	}
	findings, err := catalog.Audit(ctx, db.AppURL, m.AuditOptions())
	if err != nil || len(findings) > 0 {
		t.Fatalf("audit with the embedded map: %v %+v", err, findings)
	}
	// The embedded map must list exactly the tables a migration made tenant-owned.
	discovered, err := catalog.AuditReport(ctx, db.AppURL, catalog.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range discovered.Tables {
		if m.Table(name) == nil {
			t.Errorf("table %s has a tenant_id column but is missing from internal/store/adopt/tenantd.yaml", name)
		}
	}
	if len(discovered.Tables) != len(m.Tables) {
		t.Errorf("the embedded map lists %d tables, the schema has %d tenant-owned ones", len(m.Tables), len(discovered.Tables))
	}
	res, err := adopt.Backfill(ctx, db.OwnerURL, m, adopt.BackfillOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Processed != 0 {
		t.Fatalf("backfill decided %d rows on a schema without NULL tenants", res.Processed)
	}
	if n := queryInt(t, db.SuperURL, `SELECT count(*) FROM platform_events WHERE kind LIKE 'adopt.backfill.%'`); n != 2 {
		t.Fatalf("%d platform events for the backfill, want start and finish", n)
	}
}

func TestBackfillMatchesTruth(t *testing.T) {
	t.Parallel()
	db := newFixture(t, fixture.SizeFor(20_000))
	ctx := context.Background()
	m := fixture.Map()
	checkReport(t, db, m)

	before := queryInt(t, db.Super, `SELECT count(*) FROM "Booking" WHERE "tenantId" IS NULL`)
	dry, err := adopt.Backfill(ctx, db.Owner, m, adopt.BackfillOptions{DryRun: true, BatchSize: 700})
	if err != nil {
		t.Fatal(err)
	}
	if after := queryInt(t, db.Super, `SELECT count(*) FROM "Booking" WHERE "tenantId" IS NULL`); after != before {
		t.Fatalf("dry run changed %d rows", before-after)
	}
	if n := queryInt(t, db.Super, `SELECT count(*) FROM pg_namespace WHERE nspname = 'tenantd_adopt'`); n != 0 {
		t.Fatal("dry run created the state schema")
	}
	// A dry run decides exactly as the real run will, the planted duplicate settings rows
	// included (it checks the per-tenant unique keys against the rows it resolved).
	checkResult(t, db, dry)

	res, err := adopt.Backfill(ctx, db.Owner, m, adopt.BackfillOptions{BatchSize: 700})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, db, res)
	if err := fixture.Verify(ctx, db.Super); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := adopt.PrintBackfill(&b, res); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", b.String())

	// A second run finds only the quarantined rows again and decides them the same way.
	again, err := adopt.Backfill(ctx, db.Owner, m, adopt.BackfillOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tot := again.Totals(); tot.Resolved != 0 || tot.Quarantined() != res.Totals().Quarantined() {
		t.Fatalf("re-run resolved %d and quarantined %d, want 0 and %d", tot.Resolved, tot.Quarantined(), res.Totals().Quarantined())
	}
	if err := fixture.Verify(ctx, db.Super); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, db.Super, `SELECT count(*) FROM tenantd_adopt.events WHERE action LIKE 'adopt.backfill.%'`); n != 4 {
		t.Fatalf("%d audit events, want start and finish of both runs", n)
	}
}

// Killing the backfill mid-run (here: cancelling its context after a few batches) and starting
// it again must end exactly where an uninterrupted run ends.
func TestBackfillResumesAfterKill(t *testing.T) {
	t.Parallel()
	db := newFixture(t, fixture.SizeFor(20_000))
	ctx := context.Background()
	m := fixture.Map()
	for _, killAfter := range []int{3, 9} {
		kctx, kill := context.WithCancel(ctx)
		batches := 0
		_, err := adopt.Backfill(kctx, db.Owner, m, adopt.BackfillOptions{BatchSize: 300, OnBatch: func(adopt.BatchProgress) {
			batches++
			if batches == killAfter {
				kill()
			}
		}})
		kill()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("killed run: %v", err)
		}
	}
	res, err := adopt.Backfill(ctx, db.Owner, m, adopt.BackfillOptions{BatchSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed {
		t.Fatal("the run after the kill did not resume")
	}
	checkResult(t, db, res)
	if err := fixture.Verify(ctx, db.Super); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, db.Super, `SELECT count(*) FROM tenantd_adopt.backfill_runs`); n != 1 {
		t.Fatalf("%d runs recorded, want the one resumed run", n)
	}
}

// harden refuses NOT NULL while NULLs remain, after doing the steps that are safe anyway.
func TestHardenRefusesWhileNullsRemain(t *testing.T) {
	t.Parallel()
	db := newFixture(t, fixture.SizeFor(20_000))
	ctx := context.Background()
	m := fixture.Map()
	plan, err := adopt.PlanHarden(ctx, db.Owner, m)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := adopt.PrintPlan(&b, plan); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "refusing to enforce NOT NULL") || !strings.Contains(b.String(), "Booking: ") {
		t.Fatalf("plan does not name the tables with NULLs:\n%s", b.String())
	}
	_, err = adopt.ApplyHarden(ctx, db.Owner, m, adopt.HardenOptions{})
	var refusal *adopt.NullsRemainError
	if !errors.As(err, &refusal) {
		t.Fatalf("apply: %v, want a refusal", err)
	}
	if n := queryInt(t, db.Super, `SELECT count(*) FROM pg_attribute WHERE attrelid = '"Booking"'::regclass AND attname = 'tenantId' AND attnotnull`); n != 0 {
		t.Fatal("NOT NULL was set while NULLs remain")
	}
	// The NOT VALID check already stops new rows without a tenant.
	conn, err := pgx.Connect(ctx, db.Owner)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `INSERT INTO "Service" ("id", "slug", "name") VALUES ('x', 'x', 'x')`)
	if err == nil || !strings.Contains(err.Error(), "not_null") {
		t.Fatalf("insert without tenant after harden: %v", err)
	}
}

// Tables whose rules reach each other (and a table that references itself) are resolved in
// repeated passes: a row is decided once the rows it depends on are.
func TestBackfillCycles(t *testing.T) {
	t.Parallel()
	db := newLegacyDB(t)
	exec(t, db.Owner,
		`CREATE TABLE firm (id text PRIMARY KEY)`,
		`INSERT INTO firm VALUES ('a'), ('b')`,
		`CREATE TABLE folder (id int PRIMARY KEY, firm text REFERENCES firm, parent int, doc int)`,
		`CREATE TABLE doc (id int PRIMARY KEY, firm text REFERENCES firm, folder int)`,
		// root 1 (a) <- 2 <- 3 <- 4: a chain the self-reference resolves one level per pass.
		`INSERT INTO folder VALUES (1, 'a', NULL, NULL), (4, NULL, 3, NULL), (3, NULL, 2, NULL), (2, NULL, 1, NULL)`,
		// folder 5 learns its firm from doc 10, which learns it from folder 1.
		`INSERT INTO doc VALUES (10, NULL, 1), (11, NULL, 5), (12, NULL, 6)`,
		`INSERT INTO folder VALUES (5, NULL, NULL, 10), (6, NULL, NULL, NULL), (7, NULL, 1, 13)`,
		`INSERT INTO doc VALUES (13, 'b', NULL)`,
		`ALTER TABLE folder ADD FOREIGN KEY (parent) REFERENCES folder, ADD FOREIGN KEY (doc) REFERENCES doc`,
		`ALTER TABLE doc ADD FOREIGN KEY (folder) REFERENCES folder`,
	)
	m, err := adopt.ParseMap([]byte(`
tenants: {table: firm, key: id, type: text}
tenant_column: firm
tables:
  - table: folder
    derive:
      - {name: parent, path: [{from: parent, to: folder}]}
      - {name: doc, path: [{from: doc, to: doc}]}
  - table: doc
    derive:
      - {name: folder, path: [{from: folder, to: folder}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := adopt.Backfill(context.Background(), db.Owner, m, adopt.BackfillOptions{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	conn, err := pgx.Connect(context.Background(), db.Owner)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, _ := conn.Query(context.Background(), `SELECT 'folder' || id, coalesce(firm, '-') FROM folder UNION ALL SELECT 'doc' || id, coalesce(firm, '-') FROM doc`)
	var k, v string
	if _, err := pgx.ForEachRow(rows, []any{&k, &v}, func() error { got[k] = v; return nil }); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"folder2": "a", "folder3": "a", "folder4": "a", "doc10": "a", "folder5": "a", "doc11": "a",
		"folder6": "-", "doc12": "-", "folder7": "-"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: firm %q, want %q", k, got[k], v)
		}
	}
	tot := res.Totals()
	if tot.Unresolved != 2 || tot.Conflicts != 1 {
		t.Errorf("unresolved %d, conflicts %d; want folder 6 and doc 12 unresolved, folder 7 (parent a, doc b) in conflict", tot.Unresolved, tot.Conflicts)
	}
}

// runAdoption is the whole adoption of a legacy database of the given size while a writer keeps
// inserting and updating rows: report, backfill, settle the quarantine, harden, audit. It
// returns the backfill and harden summaries for the benchmark numbers.
func runAdoption(t *testing.T, size fixture.Size, batch int) (*adopt.BackfillResult, *adopt.HardenResult) {
	db := newFixture(t, size)
	ctx := context.Background()
	m := fixture.Map()
	checkReport(t, db, m)

	w, err := fixture.StartWriter(ctx, db.Owner, size)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			w.Stop() //nolint:errcheck // test already failing
		}
	}()
	time.Sleep(100 * time.Millisecond)
	bf, err := adopt.Backfill(ctx, db.Owner, m, adopt.BackfillOptions{BatchSize: batch})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("backfill: %d rows decided in %s (%.0f rows/s), longest batch %s, %d retries", bf.Processed,
		bf.Elapsed.Round(time.Millisecond), bf.RowsPerSecond(), bf.LongestBatch.Round(time.Millisecond), bf.Retries)
	checkResult(t, db, bf)
	mark := time.Now()
	if err := fixture.Verify(ctx, db.Super); err != nil {
		t.Fatal(err)
	}
	t.Logf("verified against the truth in %s", time.Since(mark).Round(time.Millisecond))
	q, err := adopt.Quarantine(ctx, db.Owner, 5)
	if err != nil {
		t.Fatal(err)
	}
	var qb bytes.Buffer
	if err := adopt.PrintQuarantine(&qb, q); err != nil {
		t.Fatal(err)
	}
	mark = time.Now()
	if err := fixture.SettleQuarantine(ctx, db.Super); err != nil {
		t.Fatal(err)
	}
	t.Logf("quarantine settled in %s", time.Since(mark).Round(time.Millisecond))
	counts, err := adopt.ReportNulls(ctx, db.Owner, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range counts {
		if c.Nulls != 0 {
			t.Fatalf("%s: %d NULL tenants after settling the quarantine", c.Table, c.Nulls)
		}
	}

	var log bytes.Buffer
	hr, err := adopt.ApplyHarden(ctx, db.Owner, m, adopt.HardenOptions{Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	time.Sleep(100 * time.Millisecond)
	stats, err := w.Stop()
	stopped = true
	if err != nil {
		t.Fatalf("the concurrent writer failed: %v", err)
	}
	if stats.Inserts == 0 || stats.Updates == 0 {
		t.Fatalf("the writer did nothing: %+v", stats)
	}
	if err := w.Verify(ctx, db.Super); err != nil {
		t.Fatal(err)
	}
	t.Logf("writer: %d inserts, %d updates, %d retries, longest operation %s", stats.Inserts, stats.Updates, stats.Retries, stats.MaxLatency.Round(time.Millisecond))

	rep, err := catalog.AuditReport(ctx, db.App, m.AuditOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) > 0 || len(rep.Tables) != len(m.Tables) {
		var b bytes.Buffer
		catalog.Print(&b, rep) //nolint:errcheck // bytes.Buffer
		t.Fatalf("check schema after harden:\n%s", b.String())
	}
	plan, err := adopt.PlanHarden(ctx, db.Owner, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Steps) > 0 {
		var b bytes.Buffer
		adopt.PrintPlan(&b, plan) //nolint:errcheck // bytes.Buffer
		t.Fatalf("harden is not idempotent; second plan:\n%s", b.String())
	}
	// The application role now sees exactly one tenant's rows, and only with a tenant set.
	tenant := fixture.CUID(fixture.KindTenant, 1)
	all := queryInt(t, db.Super, `SELECT count(*) FROM "Booking" WHERE "tenantId" = $1`, tenant)
	conn, err := pgx.Connect(ctx, db.App)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var none, mine int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM "Booking"`).Scan(&none); err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('app.tenant_id', $1, true)`, tenant); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM "Booking"`).Scan(&mine)
	})
	if err != nil || none != 0 || mine != all {
		t.Fatalf("app role: %v; %d rows without a tenant (want 0), %d with one (want %d)", err, none, mine, all)
	}
	if hr.LongestBlocking > time.Second {
		t.Errorf("a step held a writer-blocking lock for %s (%s)", hr.LongestBlocking, hr.LongestBlockingStep)
	}
	t.Logf("harden: %d steps in %s, %d retries, longest writer-blocking lock %s (%s)", len(hr.Steps), hr.Elapsed.Round(time.Millisecond),
		hr.Retries, hr.LongestBlocking.Round(time.Microsecond), hr.LongestBlockingStep)
	return bf, hr
}

func TestAdoptionWithConcurrentWriter(t *testing.T) {
	t.Parallel()
	runAdoption(t, fixture.SizeFor(60_000), 1000)
}

// TestAdoptionMillionRows is the acceptance run at full size (skipped with -short): over a
// million legacy rows in 9 tables and 50 tenants, with a concurrent writer. It logs the numbers
// recorded in BENCH.md.
func TestAdoptionMillionRows(t *testing.T) {
	if testing.Short() {
		t.Skip("full-size adoption run; skipped with -short")
	}
	size := fixture.SizeFor(1_000_000)
	bf, _ := runAdoption(t, size, 5000)
	var b bytes.Buffer
	adopt.PrintBackfill(&b, bf) //nolint:errcheck // bytes.Buffer
	t.Logf("backfill of %d rows:\n%s", size.Rows(), b.String())
}

// BenchmarkAdoption measures, on a copy of one legacy fixture per iteration, the backfill rate
// and the longest writer-blocking lock of harden (the numbers in BENCH.md). Size with
// TENANTD_BENCH_ROWS (default 1,000,000):
//
//	go test -run '^$' -bench Adoption -benchtime 3x ./internal/store/adopt/
func BenchmarkAdoption(b *testing.B) {
	rows := 1_000_000
	if v := os.Getenv("TENANTD_BENCH_ROWS"); v != "" {
		if _, err := fmt.Sscan(v, &rows); err != nil {
			b.Fatal(err)
		}
	}
	size := fixture.SizeFor(rows)
	tmpl := newFixture(b, size)
	ctx := context.Background()
	var nullRate, tableRate, longestBatch, longestLock, hardenSecs float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		name := fmt.Sprintf("%s_b%d", tmpl.Name, i)
		if err := store.CloneDatabase(ctx, tmpl.Admin, tmpl.Name, name); err != nil {
			b.Fatal(err)
		}
		owner := strings.Replace(tmpl.Owner, "/"+tmpl.Name+"?", "/"+name+"?", 1)
		super := strings.Replace(tmpl.Super, "/"+tmpl.Name+"?", "/"+name+"?", 1)
		b.StartTimer()
		bf, err := adopt.Backfill(ctx, owner, fixture.Map(), adopt.BackfillOptions{})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if err := fixture.SettleQuarantine(ctx, super); err != nil {
			b.Fatal(err)
		}
		hr, err := adopt.ApplyHarden(ctx, owner, fixture.Map(), adopt.HardenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		nullRate += bf.RowsPerSecond()
		tableRate += float64(size.Rows()) / bf.Elapsed.Seconds()
		longestBatch = max(longestBatch, float64(bf.LongestBatch.Microseconds())/1000)
		longestLock = max(longestLock, float64(hr.LongestBlocking.Microseconds())/1000)
		hardenSecs += hr.Elapsed.Seconds()
		if err := store.DropDatabase(ctx, tmpl.Admin, name); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N)
	b.ReportMetric(nullRate/n, "null-rows/s")
	b.ReportMetric(tableRate/n, "table-rows/s")
	b.ReportMetric(longestBatch, "max-batch-ms")
	b.ReportMetric(hardenSecs/n, "harden-s")
	b.ReportMetric(longestLock, "max-lock-ms")
}

// killAfter cancels a context when the n-th line is logged (harden logs each step as it
// starts it), so the step is interrupted mid-flight.
type killAfter struct {
	n    int
	kill context.CancelFunc
}

func (k *killAfter) Write(p []byte) (int, error) {
	k.n--
	if k.n == 0 {
		k.kill()
	}
	return len(p), nil
}

// Interrupting harden at any step and running it again ends hardened: every step is derived
// from the catalog, and a concurrent index build cut short is dropped and rebuilt.
func TestHardenResumesAfterKill(t *testing.T) {
	t.Parallel()
	db := newFixture(t, fixture.SizeFor(20_000))
	ctx := context.Background()
	m := fixture.Map()
	if _, err := adopt.Backfill(ctx, db.Owner, m, adopt.BackfillOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := fixture.SettleQuarantine(ctx, db.Super); err != nil {
		t.Fatal(err)
	}
	for _, step := range []int{2, 5, 30, 60, 90} {
		kctx, kill := context.WithCancel(ctx)
		_, err := adopt.ApplyHarden(kctx, db.Owner, m, adopt.HardenOptions{Log: &killAfter{n: step, kill: kill}})
		kill()
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("harden killed at step %d: %v", step, err)
		}
	}
	if _, err := adopt.ApplyHarden(ctx, db.Owner, m, adopt.HardenOptions{}); err != nil {
		t.Fatal(err)
	}
	plan, err := adopt.PlanHarden(ctx, db.Owner, m)
	if err != nil || len(plan.Steps) > 0 {
		t.Fatalf("after the final apply: %v, %d steps left", err, len(plan.Steps))
	}
	findings, err := catalog.Audit(ctx, db.App, m.AuditOptions())
	if err != nil || len(findings) > 0 {
		t.Fatalf("check schema: %v %+v", err, findings)
	}
	if n := queryInt(t, db.Super, `SELECT count(*) FROM pg_index WHERE NOT indisvalid`); n != 0 {
		t.Fatalf("%d invalid indexes left behind", n)
	}
}
