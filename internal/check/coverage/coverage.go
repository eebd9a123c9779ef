// Package coverage is `tenantd check coverage`: how much of the system is provably bound to
// one tenant, in three numbers, each of which must be 100%:
//
//   - routes: every route of the route table passes the tenant wrapper with a permission, or
//     is declared public or platform (and public ones stay out of the staff and client trees);
//   - tables: every tenant-owned table of the migrated catalog has row level security enabled
//     and forced, with the tenant policy;
//   - queries: every SQL statement of the store that touches a tenant-owned table filters (or,
//     for inserts, sets) tenant_id from a parameter or the tenant function, in addition to RLS.
//
// The queries are read from the Go sources compiled into the binary, so the report is about
// the very build that runs; the functions take an fs.FS so that tests can feed fixtures.
package coverage

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"text/tabwriter"

	"tenantd/internal/httpapi"
)

// Options says what to cover.
type Options struct {
	Routes          []httpapi.Route
	RouteExceptions []RouteException
	// DatabaseURL is the migrated database to read the catalog from; "" skips the table part
	// (the tenant-owned tables then come from Migrations).
	DatabaseURL string
	// Sources holds the store's Go files at its root; Migrations its SQL migrations.
	Sources    fs.FS
	Migrations fs.FS
	// TenantColumn defaults to tenant_id.
	TenantColumn    string
	QueryExceptions []Exception
}

// Report is the whole coverage report.
type Report struct {
	Routes  *RouteReport
	Tables  *TableReport // nil when no database was given
	Queries *QueryReport
	// TableSource says where the list of tenant-owned tables came from.
	TableSource string
}

// OK reports whether every part that was checked is at 100%.
func (r *Report) OK() bool {
	if r.Routes != nil && len(r.Routes.Findings) > 0 {
		return false
	}
	if r.Tables != nil && (r.Tables.Hardened() < len(r.Tables.Tables) || len(r.Tables.Tables) == 0) {
		return false
	}
	if r.Queries != nil && len(r.Queries.Offenders()) > 0 {
		return false
	}
	return true
}

// Run builds the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	rep := &Report{}
	if o.Routes != nil {
		rep.Routes = CheckRoutes(o.Routes, o.RouteExceptions)
	}
	var tables []string
	if o.DatabaseURL != "" {
		t, err := CheckTables(ctx, o.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		rep.Tables = t
		tables = t.Names()
		rep.TableSource = "the database catalog"
	} else if o.Migrations != nil {
		t, err := TenantTablesFromMigrations(o.Migrations, o.TenantColumn)
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		tables = t
		rep.TableSource = "the embedded migrations"
	}
	if o.Sources != nil {
		if len(tables) == 0 {
			return nil, fmt.Errorf("no tenant-owned tables found in %s", rep.TableSource)
		}
		q, err := ScanSources(o.Sources, tables, o.TenantColumn, o.QueryExceptions)
		if err != nil {
			return nil, fmt.Errorf("sources: %w", err)
		}
		rep.Queries = q
	}
	return rep, nil
}

func pct(n, of int) string {
	if of == 0 {
		return "  -  "
	}
	p := float64(n) * 100 / float64(of)
	if n < of && p > 99.9 {
		p = 99.9 // never round a shortfall up to 100%
	}
	return fmt.Sprintf("%5.1f%%", p)
}

// Print writes the report: a summary table of counts and percentages, then every shortfall
// and every declared exception.
func Print(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AREA\tCOVERED\tOF\tPERCENT\tWHAT")
	if rr := r.Routes; rr != nil {
		fmt.Fprintf(tw, "routes\t%d\t%d\t%s\t%d behind the tenant wrapper with a permission, %d public, %d platform\n",
			rr.Sound(), rr.Total, pct(rr.Sound(), rr.Total), rr.Tenant, rr.Public, rr.Platform)
	}
	if tr := r.Tables; tr != nil {
		fmt.Fprintf(tw, "tables\t%d\t%d\t%s\ttenant-owned tables with RLS enabled, forced and the tenant policy\n",
			tr.Hardened(), len(tr.Tables), pct(tr.Hardened(), len(tr.Tables)))
	} else {
		fmt.Fprintf(tw, "tables\t-\t-\t  -  \tnot checked: no database (tenant-owned tables taken from %s)\n", r.TableSource)
	}
	if qr := r.Queries; qr != nil {
		tenant := qr.Tenant()
		bad := len(qr.Offenders())
		fmt.Fprintf(tw, "queries\t%d\t%d\t%s\tstore statements on tenant-owned tables with a tenant predicate (%d by declared exception; %d statements on global tables only, %d files)\n",
			len(tenant)-bad, len(tenant), pct(len(tenant)-bad, len(tenant)), len(qr.Excepted()), len(qr.Statements)-len(tenant), len(qr.Files))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	section := func(title string) { fmt.Fprintf(w, "\n%s:\n", title) }
	if rr := r.Routes; rr != nil && len(rr.Findings) > 0 {
		section("routes that fall short")
		for _, f := range rr.Findings {
			fmt.Fprintf(w, "  %s: %s\n", f.Route, f.Problem)
		}
	}
	if tr := r.Tables; tr != nil {
		if len(tr.Global) > 0 {
			section("database-wide findings that void row level security")
			for _, f := range tr.Global {
				fmt.Fprintf(w, "  %s: %s\n", f.Check, f.Detail)
			}
		}
		var weak, other []string
		for _, t := range tr.Tables {
			if !t.Hardened {
				weak = append(weak, fmt.Sprintf("  %s: %s", t.Name, strings.Join(t.Missing, "; ")))
			}
			if t.Other > 0 {
				other = append(other, fmt.Sprintf("%s (%d)", t.Name, t.Other))
			}
		}
		if len(weak) > 0 {
			section("tables not hardened")
			fmt.Fprintln(w, strings.Join(weak, "\n"))
		}
		if len(tr.Tables) == 0 {
			section("tables")
			fmt.Fprintln(w, "  no tenant-owned table found in the catalog: is the database migrated?")
		}
		if len(other) > 0 {
			fmt.Fprintf(w, "\nfurther schema findings (run `tenantd check schema`): %s\n", strings.Join(other, ", "))
		}
	}
	if qr := r.Queries; qr != nil {
		if off := qr.Offenders(); len(off) > 0 {
			section("statements on tenant-owned tables without a tenant predicate")
			for _, s := range off {
				fmt.Fprintf(w, "  %s %s\n", s.Pos, s.Func)
				for _, p := range s.Problems {
					fmt.Fprintf(w, "      %s\n", p.Detail)
				}
				fmt.Fprintf(w, "      %s\n", clip(s.SQL, 240))
			}
		}
		if ex := qr.Excepted(); len(ex) > 0 {
			section("declared exceptions")
			for _, s := range ex {
				fmt.Fprintf(w, "  %s %s [%s]: %s\n", s.Pos, s.Func, strings.Join(s.Tables, ", "), s.Exception)
			}
		}
		for _, e := range qr.Stale {
			fmt.Fprintf(w, "\nnote: declared exception %s on %s matched no statement\n", e.Func, e.Table)
		}
	}
	if rr := r.Routes; rr != nil && len(rr.Excepted) > 0 {
		section("accepted routes")
		for _, f := range rr.Excepted {
			fmt.Fprintf(w, "  %s: %s\n", f.Route, f.Problem)
		}
	}
	verdict := "coverage: complete"
	if !r.OK() {
		verdict = "coverage: INCOMPLETE"
	}
	_, err := fmt.Fprintf(w, "\n%s\n", verdict)
	return err
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
