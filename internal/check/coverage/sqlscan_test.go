package coverage

import (
	"strings"
	"testing"
)

var testTables = map[string]bool{"bookings": true, "services": true, "memberships": true, "invoices": true, "invoice_items": true}

func TestAnalyze(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sql    string
		tables string // comma-separated tenant tables touched
		bad    string // substring of the problems; "" means pinned
	}{
		{"select filtered", `SELECT id FROM bookings WHERE tenant_id = $1 AND id = $2`, "bookings", ""},
		{"select reversed", `SELECT id FROM bookings WHERE $1 = tenant_id`, "bookings", ""},
		{"select cast", `SELECT id FROM bookings WHERE tenant_id = $1::uuid`, "bookings", ""},
		{"tenant function", `SELECT id FROM bookings WHERE tenant_id = (SELECT app.current_tenant())`, "bookings", ""},
		{"bare tenant function", `SELECT id FROM bookings WHERE tenant_id = app.current_tenant()`, "bookings", ""},
		{"no filter", `SELECT id FROM bookings WHERE id = $1`, "bookings", "bookings: no tenant_id"},
		{"filter on other column", `SELECT id FROM bookings WHERE client_id = $1`, "bookings", "no tenant_id"},
		{"or makes it optional", `SELECT id FROM bookings WHERE tenant_id = $1 OR id = $2`, "bookings", "no tenant_id"},
		{"or in parens is fine", `SELECT id FROM bookings WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id < $2)`, "bookings", ""},
		{"or around the predicate", `SELECT id FROM bookings WHERE (tenant_id = $1 OR true)`, "bookings", "no tenant_id"},
		{"not equal", `SELECT id FROM bookings WHERE tenant_id <> $1`, "bookings", "no tenant_id"},
		{"self compare", `SELECT id FROM bookings WHERE tenant_id = tenant_id`, "bookings", "no tenant_id"},
		{"global table only", `SELECT id FROM users WHERE id = $1`, "", ""},
		{"function in from", `SELECT x FROM unnest($1::uuid[]) AS u(x)`, "", ""},
		{"extract from", `SELECT extract(epoch FROM starts_at) FROM bookings WHERE tenant_id = $1`, "bookings", ""},
		{"alias qualified", `SELECT b.id FROM bookings b WHERE b.tenant_id = $1`, "bookings", ""},
		{"alias with as", `SELECT b.id FROM bookings AS b WHERE b.tenant_id = $1`, "bookings", ""},
		{"join both filtered", `SELECT b.id FROM bookings b JOIN services s ON s.tenant_id = $1 AND s.id = b.service_id WHERE b.tenant_id = $1`, "bookings,services", ""},
		{"join second unfiltered", `SELECT b.id FROM bookings b JOIN services s ON s.id = b.service_id WHERE b.tenant_id = $1`, "bookings,services", "services s: no tenant_id"},
		{"join through the tenant column", `SELECT b.id FROM bookings b JOIN services s ON s.tenant_id = b.tenant_id AND s.id = b.service_id WHERE b.tenant_id = $1`, "bookings,services", ""},
		{"join to tenants is no filter", `SELECT m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id WHERE m.user_id = $1`, "memberships", "memberships m: no tenant_id"},
		{"wrong alias", `SELECT b.id FROM bookings b JOIN services s ON s.id = b.service_id WHERE s.tenant_id = $1`, "bookings,services", "bookings b: no tenant_id"},
		{"comma join", `SELECT 1 FROM bookings b, services s WHERE b.tenant_id = $1 AND s.tenant_id = $1`, "bookings,services", ""},
		{"comma join unfiltered", `SELECT 1 FROM bookings b, services s WHERE b.tenant_id = $1`, "bookings,services", "services s"},
		{"subquery filtered", `SELECT id, (SELECT count(*) FROM invoice_items i WHERE i.tenant_id = $1 AND i.invoice_id = v.id) FROM invoices v WHERE v.tenant_id = $1`, "invoice_items,invoices", ""},
		{"subquery unfiltered", `SELECT id, (SELECT count(*) FROM invoice_items i WHERE i.invoice_id = v.id) FROM invoices v WHERE v.tenant_id = $1`, "invoice_items,invoices", "invoice_items i"},
		{"unqualified in subquery scope only", `SELECT id FROM invoices WHERE id IN (SELECT invoice_id FROM invoice_items WHERE tenant_id = $1)`, "invoices,invoice_items", "invoices: no tenant_id"},
		{"exists subquery", `SELECT EXISTS (SELECT 1 FROM memberships WHERE user_id = $1)`, "memberships", "memberships: no tenant_id"},
		{"cte", `WITH picked AS (SELECT id FROM bookings WHERE tenant_id = $1) UPDATE bookings b SET status = 'x' FROM picked WHERE b.tenant_id = $1 AND b.id = picked.id`, "bookings", ""},
		{"cte unfiltered update", `WITH picked AS (SELECT id FROM bookings WHERE tenant_id = $1) UPDATE bookings b SET status = 'x' FROM picked WHERE b.id = picked.id`, "bookings", "bookings b: no tenant_id"},
		{"lateral", `SELECT 1 FROM services s CROSS JOIN LATERAL (SELECT count(*) FROM bookings b WHERE b.tenant_id = $1 AND b.service_id = s.id) x WHERE s.tenant_id = $1`, "services,bookings", ""},
		{"update filtered", `UPDATE bookings SET status = $3 WHERE tenant_id = $1 AND id = $2`, "bookings", ""},
		{"update unfiltered", `UPDATE bookings SET status = $3 WHERE id = $2`, "bookings", "bookings: no tenant_id"},
		{"set is not a filter", `UPDATE bookings SET tenant_id = $1 WHERE id = $2`, "bookings", "bookings: no tenant_id"},
		{"update from", `UPDATE bookings b SET service_id = s.id FROM services s WHERE b.tenant_id = $1 AND s.tenant_id = $1 AND s.id = $2`, "bookings,services", ""},
		{"update from unfiltered", `UPDATE bookings b SET service_id = s.id FROM services s WHERE b.tenant_id = $1 AND s.id = $2`, "bookings,services", "services s"},
		{"for update is no target", `SELECT id FROM bookings WHERE tenant_id = $1 FOR UPDATE`, "bookings", ""},
		{"delete filtered", `DELETE FROM bookings WHERE tenant_id = $1 AND id = $2`, "bookings", ""},
		{"delete unfiltered", `DELETE FROM bookings WHERE id = $2`, "bookings", "bookings: no tenant_id"},
		{"delete using", `DELETE FROM bookings b USING services s WHERE b.tenant_id = $1 AND s.tenant_id = $1 AND s.id = b.service_id`, "bookings,services", ""},
		{"insert values", `INSERT INTO bookings (tenant_id, id, status) VALUES ($1, $2, $3)`, "bookings", ""},
		{"insert values later column", `INSERT INTO bookings (id, tenant_id) VALUES ($2, $1::uuid) RETURNING id`, "bookings", ""},
		{"insert several rows", `INSERT INTO bookings (tenant_id, id) VALUES ($1, $2), ($1, $3)`, "bookings", ""},
		{"insert second row literal", `INSERT INTO bookings (tenant_id, id) VALUES ($1, $2), ('00000000-0000-0000-0000-000000000000', $3)`, "bookings", "not a parameter"},
		{"insert without tenant", `INSERT INTO bookings (id, status) VALUES ($1, $2)`, "bookings", "does not set tenant_id"},
		{"insert literal tenant", `INSERT INTO bookings (tenant_id, id) VALUES ('00000000-0000-0000-0000-000000000000', $1)`, "bookings", "not a parameter"},
		{"insert without columns", `INSERT INTO bookings VALUES ($1, $2)`, "bookings", "without a column list"},
		{"insert tenant function", `INSERT INTO bookings (tenant_id, id) VALUES ((SELECT app.current_tenant()), $1)`, "bookings", ""},
		{"insert select param", `INSERT INTO bookings (tenant_id, id, service_id) SELECT $1, $2, s.id FROM services s WHERE s.tenant_id = $1 AND s.id = $3`, "bookings,services", ""},
		{"insert select copied", `INSERT INTO bookings (tenant_id, id, service_id) SELECT s.tenant_id, $2, s.id FROM services s WHERE s.tenant_id = $1 AND s.id = $3`, "bookings,services", ""},
		{"insert select copied unfiltered", `INSERT INTO bookings (tenant_id, id, service_id) SELECT s.tenant_id, $2, s.id FROM services s WHERE s.id = $3`, "bookings,services", "services s"},
		{"insert select source unfiltered", `INSERT INTO bookings (tenant_id, id, service_id) SELECT $1, $2, s.id FROM services s WHERE s.id = $3`, "bookings,services", "services s"},
		{"insert on conflict", `INSERT INTO bookings (tenant_id, id) VALUES ($1, $2) ON CONFLICT (tenant_id, id) DO UPDATE SET status = 'x'`, "bookings", ""},
		{"string literal is ignored", `SELECT 'FROM bookings' FROM users WHERE id = $1`, "", ""},
		{"comment is ignored", "SELECT id FROM users -- FROM bookings\nWHERE id = $1", "", ""},
		{"quoted identifier", `SELECT id FROM "bookings" WHERE "tenant_id" = $1`, "bookings", ""},
		{"schema qualified", `SELECT id FROM public.bookings WHERE tenant_id = $1`, "bookings", ""},
		{"computed table pinned", `INSERT INTO ` + holeName(0) + ` (tenant_id, id) VALUES ($1, $2)`, holeName(0), ""},
		{"computed table unpinned", `SELECT count(*) FROM ` + holeName(0) + ` WHERE ` + holeName(1) + ` = $1`, holeName(0), "no tenant_id"},
		{"fmt verb table", `SELECT count(*) FROM %s WHERE tenant_id = $1`, "%s", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Analyze(tc.sql, testTables, "tenant_id")
			if got := strings.Join(a.Tables, ","); got != tc.tables {
				t.Errorf("tables = %q, want %q", got, tc.tables)
			}
			var details []string
			for _, p := range a.Problems {
				details = append(details, p.Detail)
			}
			got := strings.Join(details, "; ")
			if tc.bad == "" && got != "" {
				t.Errorf("problems %q, want none", got)
			}
			if tc.bad != "" && !strings.Contains(got, tc.bad) {
				t.Errorf("problems %q, want one containing %q", got, tc.bad)
			}
		})
	}
}

