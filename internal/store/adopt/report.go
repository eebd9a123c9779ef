package adopt

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/jackc/pgx/v5"

	"tenantd/internal/store/catalog"
)

// NullCount is one line of `tenantd report nulls`.
type NullCount struct {
	Table string
	Rows  int64
	Nulls int64
	// Estimated is set when the rows are hidden from the owner by forced row level security
	// and Rows is the planner's estimate; the column is then NOT NULL, so Nulls is exact.
	Estimated   bool
	Quarantined int64 // rows of the table in the quarantine
}

// Percent is the share of rows without a tenant.
func (n NullCount) Percent() float64 {
	if n.Rows <= 0 {
		return 0
	}
	return 100 * float64(n.Nulls) / float64(n.Rows)
}

// ReportNulls counts, per mapped table, the rows and the rows whose tenant is NULL.
func ReportNulls(ctx context.Context, url string, m *Map) ([]NullCount, error) {
	conn, err := connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	snap, err := catalog.Load(ctx, conn, m.Schema)
	if err != nil {
		return nil, err
	}
	b, err := m.bind(snap)
	if err != nil {
		return nil, err
	}
	counts, err := countNulls(ctx, conn, b, false)
	if err != nil {
		return nil, err
	}
	ok, err := stateExists(ctx, conn)
	if err != nil || !ok {
		return counts, err
	}
	rows, err := conn.Query(ctx, `SELECT table_name, count(*) FROM tenantd_adopt.quarantine WHERE table_schema = $1 GROUP BY 1`, m.Schema)
	if err != nil {
		return nil, err
	}
	q := map[string]int64{}
	var name string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&name, &n}, func() error { q[name] = n; return nil }); err != nil {
		return nil, err
	}
	for i, bt := range b.tables {
		counts[i].Quarantined = q[bt.Table.Table]
	}
	return counts, nil
}

// countNulls counts every mapped table in map order. With onlyNulls it skips the row count and
// the NOT NULL tables (the harden gate needs only the NULLs).
func countNulls(ctx context.Context, conn *pgx.Conn, b *bound, onlyNulls bool) ([]NullCount, error) {
	var out []NullCount
	for _, bt := range b.tables {
		nc := NullCount{Table: bt.name.String()}
		col := bt.cat.Column(bt.TenantColumn)
		T := bt.name.Quoted()
		switch {
		case col.NotNull && onlyNulls:
		case col.NotNull && bt.cat.Force:
			nc.Estimated = true
			if err := conn.QueryRow(ctx, `SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = $1`, bt.cat.OID).Scan(&nc.Rows); err != nil {
				return nil, err
			}
		case col.NotNull:
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+T).Scan(&nc.Rows); err != nil {
				return nil, fmt.Errorf("count %s: %w", bt.name, err)
			}
		case bt.cat.Force:
			return nil, fmt.Errorf("%s: row level security is forced while %s is still nullable, so the owner cannot see the rows to count them; disable FORCE until the backfill is done",
				bt.name, catalog.Ident(bt.TenantColumn))
		default:
			q := `SELECT count(*), count(*) FILTER (WHERE ` + catalog.Ident(bt.TenantColumn) + ` IS NULL) FROM ` + T
			if err := conn.QueryRow(ctx, q).Scan(&nc.Rows, &nc.Nulls); err != nil {
				return nil, fmt.Errorf("count %s: %w", bt.name, err)
			}
		}
		out = append(out, nc)
	}
	return out, nil
}

// PrintNulls writes the NULL report as a table with a total line.
func PrintNulls(w io.Writer, counts []NullCount) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tROWS\tNULL TENANT\tPERCENT\tQUARANTINED\t")
	var rows, nulls, quar int64
	for _, c := range counts {
		r := fmt.Sprint(c.Rows)
		if c.Estimated {
			r = "~" + r
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f%%\t%d\t\n", c.Table, r, c.Nulls, c.Percent(), c.Quarantined)
		rows, nulls, quar = rows+c.Rows, nulls+c.Nulls, quar+c.Quarantined
	}
	total := NullCount{Rows: rows, Nulls: nulls}
	fmt.Fprintf(tw, "total\t%d\t%d\t%.2f%%\t%d\t\n", rows, nulls, total.Percent(), quar)
	return tw.Flush()
}

