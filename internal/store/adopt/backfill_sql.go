package adopt

import (
	"fmt"
	"slices"
	"strings"

	"tenantd/internal/store/catalog"
)

// stmtMode selects the variant of a table's batch statement.
type stmtMode struct {
	dry bool // record decisions in session-local tables instead of writing
	// strict holds back a row while one of its rules reaches a still unresolved row of the
	// same cycle of tables: that row may yet be resolved, and deciding now would be a guess.
	strict bool
	// quarantine copies undecidable rows (no tenant, or conflicting tenants) to the quarantine.
	quarantine bool
	after      bool // continue after a keyset bound
}

// args collects positional parameters while SQL is assembled, so no value is ever spliced.
type args struct{ vals []any }

func (a *args) add(v any) string {
	a.vals = append(a.vals, v)
	return fmt.Sprintf("$%d", len(a.vals))
}

func quoteAll(prefix string, cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		if prefix == "" {
			out[i] = catalog.Ident(c)
		} else {
			out[i] = prefix + "." + catalog.Ident(c)
		}
	}
	return out
}

// row renders a row value: a single expression bare, several in parentheses.
func row(exprs []string) string {
	if len(exprs) == 1 {
		return exprs[0]
	}
	return "(" + strings.Join(exprs, ", ") + ")"
}

// dryName is the session-local table where a dry run records the tenant it would have set.
func dryName(bt *boundTable) string {
	return catalog.Ident("pg_temp", "tenantd_dry_"+fmt.Sprint(bt.index))
}

// keysetBound renders "(t.k1, t.k2) > (bound)" with the bound decoded from the checkpoint's
// JSON by jsonb_populate_record over the table's own row type, so keys of any type round-trip
// without the toolkit naming a type. Each key column is its own scalar sub-select, which the
// planner turns into an index condition.
func keysetBound(bt *boundTable, alias string, a *args, after string) string {
	p := a.add(after)
	var bounds []string
	for _, k := range bt.key {
		bounds = append(bounds, keyFromJSON(bt, k, p))
	}
	return row(quoteAll(alias, bt.key)) + " > " + row(bounds)
}

// keyFromJSON renders key column col's value taken from the JSON object in parameter param,
// typed by the table's own row type. Identifiers are quoted; the JSON is a parameter.
func keyFromJSON(bt *boundTable, col, param string) string {
	return fmt.Sprintf("(SELECT p.%s FROM jsonb_populate_record(NULL::%s, %s::jsonb) AS p)", catalog.Ident(col), bt.name.Quoted(), param)
}

