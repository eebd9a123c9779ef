package catalog_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"tenantd/internal/pgtest"
	"tenantd/internal/store/catalog"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func exec(t *testing.T, url string, stmts ...string) {
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

// The migrated schema is the reference: it must pass, whether audited by the application role
// (what `tenantd check schema` uses in production) or by the owner.
func TestAuditPassesOnMigratedSchema(t *testing.T) {
	db := pgtest.New(t)
	for _, url := range []string{db.AppURL, db.OwnerURL} {
		rep, err := catalog.AuditReport(context.Background(), url, catalog.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Findings) > 0 {
			var b bytes.Buffer
			catalog.Print(&b, rep) //nolint:errcheck // bytes.Buffer
			t.Fatalf("findings on the migrated schema:\n%s", b.String())
		}
		if len(rep.Tables) < 23 {
			t.Fatalf("audited %d tables, want at least the 23 tenant-owned ones of the first migration: %v", len(rep.Tables), rep.Tables)
		}
	}
}

// Each variant breaks one rule of SPEC §6 and must produce a finding of the expected kind on
// the expected table.
func TestAuditFailsOnBrokenVariants(t *testing.T) {
	tests := []struct {
		name  string
		super []string // statements run as the superuser on a fresh database
		opts  func(*catalog.Options)
		table string
		check string
		// text is a fragment the finding's detail must contain.
		text string
	}{
		{name: "no force", super: []string{`ALTER TABLE bookings NO FORCE ROW LEVEL SECURITY`},
			table: "bookings", check: catalog.CheckForceRLS},
		{name: "rls disabled", super: []string{`ALTER TABLE posts DISABLE ROW LEVEL SECURITY`},
			table: "posts", check: catalog.CheckRLS},
		{name: "global unique", super: []string{`CREATE UNIQUE INDEX invoices_number_global ON invoices (number)`},
			table: "invoices", check: catalog.CheckUnique, text: "invoices_number_global"},
		{name: "single-column fk", super: []string{
			`CREATE UNIQUE INDEX service_requests_id_global ON service_requests (id)`,
			`ALTER TABLE work_orders ADD CONSTRAINT work_orders_request_global_fkey FOREIGN KEY (service_request_id) REFERENCES service_requests (id)`},
			table: "work_orders", check: catalog.CheckCompositeFK, text: "work_orders_request_global_fkey"},
		{name: "volatile tenant function", super: []string{`ALTER FUNCTION app.current_tenant() VOLATILE`},
			table: "-", check: catalog.CheckFunction, text: "VOLATILE"},
		{name: "fallback tenant", super: []string{`CREATE OR REPLACE FUNCTION app.current_tenant() RETURNS uuid LANGUAGE sql STABLE
			AS $$ SELECT coalesce(nullif(current_setting('app.tenant_id', true), '')::uuid, '00000000-0000-0000-0000-000000000001') $$`},
			table: "-", check: catalog.CheckFunction, text: "unset"},
		{name: "extra permissive policy", super: []string{`CREATE POLICY staff_read_all ON invoices FOR SELECT USING (true)`},
			table: "invoices", check: catalog.CheckExtraPolicy, text: "staff_read_all"},
		{name: "widened known exception", super: []string{
			`DROP POLICY member_self_read ON memberships`,
			`CREATE POLICY member_self_read ON memberships FOR SELECT USING (user_id IS NOT NULL)`},
			table: "memberships", check: catalog.CheckExtraPolicy, text: "member_self_read"},
		{name: "nullable tenant_id", super: []string{`CREATE TABLE notes (
			tenant_id uuid REFERENCES tenants (id) ON DELETE CASCADE, id uuid NOT NULL, body text,
			UNIQUE (tenant_id, id))`,
			`ALTER TABLE notes ENABLE ROW LEVEL SECURITY`, `ALTER TABLE notes FORCE ROW LEVEL SECURITY`,
			`CREATE POLICY tenant_isolation ON notes USING (tenant_id = (SELECT app.current_tenant()))`},
			table: "notes", check: catalog.CheckNotNull},
		{name: "index not leading with tenant", super: []string{`CREATE INDEX bookings_status_idx ON bookings (status, tenant_id)`},
			table: "bookings", check: catalog.CheckIndex, text: "bookings_status_idx"},
		{name: "policy without sub-select", super: []string{
			`DROP POLICY tenant_isolation ON services`,
			`CREATE POLICY tenant_isolation ON services USING (tenant_id = app.current_tenant()) WITH CHECK (tenant_id = app.current_tenant())`},
			table: "services", check: catalog.CheckPolicy, text: "directly"},
		{name: "policy missing", super: []string{`DROP POLICY tenant_isolation ON chat_messages`},
			table: "chat_messages", check: catalog.CheckPolicy},
		{name: "restrictive select-only policy", super: []string{
			`DROP POLICY tenant_isolation ON expenses`,
			`CREATE POLICY tenant_isolation ON expenses AS RESTRICTIVE FOR SELECT USING (tenant_id = (SELECT app.current_tenant()))`},
			table: "expenses", check: catalog.CheckPolicy, text: "RESTRICTIVE"},
		{name: "tenant fk without cascade", super: []string{
			`ALTER TABLE posts DROP CONSTRAINT posts_tenant_id_fkey`,
			`ALTER TABLE posts ADD CONSTRAINT posts_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id)`},
			table: "posts", check: catalog.CheckTenantFK, text: "CASCADE"},
		{name: "tenant fk not validated", super: []string{
			`ALTER TABLE posts DROP CONSTRAINT posts_tenant_id_fkey`,
			`ALTER TABLE posts ADD CONSTRAINT posts_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE NOT VALID`},
			table: "posts", check: catalog.CheckTenantFK, text: "NOT VALID"},
		{name: "primary key without tenant", super: []string{`CREATE TABLE labels (
			tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE, id uuid PRIMARY KEY)`},
			table: "labels", check: catalog.CheckPrimaryKey},
		{name: "app role owns a table", super: []string{`ALTER TABLE thresholds OWNER TO tenantd_app`},
			table: "thresholds", check: catalog.CheckAppRole},
		{name: "app role may truncate", super: []string{`GRANT TRUNCATE ON posts TO tenantd_app`},
			table: "posts", check: catalog.CheckGrants, text: "TRUNCATE"},
		{name: "app role bypasses rls", super: []string{`DO $$ BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'audit_bypass_app') THEN
			  CREATE ROLE audit_bypass_app NOLOGIN BYPASSRLS; END IF; END $$`},
			opts:  func(o *catalog.Options) { o.AppRole = "audit_bypass_app" },
			table: "-", check: catalog.CheckAppRole, text: "BYPASSRLS"},
		{name: "singleton without unique tenant", super: []string{`ALTER TABLE thresholds DROP CONSTRAINT thresholds_tenant_id_key`},
			opts: func(o *catalog.Options) {
				o.Tables = []catalog.TableSpec{{Name: "thresholds", TenantColumn: "tenant_id", Singleton: true}}
			},
			table: "thresholds", check: catalog.CheckSingleton},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := pgtest.New(t)
			exec(t, db.SuperURL, tc.super...)
			opts := catalog.DefaultOptions()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			findings, err := catalog.Audit(context.Background(), db.AppURL, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range findings {
				if f.Table == tc.table && f.Check == tc.check && strings.Contains(f.Detail, tc.text) {
					return
				}
			}
			t.Fatalf("no %s finding on %s containing %q; got %+v", tc.check, tc.table, tc.text, findings)
		})
	}
}

func TestNormalizeExpr(t *testing.T) {
	tests := []struct{ a, b string }{
		{`(tenant_id = ( SELECT app.current_tenant() AS current_tenant))`, `tenant_id = (select app.current_tenant())`},
		{`("tenantId" = ( SELECT app.current_tenant() AS current_tenant))`, `"tenantId" = (SELECT app.current_tenant())`},
		{`(user_id = ( SELECT app.current_user_id() AS current_user_id))`, `user_id = (SELECT app.current_user_id())`},
	}
	for _, tc := range tests {
		if x, y := catalog.NormalizeExpr(tc.a), catalog.NormalizeExpr(tc.b); x != y {
			t.Errorf("%q -> %q, %q -> %q", tc.a, x, tc.b, y)
		}
	}
	if catalog.NormalizeExpr(`("tenantId" = x)`) == catalog.NormalizeExpr(`(tenantid = x)`) {
		t.Error("quoted mixed-case identifier must stay distinct")
	}
}