// QuarantinedRow is one row the backfill could not decide.
type QuarantinedRow struct {
	Table      string
	Key        string // the row's key as JSON
	Reason     string // unresolved, conflict or duplicate
	Detail     string
	Candidates string // JSON: rule name -> tenants it yielded
}

// QuarantineCount is the number of quarantined rows of one table for one reason.
type QuarantineCount struct {
	Table  string
	Reason string
	Rows   int64
}

// QuarantineReport lists the quarantine: counts per table and reason, and up to limit rows.
type QuarantineReport struct {
	Counts []QuarantineCount
	Rows   []QuarantinedRow
}

// Quarantine reads the quarantine left by the latest backfill runs.
func Quarantine(ctx context.Context, url string, limit int) (*QuarantineReport, error) {
	conn, err := connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rep := &QuarantineReport{}
	ok, err := stateExists(ctx, conn)
	if err != nil || !ok {
		return rep, err
	}
	rows, err := conn.Query(ctx, `SELECT table_name, reason, count(*) FROM tenantd_adopt.quarantine GROUP BY 1, 2 ORDER BY 1, 2`)
	if err != nil {
		return nil, err
	}
	var c QuarantineCount
	if _, err := pgx.ForEachRow(rows, []any{&c.Table, &c.Reason, &c.Rows}, func() error {
		rep.Counts = append(rep.Counts, c)
		return nil
	}); err != nil {
		return nil, err
	}
	rep.Rows, err = readQuarantine(ctx, conn, `SELECT table_name, row_key::text, reason, detail, candidates::text
		FROM tenantd_adopt.quarantine ORDER BY table_name, reason, row_key LIMIT $1`, limit)
	return rep, err
}

func readQuarantine(ctx context.Context, conn *pgx.Conn, q string, args ...any) ([]QuarantinedRow, error) {
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var out []QuarantinedRow
	var r QuarantinedRow
	_, err = pgx.ForEachRow(rows, []any{&r.Table, &r.Key, &r.Reason, &r.Detail, &r.Candidates}, func() error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// PrintQuarantine writes the quarantine report.
func PrintQuarantine(w io.Writer, rep *QuarantineReport) error {
	if len(rep.Counts) == 0 {
		_, err := fmt.Fprintln(w, "quarantine: empty")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tREASON\tROWS")
	var total int64
	for _, c := range rep.Counts {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", c.Table, c.Reason, c.Rows)
		total += c.Rows
	}
	fmt.Fprintf(tw, "total\t\t%d\n", total)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Rows) > 0 {
		fmt.Fprintln(w)
		if err := PrintQuarantinedRows(w, rep.Rows); err != nil {
			return err
		}
		if int64(len(rep.Rows)) < total {
			fmt.Fprintf(w, "... %d more; all rows, with a copy of each, are in %s.quarantine\n", total-int64(len(rep.Rows)), StateSchema)
		}
	}
	return nil
}

// PrintQuarantinedRows lists rows with their reason and what each rule yielded.
func PrintQuarantinedRows(w io.Writer, rows []QuarantinedRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tKEY\tREASON\tRULES YIELDED")
	for _, r := range rows {
		detail := r.Candidates
		if r.Detail != "" {
			detail = r.Detail
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Table, r.Key, r.Reason, detail)
	}
	return tw.Flush()
}

// PrintBackfill writes a run's summary.
func PrintBackfill(w io.Writer, r *BackfillResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tNULL ROWS SEEN\tRESOLVED\tCONFLICT\tUNRESOLVED\tDUPLICATE\tSECONDS\t")
	for _, t := range append(append([]TableResult{}, r.Tables...), r.Totals()) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%.1f\t\n", t.Table, t.Scanned, t.Resolved, t.Conflicts, t.Unresolved, t.Duplicates, t.Elapsed.Seconds())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verb := "decided"
	if r.DryRun {
		verb = "would decide (dry run: nothing written)"
	}
	resumed := ""
	if r.Resumed {
		resumed = fmt.Sprintf(", resumed run %d", r.RunID)
	}
	_, err := fmt.Fprintf(w, "\n%s %d rows in %.1fs (%.0f rows/s), %d batches, longest batch %s, %d retries%s\n",
		verb, r.Processed, r.Elapsed.Seconds(), r.RowsPerSecond(), r.Batches, r.LongestBatch.Round(100_000), r.Retries, resumed)
	return err
}