// batchSQL builds the one statement that handles a batch of rows with a NULL tenant: pick the
// next rows in key order, evaluate every rule for each, and in the same statement write the
// tenant of rows whose yielding rules agree (set-based, one UPDATE ... FROM per batch) and copy
// the undecidable ones to the quarantine. It returns the row count, the last key, and the
// counts of resolved, conflicting, unresolved and duplicate rows.
func (e *engine) batchSQL(bt *boundTable, mode stmtMode, after string, limit int) (string, []any) {
	a := &args{}
	T := bt.name.Quoted()
	c := catalog.Ident(bt.TenantColumn)

	// Columns the batch carries: the key and the per-tenant unique keys' columns, then every
	// first-hop column.
	cols := carried(bt)
	var firstHop []string
	for _, r := range bt.rules {
		for _, f := range r.hops[0].from {
			if !slices.Contains(cols, f) {
				cols = append(cols, f)
			}
			if !slices.Contains(firstHop, f) {
				firstHop = append(firstHop, f)
			}
		}
	}
	var q strings.Builder
	q.WriteString("WITH batch AS MATERIALIZED (SELECT ")
	q.WriteString(strings.Join(quoteAll("t", cols), ", "))
	q.WriteString(" FROM " + T + " AS t WHERE t." + c + " IS NULL")
	if mode.dry {
		q.WriteString(" AND NOT EXISTS (SELECT FROM " + dryName(bt) + " AS d WHERE " +
			row(quoteAll("d", bt.key)) + " = " + row(quoteAll("t", bt.key)) + ")")
	}
	if mode.after {
		q.WriteString(" AND " + keysetBound(bt, "t", a, after))
	}
	q.WriteString(" ORDER BY " + strings.Join(quoteAll("t", bt.key), ", "))
	q.WriteString(" LIMIT " + a.add(limit) + ")")

	// Each rule yields a representative tenant (tenantd_yN), what the quarantine shows
	// (tenantd_cN), whether it reached several tenants, and whether it reached a row whose
	// tenant is still unknown. A path through unique keys is a chain of LEFT JOINs, which the
	// planner runs as index lookups; a path through a non-unique key (several rows may match)
	// is a lateral sub-select collecting the distinct tenants it reaches.
	var joins, sel, ys, cands, multis, pends []string
	for i, r := range bt.rules {
		n := i + 1
		var y, cand, pend string
		if r.unique() {
			prev := "b"
			for j, h := range r.hops {
				alias := fmt.Sprintf("r%dh%d", n, j+1)
				joins = append(joins, " LEFT JOIN "+h.to.Quoted()+" AS "+alias+" ON "+row(quoteAll(alias, h.key))+" = "+row(quoteAll(prev, h.from)))
				prev = alias
			}
			y = prev + "." + catalog.Ident(r.yield)
			if mode.dry && r.final != nil {
				dry := fmt.Sprintf("r%dd", n)
				joins = append(joins, " LEFT JOIN "+dryName(r.final)+" AS "+dry+" ON "+row(quoteAll(dry, r.final.key))+" = "+row(quoteAll(prev, r.final.key)))
				y = "coalesce(" + y + ", " + dry + "." + catalog.Ident(r.yield) + ")"
			}
			cand = y
			last := r.hops[len(r.hops)-1]
			pend = "(" + prev + "." + catalog.Ident(last.key[0]) + " IS NOT NULL AND " + y + " IS NULL)"
		} else {
			var from strings.Builder
			for j, h := range r.hops {
				alias := fmt.Sprintf("h%d", j+1)
				tbl := h.to.Quoted() + " AS " + alias
				if j == 0 {
					from.WriteString(tbl)
					continue
				}
				from.WriteString(" JOIN " + tbl + " ON " + row(quoteAll(alias, h.key)) + " = " + row(quoteAll(fmt.Sprintf("h%d", j), h.from)))
			}
			last := fmt.Sprintf("h%d", len(r.hops))
			yield := last + "." + catalog.Ident(r.yield)
			if mode.dry && r.final != nil {
				from.WriteString(" LEFT JOIN " + dryName(r.final) + " AS hd ON " +
					row(quoteAll("hd", r.final.key)) + " = " + row(quoteAll(last, r.final.key)))
				yield = "coalesce(" + yield + ", hd." + catalog.Ident(r.yield) + ")"
			}
			where := row(quoteAll("h1", r.hops[0].key)) + " = " + row(quoteAll("b", r.hops[0].from))
			joins = append(joins, fmt.Sprintf(
				" LEFT JOIN LATERAL (SELECT array_agg(DISTINCT y.v) FILTER (WHERE y.v IS NOT NULL) AS ts, bool_or(y.v IS NULL) AS pend"+
					" FROM (SELECT %s AS v FROM %s WHERE %s) AS y) AS r%d ON true", yield, from.String(), where, n))
			y = fmt.Sprintf("r%d.ts[1]", n)
			cand = fmt.Sprintf("r%d.ts", n)
			multis = append(multis, fmt.Sprintf("coalesce(cardinality(r%d.ts) > 1, false)", n))
			pend = fmt.Sprintf("coalesce(r%d.pend, false)", n)
		}
		sel = append(sel, fmt.Sprintf("%s AS tenantd_y%d, %s AS tenantd_c%d", y, n, cand, n))
		ys = append(ys, fmt.Sprintf("tenantd_y%d", n))
		if mode.strict && r.final != nil && r.final.comp == bt.comp {
			pends = append(pends, pend)
		}
	}
	orFalse := func(xs []string) string {
		if len(xs) == 0 {
			return "false"
		}
		return "(" + strings.Join(xs, " OR ") + ")"
	}
	q.WriteString(", rules AS (SELECT b.*")
	for _, x := range sel {
		q.WriteString(", " + x)
	}
	q.WriteString(", " + orFalse(multis) + " AS tenantd_multi, " + orFalse(pends) + " AS tenantd_pend FROM batch AS b" + strings.Join(joins, "") + ")")
	// The row's tenant is the one its yielding rules agree on; it conflicts when a rule reached
	// several tenants or two rules reached different ones.
	checkUniques := len(bt.rules) > 0 && len(bt.uniques) > 0
	agreed := "decided"
	if checkUniques {
		agreed = "agreed"
	}
	if len(ys) > 0 {
		v := "coalesce(" + strings.Join(ys, ", ") + ")"
		var diff []string
		for _, y := range ys {
			diff = append(diff, "coalesce("+y+" <> "+v+", false)")
		}
		q.WriteString(", " + agreed + " AS MATERIALIZED (SELECT x.*, " + v + " AS tenantd_v, (tenantd_multi OR " + strings.Join(diff, " OR ") +
			") AS tenantd_conflict FROM rules AS x)")
	} else {
		q.WriteString(", decided AS MATERIALIZED (SELECT x.*, NULL AS tenantd_v, false AS tenantd_conflict FROM rules AS x)")
	}

	keyMatch := func(x, y string) string { return row(quoteAll(x, bt.key)) + " = " + row(quoteAll(y, bt.key)) }
	// agree: the row's rules name one tenant and the row may take it now.
	agree := func(alias string) string {
		s := alias + ".tenantd_v IS NOT NULL AND NOT " + alias + ".tenantd_conflict"
		if mode.strict {
			s += " AND NOT " + alias + ".tenantd_pend"
		}
		return s
	}
	decidable := agree("d")
	if checkUniques {
		e.uniquesSQL(&q, a, bt, mode, agree)
		decidable += " AND d.tenantd_dup IS NULL"
	}
	switch {
	case len(bt.rules) == 0:
		q.WriteString(", upd AS (SELECT 1 WHERE false)")
	case mode.dry:
		q.WriteString(", upd AS (INSERT INTO " + dryName(bt) + " (" + catalog.IdentList(append(carried(bt), bt.TenantColumn)) +
			") SELECT " + strings.Join(quoteAll("d", carried(bt)), ", ") + ", d.tenantd_v FROM decided AS d WHERE " + decidable + " RETURNING 1)")
	default:
		// A writer may have given the row a tenant or changed a reference since the batch was
		// read; the re-check under the row lock then skips it rather than apply a stale
		// decision.
		recheck := ""
		for _, f := range firstHop {
			recheck += " AND t." + catalog.Ident(f) + " IS NOT DISTINCT FROM d." + catalog.Ident(f)
		}
		q.WriteString(", upd AS (UPDATE " + T + " AS t SET " + c + " = d.tenantd_v FROM decided AS d WHERE " +
			keyMatch("t", "d") + " AND t." + c + " IS NULL" + recheck + " AND " + decidable + " RETURNING 1)")
	}
	if mode.quarantine {
		rowKey := "(SELECT to_jsonb(k) FROM (SELECT " + strings.Join(quoteAll("d", bt.key), ", ") + ") AS k)"
		reason := "CASE WHEN d.tenantd_conflict THEN 'conflict' ELSE 'unresolved' END"
		undecided := "(d.tenantd_v IS NULL OR d.tenantd_conflict)"
		detail := "''::text"
		if checkUniques {
			reason = "CASE WHEN d.tenantd_conflict THEN 'conflict' WHEN d.tenantd_v IS NULL THEN 'unresolved' ELSE 'duplicate' END"
			undecided = "(d.tenantd_v IS NULL OR d.tenantd_conflict OR d.tenantd_dup IS NOT NULL)"
			detail = "coalesce(d.tenantd_dup, '')"
		}
		for i, r := range bt.rules {
			cands = append(cands, a.add(r.name)+"::text", fmt.Sprintf("d.tenantd_c%d", i+1))
		}
		candidates := "jsonb_strip_nulls(jsonb_build_object(" + strings.Join(cands, ", ") + "))"
		if mode.dry {
			q.WriteString(", q AS (INSERT INTO pg_temp.tenantd_dry_quarantine (table_name, row_key, reason, detail, candidates) SELECT " +
				a.add(bt.name.Table) + "::text, " + rowKey + ", " + reason + ", " + detail + ", " + candidates +
				" FROM decided AS d WHERE " + undecided +
				" ON CONFLICT (table_name, row_key) DO UPDATE SET reason = EXCLUDED.reason, detail = EXCLUDED.detail, candidates = EXCLUDED.candidates RETURNING reason)")
		} else {
			rowData := "(SELECT to_jsonb(t) FROM " + T + " AS t WHERE " + keyMatch("t", "d") + ")"
			q.WriteString(", q AS (INSERT INTO tenantd_adopt.quarantine (table_schema, table_name, row_key, run_id, reason, detail, candidates, row_data) SELECT " +
				a.add(bt.name.Schema) + "::text, " + a.add(bt.name.Table) + "::text, " + rowKey + ", " + a.add(e.runID) + "::bigint, " +
				reason + ", " + detail + ", " + candidates + ", " + rowData + " FROM decided AS d WHERE " + undecided +
				" ON CONFLICT (table_schema, table_name, row_key) DO UPDATE SET run_id = EXCLUDED.run_id, reason = EXCLUDED.reason," +
				" detail = EXCLUDED.detail, candidates = EXCLUDED.candidates, row_data = EXCLUDED.row_data, quarantined_at = now() RETURNING reason)")
		}
	} else {
		q.WriteString(", q AS (SELECT NULL::text AS reason WHERE false)")
	}
	desc := make([]string, len(bt.key))
	for i, k := range quoteAll("b", bt.key) {
		desc[i] = k + " DESC"
	}
	q.WriteString(" SELECT (SELECT count(*) FROM batch)," +
		" (SELECT to_jsonb(x)::text FROM (SELECT " + strings.Join(quoteAll("b", bt.key), ", ") + " FROM batch AS b ORDER BY " + strings.Join(desc, ", ") + " LIMIT 1) AS x)," +
		" (SELECT count(*) FROM upd)," +
		" (SELECT count(*) FROM q WHERE reason = 'conflict')," +
		" (SELECT count(*) FROM q WHERE reason = 'unresolved')," +
		" (SELECT count(*) FROM q WHERE reason = 'duplicate')")
	return q.String(), a.vals
}