func TestIsStatement(t *testing.T) {
	for s, want := range map[string]bool{
		"SELECT 1":                             true,
		"  insert into x values (1)":           true,
		"WITH x AS (SELECT 1) SELECT * FROM x": true,
		"select":                               false,
		"Selected items":                       false,
		"id, name, created_at":                 false,
		"DELETE":                               false,
		"update your settings":                 true, // looks like SQL; it names no table it knows, so it costs nothing
		"":                                     false,
		"CREATE TABLE x (id int)":              false,
	} {
		if got := isStatement(s); got != want {
			t.Errorf("isStatement(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestAnalyzeSetOperations(t *testing.T) {
	for _, tc := range []struct {
		name, sql, bad string
	}{
		{"union branch unfiltered", `SELECT id FROM bookings WHERE tenant_id = $1 UNION SELECT id FROM services`, "services: no tenant_id"},
		{"union both filtered", `SELECT id FROM bookings WHERE tenant_id = $1 UNION ALL SELECT id FROM services WHERE tenant_id = $1`, ""},
		{"alias reused across branches", `SELECT b.id FROM bookings b WHERE b.tenant_id = $1 UNION ALL SELECT b.id FROM services b`, "services b"},
		{"outer reference from a sub-select", `SELECT v.id FROM invoices v WHERE EXISTS (SELECT 1 FROM invoice_items i WHERE i.tenant_id = $1 AND v.tenant_id = $1 AND i.invoice_id = v.id)`, ""},
		{"inner alias does not bind outside", `SELECT i.id FROM invoice_items i WHERE EXISTS (SELECT 1 FROM invoices i WHERE i.tenant_id = $1)`, "invoice_items i"},
		{"subquery union", `SELECT * FROM (SELECT id FROM bookings WHERE tenant_id = $1 EXCEPT SELECT id FROM services) x`, "services: no tenant_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Analyze(tc.sql, testTables, "tenant_id")
			var details []string
			for _, p := range a.Problems {
				details = append(details, p.Detail)
			}
			got := strings.Join(details, "; ")
			if tc.bad == "" && got != "" {
				t.Errorf("problems %q, want none", got)
			}
			if tc.bad != "" && !strings.Contains(got, tc.bad) {
				t.Errorf("problems %q, want one containing %q", got, tc.bad)
			}
		})
	}
}
