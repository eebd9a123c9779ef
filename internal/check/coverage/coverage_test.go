package coverage_test

import (
	"bytes"
	"context"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"tenantd/internal/auth"
	"tenantd/internal/check/coverage"
	"tenantd/internal/httpapi"
	"tenantd/internal/pgtest"
	"tenantd/internal/store"
	"tenantd/internal/tenancy"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func migrations(t *testing.T) fs.FS {
	t.Helper()
	sub, err := fs.Sub(store.MigrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func realRoutes(t *testing.T) []httpapi.Route {
	t.Helper()
	kr, err := tenancy.NewKeyring(strings.Repeat("k", tenancy.MinSecretLen), nil)
	if err != nil {
		t.Fatal(err)
	}
	return httpapi.New(nil, httpapi.Config{Keyring: kr}).Routes()
}

func render(t *testing.T, r *coverage.Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := coverage.Print(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestTenantTablesFromMigrations(t *testing.T) {
	tables, err := coverage.TenantTablesFromMigrations(migrations(t), "")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(tables, " ")
	for _, want := range []string{"bookings", "memberships", "services", "audit_events", "payment_sessions"} {
		if !strings.Contains(" "+got+" ", " "+want+" ") {
			t.Errorf("%s missing from %s", want, got)
		}
	}
	for _, global := range []string{"tenants", "users", "sessions", "platform_events", "payment_session_routes"} {
		if strings.Contains(" "+got+" ", " "+global+" ") {
			t.Errorf("global table %s listed as tenant-owned", global)
		}
	}

	fixture := fstest.MapFS{
		"m/00001_a.sql": {Data: []byte(`-- +goose Up
CREATE TABLE a (tenant_id uuid NOT NULL, id uuid);
CREATE TABLE b (id uuid, note text DEFAULT 'tenant_id');
CREATE TABLE c (id uuid);
-- +goose Down
CREATE TABLE d (tenant_id uuid);`)},
		"m/00002_b.sql": {Data: []byte(`-- +goose Up
ALTER TABLE c ADD COLUMN tenant_id uuid;
DROP TABLE a;`)},
	}
	tables, err = coverage.TenantTablesFromMigrations(fixture, "tenant_id")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tables, " "); got != "c" {
		t.Errorf("fixture tables = %q, want %q", got, "c")
	}
}

// TestStoreQueriesCarryTenantPredicates is the report over the store this binary is built
// from: every statement on a tenant-owned table is pinned to one tenant.
func TestStoreQueriesCarryTenantPredicates(t *testing.T) {
	rep, err := coverage.Run(context.Background(), coverage.Options{
		Routes: realRoutes(t), RouteExceptions: coverage.DefaultRouteExceptions,
		Sources: store.Sources, Migrations: migrations(t), QueryExceptions: coverage.DefaultExceptions,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := render(t, rep)
	if !rep.OK() {
		t.Fatalf("coverage below 100%%:\n%s", out)
	}
	tenant := rep.Queries.Tenant()
	if len(tenant) < 50 {
		t.Errorf("only %d statements on tenant-owned tables found:\n%s", len(tenant), out)
	}
	found := false
	for _, s := range tenant {
		if s.Func == "Scope.GetBooking" && s.Verb == "select" && strings.Join(s.Tables, ",") == "bookings" {
			found = true
		}
	}
	if !found {
		t.Errorf("Scope.GetBooking's statement was not found")
	}
	for _, f := range rep.Queries.Files {
		if strings.HasSuffix(f, "_test.go") {
			t.Errorf("test file %s was scanned", f)
		}
	}
	if len(rep.Queries.Stale) > 0 {
		t.Errorf("stale exceptions: %+v", rep.Queries.Stale)
	}
	if !strings.Contains(out, "100.0%") || !strings.Contains(out, "coverage: complete") {
		t.Errorf("report does not say 100%%:\n%s", out)
	}
}

const fixtureStore = `package store

const widgetColumns = "id, name"

const lookupSQL = ` + "`SELECT id FROM widgets WHERE tenant_id = $1 AND name = $2`" + `

const fragment = ` + "`SELECT ` + widgetColumns + ` FROM widgets`" + `

func (sc *Scope) ListWidgets() {
	sc.query(` + "`SELECT ` + widgetColumns + ` FROM widgets WHERE tenant_id = $1`" + `, sc.TenantID())
}

func (sc *Scope) Lookup() { sc.query(lookupSQL) }

func (sc *Scope) GetWidget(id string) {
	sc.query(fragment+` + "` WHERE id = $1`" + `, id)
}

func (sc *Scope) AddWidget() {
	sc.exec("INSERT INTO widgets (tenant_id, id, name) VALUES ($1, $2, $3)")
}

func (sc *Scope) Everyone() {
	sc.query("SELECT name FROM users")
}

func (p *Platform) Fill() {
	for _, table := range []string{"widgets", "gadgets"} {
		p.exec("INSERT INTO " + table + " (tenant_id, id) VALUES ($1, $2)")
	}
}

func (p *Platform) Purge(table string) {
	p.exec("DELETE FROM " + table + " WHERE id = $1")
}
`

// TestFixtureOffenders feeds a fixture store: the query without a tenant predicate (built
// from a constant fragment) and the delete from a computed table are reported, and the
// report fails.
func TestFixtureOffenders(t *testing.T) {
	src := fstest.MapFS{
		"widgets.go":      {Data: []byte(fixtureStore)},
		"widgets_test.go": {Data: []byte("package store\n\nconst bad = `DELETE FROM widgets`\n")},
		"notes.txt":       {Data: []byte("SELECT * FROM widgets")},
	}
	migs := fstest.MapFS{"00001.sql": {Data: []byte(`-- +goose Up
CREATE TABLE widgets (tenant_id uuid NOT NULL, id uuid NOT NULL, name text);
CREATE TABLE gadgets (tenant_id uuid NOT NULL, id uuid NOT NULL);
CREATE TABLE users (id uuid, name text);`)}}
	rep, err := coverage.Run(context.Background(), coverage.Options{Sources: src, Migrations: migs})
	if err != nil {
		t.Fatal(err)
	}
	out := render(t, rep)
	if rep.OK() {
		t.Fatalf("the fixture passed:\n%s", out)
	}
	offenders := map[string]bool{}
	for _, s := range rep.Queries.Offenders() {
		offenders[s.Func] = true
	}
	if len(offenders) != 2 || !offenders["Scope.GetWidget"] || !offenders["Platform.Purge"] {
		t.Errorf("offenders = %v, want Scope.GetWidget and Platform.Purge\n%s", offenders, out)
	}
	byFunc := map[string]coverage.Statement{}
	for _, s := range rep.Queries.Statements {
		byFunc[s.Func] = s
	}
	if s := byFunc["Platform.Fill"]; strings.Join(s.Tables, ",") != "widgets,gadgets" || len(s.Problems) > 0 {
		t.Errorf("loop over a literal list: %+v", s)
	}
	if s := byFunc["Scope.Lookup"]; len(s.Tables) != 1 || len(s.Problems) > 0 {
		t.Errorf("constant statement: %+v", s)
	}
	if s, ok := byFunc["Scope.Everyone"]; !ok || len(s.Tables) != 0 {
		t.Errorf("global statement: %+v", s)
	}
	if _, ok := byFunc["fragment"]; ok {
		t.Errorf("a constant used only as a fragment was counted as a statement")
	}
	for _, want := range []string{"widgets.go:", "Scope.GetWidget", "widgets: no tenant_id", "SELECT id, name FROM widgets WHERE id = $1",
		"DELETE FROM <table> WHERE id = $1", "queries", "coverage: INCOMPLETE"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}

	// A declared exception covers exactly its function and table.
	rep, err = coverage.Run(context.Background(), coverage.Options{Sources: src, Migrations: migs, QueryExceptions: []coverage.Exception{
		{Func: "Scope.GetWidget", Table: "widgets", Reason: "fixture"},
		{Func: "Platform.Purge", Table: coverage.ComputedTable, Reason: "fixture"},
		{Func: "Scope.Nothing", Table: "widgets", Reason: "stale"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || len(rep.Queries.Excepted()) != 2 || len(rep.Queries.Stale) != 1 {
		t.Errorf("exceptions not applied as declared:\n%s", render(t, rep))
	}
}

func TestRoutes(t *testing.T) {
	// The fixture is built field by field: some of its routes are deliberately malformed,
	// which the route-table linter would refuse as literals.
	route := func(method, pattern string, kind httpapi.RouteKind, perm auth.Permission) httpapi.Route {
		r := httpapi.Route{Method: method, Pattern: pattern, Kind: httpapi.KindPublic,
			Handler: func(http.ResponseWriter, *http.Request, *store.Scope) error { return nil }}
		r.Kind, r.Permission = kind, perm
		return r
	}
	routes := []httpapi.Route{
		route("GET", "/api/things", httpapi.KindTenant, auth.PermSession),
		route("GET", "/api/nothing", httpapi.KindTenant, ""),
		route("GET", "/api/admin/open", httpapi.KindPublic, ""),
		route("GET", "/api/portal/open", httpapi.KindPublic, ""),
		route("GET", "/healthz", httpapi.KindPublic, ""),
		route("GET", "/api/undeclared", httpapi.KindUnset, ""),
		route("GET", "/api/platform/open", httpapi.KindPublic, ""),
		route("POST", "/api/admin/auth/logout", httpapi.KindPublic, ""),
	}
	r := coverage.CheckRoutes(routes, coverage.DefaultRouteExceptions)
	if r.Total != 8 || r.Sound() != 3 || r.Tenant != 2 || r.Public != 5 || r.Platform != 0 {
		t.Errorf("counts: %+v", r)
	}
	bad := map[string]bool{}
	for _, f := range r.Findings {
		bad[f.Route] = true
	}
	for _, want := range []string{"GET /api/nothing", "GET /api/admin/open", "GET /api/portal/open", "GET /api/undeclared", "GET /api/platform/open"} {
		if !bad[want] {
			t.Errorf("%s not flagged: %+v", want, r.Findings)
		}
	}
	if len(r.Excepted) != 1 || r.Excepted[0].Route != "POST /api/admin/auth/logout" {
		t.Errorf("excepted: %+v", r.Excepted)
	}

	real := coverage.CheckRoutes(realRoutes(t), coverage.DefaultRouteExceptions)
	if len(real.Findings) > 0 || real.Tenant == 0 || real.Sound() != real.Total {
		t.Errorf("the real route table falls short: %+v", real)
	}
}

// TestTables reads a migrated catalog: every tenant-owned table is hardened; a table whose row
// level security is no longer forced is not.
func TestTables(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	rep, err := coverage.Run(ctx, coverage.Options{DatabaseURL: db.AppURL, Sources: store.Sources,
		Routes: realRoutes(t), RouteExceptions: coverage.DefaultRouteExceptions, QueryExceptions: coverage.DefaultExceptions})
	if err != nil {
		t.Fatal(err)
	}
	out := render(t, rep)
	if !rep.OK() || rep.Tables.Hardened() != len(rep.Tables.Tables) || len(rep.Tables.Tables) < 20 {
		t.Fatalf("the migrated schema is not fully hardened:\n%s", out)
	}

	conn, err := pgx.Connect(ctx, db.SuperURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `ALTER TABLE bookings NO FORCE ROW LEVEL SECURITY; DROP POLICY tenant_isolation ON services`); err != nil {
		t.Fatal(err)
	}
	tr, err := coverage.CheckTables(ctx, db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	weak := map[string]string{}
	for _, ts := range tr.Tables {
		if !ts.Hardened {
			weak[ts.Name] = strings.Join(ts.Missing, "; ")
		}
	}
	if len(weak) != 2 || !strings.Contains(weak["bookings"], "force-rls") || !strings.Contains(weak["services"], "policy") {
		t.Errorf("weakened tables: %v", weak)
	}
	full := &coverage.Report{Tables: tr}
	if full.OK() {
		t.Errorf("a report with unhardened tables is OK")
	}
}