// carried lists the columns a batch reads of each row besides its first-hop columns: the key,
// then the columns of the per-tenant unique keys that are not part of it. A dry run records
// the same columns of a row it resolves.
func carried(bt *boundTable) []string {
	cols := slices.Clone(bt.key)
	for _, k := range bt.uniques {
		for _, col := range k {
			if !slices.Contains(cols, col) {
				cols = append(cols, col)
			}
		}
	}
	return cols
}

// describeUnique renders a per-tenant unique key for the quarantine's detail: its columns and
// what kind of key it is.
func describeUnique(bt *boundTable, k []string) (cols, kind string) {
	cols = "(" + catalog.IdentList(append([]string{bt.TenantColumn}, k...)) + ")"
	if len(k) == 0 {
		return cols, "singleton: one row per tenant"
	}
	return cols, "unique per tenant"
}

// uniquesSQL writes the CTEs that end in "decided": the rows of "agreed" with tenantd_dup,
// which is NULL unless the tenant the row's rules agree on must not be set because a per-tenant
// unique key (bt.uniques) would then be held twice — by a row that already has the tenant (for
// a dry run, also a row the run resolved), or by a row of this batch that comes first in key
// order and takes it. tenantd_dup then names the key, its values and the row that keeps them.
//
// A unique index may enforce the key already, but harden builds a singleton's only later; the
// check does not depend on it. Where an index can find a tenant's rows, each row's key is
// probed through it; where none can, the rows of the batch's tenants are found with one scan of
// the table per batch (hashed, so the cost does not grow with the batch) and looked up in a
// JSON object built from it. The batch's own rows are ranked with a window over the batch (a
// sort, no join). Everything stays inside the batch's one statement and locks nothing more.
//
// With several keys the ranking errs on the safe side: a row that comes second for one key is
// quarantined even when the row ahead of it loses another key and stays NULL too; the next run
// resolves it.
func (e *engine) uniquesSQL(q *strings.Builder, a *args, bt *boundTable, mode stmtMode, agree func(alias string) string) {
	T := bt.name.Quoted()
	c := catalog.Ident(bt.TenantColumn)
	keyJSON := func(alias string) string {
		var parts []string
		for _, k := range bt.key {
			parts = append(parts, a.add(k)+"::text", alias+"."+catalog.Ident(k))
		}
		return "jsonb_build_object(" + strings.Join(parts, ", ") + ")::text"
	}
	keyOrder := func(alias string) string { return strings.Join(quoteAll(alias, bt.key), ", ") }
	match := func(o, d string, k []string) string {
		s := o + "." + c + " = " + d + ".tenantd_v"
		for _, col := range k {
			s += " AND " + o + "." + catalog.Ident(col) + " = " + d + "." + catalog.Ident(col)
		}
		return s
	}
	values := func(d string, k []string) string {
		return "ROW(" + strings.Join(append([]string{d + ".tenantd_v"}, quoteAll(d, k)...), ", ") + ")::text"
	}
	// probe finds the lowest key of a row of table that holds k, row by row.
	probe := func(table string, k []string) string {
		return "(SELECT " + keyJSON("o") + " FROM " + table + " AS o WHERE " + match("o", "d", k) + " ORDER BY " + keyOrder("o") + " LIMIT 1)"
	}
	var holders, held, ranks, windows, dups []string
	for i, k := range bt.uniques {
		n := i + 1
		cols, kind := describeUnique(bt, k)
		desc, what := a.add(cols)+"::text", a.add(kind)+"::text"
		var first string
		if indexedUnique(bt, k) {
			first = probe(T, k)
		} else {
			// One scan per batch: the rows of the batch's tenants that hold a key, as an
			// object from [tenant, key values...] to the lowest row key. The IN sits in an
			// expression, so it is not turned into a join but hashed.
			parts := append([]string{"o." + c}, quoteAll("o", k)...)
			notNull := ""
			for _, x := range quoteAll("o", k) {
				notNull += " AND " + x + " IS NOT NULL"
			}
			q.WriteString(fmt.Sprintf(", tenantd_hold%d AS MATERIALIZED (SELECT jsonb_object_agg(x.k, x.h) AS m FROM (SELECT DISTINCT ON (1) jsonb_build_array(%s)::text AS k, %s AS h FROM %s AS o WHERE o.%s IS NOT NULL%s AND coalesce(o.%s IN (SELECT a.tenantd_v FROM agreed AS a WHERE %s), false) ORDER BY 1, %s) AS x)",
				n, strings.Join(parts, ", "), keyJSON("o"), T, c, notNull, c, agree("a"), keyOrder("o")))
			first = fmt.Sprintf("((SELECT m FROM tenantd_hold%d) ->> jsonb_build_array(%s)::text)", n, strings.Join(append([]string{"d.tenantd_v"}, quoteAll("d", k)...), ", "))
		}
		if mode.dry {
			// The rows the dry run resolved hold keys too (its table is indexed by tenant).
			first = "coalesce(" + first + ", " + probe(dryName(bt), k) + ")"
		}
		holders = append(holders, fmt.Sprintf(", CASE WHEN %s THEN %s END AS tenantd_holder%d", agree("d"), first, n))
		held = append(held, fmt.Sprintf(" WHEN p.tenantd_holder%d IS NOT NULL THEN format('%%s = %%s is already held by row %%s (%%s)', %s, %s, p.tenantd_holder%d, %s)",
			n, desc, values("p", k), n, what))

		// Only rows that would take their tenant compete; a NULL key column never collides.
		eligible := "w.tenantd_held IS NULL AND " + agree("w")
		for _, col := range k {
			eligible += " AND w." + catalog.Ident(col) + " IS NOT NULL"
		}
		win := fmt.Sprintf("tenantd_w%d", n)
		windows = append(windows, win+" AS (PARTITION BY ("+eligible+"), "+strings.Join(append([]string{"w.tenantd_v"}, quoteAll("w", k)...), ", ")+
			" ORDER BY "+keyOrder("w")+")")
		ranks = append(ranks, fmt.Sprintf(", CASE WHEN %s THEN row_number() OVER %s END AS tenantd_rank%d, first_value(%s) OVER %s AS tenantd_first%d",
			eligible, win, n, keyJSON("w"), win, n))
		dups = append(dups, fmt.Sprintf(" WHEN h.tenantd_rank%d > 1 THEN format('%%s = %%s goes to row %%s, first in key order (%%s)', %s, %s, h.tenantd_first%d, %s)",
			n, desc, values("h", k), n, what))
	}
	// OFFSET 0 keeps the sub-select whole: each lookup runs once per row, not once per use.
	q.WriteString(", held AS MATERIALIZED (SELECT p.*, CASE" + strings.Join(held, "") + " END AS tenantd_held FROM (SELECT d.*" +
		strings.Join(holders, "") + " FROM agreed AS d OFFSET 0) AS p)")
	q.WriteString(", decided AS MATERIALIZED (SELECT h.*, CASE WHEN h.tenantd_held IS NOT NULL THEN h.tenantd_held" + strings.Join(dups, "") +
		" END AS tenantd_dup FROM (SELECT w.*" + strings.Join(ranks, "") + " FROM held AS w WINDOW " + strings.Join(windows, ", ") + ") AS h)")
}

