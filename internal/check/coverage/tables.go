package coverage

import (
	"context"
	"io/fs"
	"path"
	"sort"
	"strings"

	"tenantd/internal/store/catalog"
)

// TenantTablesFromMigrations reads the tenant-owned tables from goose SQL migrations (every
// .sql file under fsys, in name order): a table is tenant-owned when one of its columns is
// col, whether created with it or given it by a later ALTER TABLE. Only the Up sections count;
// a table dropped by a later migration is removed.
func TenantTablesFromMigrations(fsys fs.FS, col string) ([]string, error) {
	if col == "" {
		col = "tenant_id"
	}
	var names []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && path.Ext(p) == ".sql" {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(names, func(i, j int) bool { return path.Base(names[i]) < path.Base(names[j]) })
	owned := map[string]bool{}
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		up := string(b)
		if i := strings.Index(up, "-- +goose Down"); i >= 0 {
			up = up[:i]
		}
		scanMigration(up, col, owned)
	}
	var out []string
	for t, ok := range owned {
		if ok {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out, nil
}

func scanMigration(sql, col string, owned map[string]bool) {
	st := parseStatement(sql)
	n := len(st.toks)
	name := func(i int) (string, int) {
		for st.word(i, "if", "not", "exists", "only") {
			i++
		}
		if i >= n || st.toks[i].kind != tokWord {
			return "", i
		}
		t := st.toks[i].text
		for st.punct(i+1, ".") && i+2 < n {
			i += 2
			t = st.toks[i].text
		}
		return t, i + 1
	}
	for i := 0; i < n; i++ {
		switch {
		case st.word(i, "create") && st.word(i+1, "table"), st.word(i, "create") && st.word(i+2, "table"):
			j := i + 2
			if !st.word(i+1, "table") {
				j = i + 3 // CREATE UNLOGGED/TEMP TABLE
			}
			t, k := name(j)
			if t == "" || !st.punct(k, "(") {
				continue
			}
			has := false
			for _, item := range st.splitList(k+1, st.close[k]) {
				if st.word(item[0], col) {
					has = true
				}
			}
			owned[t] = has
		case st.word(i, "alter") && st.word(i+1, "table"):
			t, k := name(i + 2)
			if t == "" {
				continue
			}
			for k < n && !st.punct(k, ";") {
				if st.word(k, "add") {
					c := k + 1
					if st.word(c, "column") {
						c++
					}
					for st.word(c, "if", "not", "exists") {
						c++
					}
					if st.word(c, col) {
						owned[t] = true
					}
				}
				if st.word(k, "drop") && (st.word(k+1, col) || st.word(k+1, "column") && st.word(k+2, col)) {
					owned[t] = false
				}
				k++
			}
		case st.word(i, "drop") && st.word(i+1, "table"):
			k := i + 2
			for {
				t, next := name(k)
				if t == "" {
					break
				}
				delete(owned, t)
				if !st.punct(next, ",") {
					break
				}
				k = next + 1
			}
		}
	}
}

// TableStatus is one tenant-owned table's hardening.
type TableStatus struct {
	Name     string
	Hardened bool     // RLS enabled and forced, with a well-formed tenant policy
	Missing  []string // what keeps it from being hardened
	Other    int      // further schema findings (see `tenantd check schema`)
}

// TableReport is the catalog part of the coverage report.
type TableReport struct {
	Tables []TableStatus
	// Global lists database-wide findings that void row level security for every table (the
	// tenant function, the application role).
	Global []catalog.Finding
}

// Hardened counts the hardened tables.
func (r *TableReport) Hardened() int {
	n := 0
	for _, t := range r.Tables {
		if t.Hardened {
			n++
		}
	}
	return n
}

// Names lists the tenant-owned tables.
func (r *TableReport) Names() []string {
	out := make([]string, len(r.Tables))
	for i, t := range r.Tables {
		out[i] = t.Name
	}
	return out
}

// CheckTables audits the migrated catalog at url with the schema audit and reduces it to one
// question per tenant-owned table: is row level security enabled, forced and governed by the
// tenant policy? A finding about the tenant function or the application role (a superuser, a
// BYPASSRLS role, an owner) voids that for every table.
func CheckTables(ctx context.Context, url string) (*TableReport, error) {
	rep, err := catalog.AuditReport(ctx, url, catalog.DefaultOptions())
	if err != nil {
		return nil, err
	}
	return tableReport(rep), nil
}

func tableReport(rep *catalog.Report) *TableReport {
	out := &TableReport{}
	byTable := map[string][]catalog.Finding{}
	for _, f := range rep.Findings {
		if f.Table == "-" {
			if f.Check == catalog.CheckFunction || f.Check == catalog.CheckAppRole {
				out.Global = append(out.Global, f)
			}
			continue
		}
		byTable[f.Table] = append(byTable[f.Table], f)
	}
	for _, name := range rep.Tables {
		ts := TableStatus{Name: name}
		for _, f := range byTable[name] {
			switch f.Check {
			case catalog.CheckTable, catalog.CheckRLS, catalog.CheckForceRLS, catalog.CheckPolicy, catalog.CheckAppRole:
				ts.Missing = append(ts.Missing, f.Check+": "+f.Detail)
			default:
				ts.Other++
			}
		}
		if len(out.Global) > 0 {
			ts.Missing = append(ts.Missing, "database-wide findings void row level security")
		}
		ts.Hardened = len(ts.Missing) == 0
		out.Tables = append(out.Tables, ts)
	}
	return out
}