// indexedUnique reports whether an index of the table can find the rows holding per-tenant
// key k: one whose first column is the tenant or a column of k.
func indexedUnique(bt *boundTable, k []string) bool {
	for _, ix := range bt.cat.Indexes {
		if ix.Valid && !ix.Partial && len(ix.Columns) > 0 && (ix.Columns[0] == bt.TenantColumn || (ix.Columns[0] != "" && slices.Contains(k, ix.Columns[0]))) {
			return true
		}
	}
	return false
}

// nextKeySQL finds the key of the next row with a NULL tenant after a bound (used when a batch
// must be replayed row by row).
func nextKeySQL(bt *boundTable, after string) (string, []any) {
	a := &args{}
	T := bt.name.Quoted()
	q := "SELECT to_jsonb(x)::text FROM (SELECT " + strings.Join(quoteAll("t", bt.key), ", ") + " FROM " + T +
		" AS t WHERE t." + catalog.Ident(bt.TenantColumn) + " IS NULL"
	if after != "" {
		q += " AND " + keysetBound(bt, "t", a, after)
	}
	q += " ORDER BY " + strings.Join(quoteAll("t", bt.key), ", ") + " LIMIT 1) AS x"
	return q, a.vals
}

// quarantineOneSQL copies one row to the quarantine as a duplicate: its rules agree, but the
// tenant they name already has a row with the same per-tenant unique key (a second settings
// row of a singleton, say), so setting it would fail.
func (e *engine) quarantineOneSQL(bt *boundTable, key, detail string) (string, []any) {
	a := &args{}
	T := bt.name.Quoted()
	var bounds []string
	k := a.add(key)
	for _, col := range bt.key {
		bounds = append(bounds, keyFromJSON(bt, col, k))
	}
	q := "INSERT INTO tenantd_adopt.quarantine (table_schema, table_name, row_key, run_id, reason, detail, row_data) SELECT " +
		a.add(bt.name.Schema) + "::text, " + a.add(bt.name.Table) + "::text, " + k + "::jsonb, " + a.add(e.runID) + "::bigint, 'duplicate', " +
		a.add(detail) + "::text, to_jsonb(t) FROM " + T + " AS t WHERE " + row(quoteAll("t", bt.key)) + " = " + row(bounds) +
		" ON CONFLICT (table_schema, table_name, row_key) DO UPDATE SET run_id = EXCLUDED.run_id, reason = EXCLUDED.reason," +
		" detail = EXCLUDED.detail, candidates = '{}', row_data = EXCLUDED.row_data, quarantined_at = now()"
	return q, a.vals
}
