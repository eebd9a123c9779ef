package adopt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"tenantd/internal/store/catalog"
)

// BackfillOptions tune a backfill run.
type BackfillOptions struct {
	// DryRun decides every row exactly as a real run would (parents first, in batches) but
	// records the decisions in session-local tables and writes nothing to the database.
	DryRun bool
	// BatchSize is the number of NULL-tenant rows per batch (default 5000). Each batch is its
	// own short transaction.
	BatchSize int
	// Tables limits the run to these mapped tables. Their parents are not processed, so run
	// the parents first.
	Tables []string
	// Restart abandons an unfinished run instead of resuming it.
	Restart bool
	// LockTimeout bounds how long a batch waits for a row a writer holds (default 2s); the
	// batch is then retried after a back-off.
	LockTimeout time.Duration
	// Retries is how often a batch is retried after a lock timeout or deadlock (default 50).
	Retries int
	// Workers is the number of connections that backfill independent tables at the same
	// time (default 2; a dry run uses one, its decisions live in one session).
	Workers int
	// OnBatch is called after every committed batch (progress bars, tests), never
	// concurrently.
	OnBatch func(BatchProgress)
}

// BatchProgress describes one committed batch.
type BatchProgress struct {
	Table       string
	Rows        int64 // NULL-tenant rows examined
	Resolved    int64
	Quarantined int64
	Elapsed     time.Duration
}

// TableResult sums a table's batches. On a resumed run it includes the batches committed
// before the interruption.
type TableResult struct {
	Table      string
	Scanned    int64 // NULL-tenant rows examined (a row of a cycle is examined once per pass)
	Resolved   int64
	Conflicts  int64
	Unresolved int64
	Duplicates int64
	Elapsed    time.Duration
}

// Quarantined is the number of rows the table sent to the quarantine.
func (t TableResult) Quarantined() int64 { return t.Conflicts + t.Unresolved + t.Duplicates }

// BackfillResult is the summary of a run.
type BackfillResult struct {
	RunID   int64
	Resumed bool
	DryRun  bool
	Tables  []TableResult
	Elapsed time.Duration
	Batches int
	Retries int
	// LongestBatch is the longest batch transaction: the longest any row lock taken by the
	// backfill was held (those locks block only writers of the same NULL-tenant rows).
	LongestBatch time.Duration
	// Sample lists up to three quarantined rows per table and reason (for a dry run, rows
	// that would be quarantined).
	Sample []QuarantinedRow
	// Processed counts the rows decided in this invocation (resolved or quarantined).
	Processed int64
}

// RowsPerSecond is the rate at which this invocation decided rows.
func (r *BackfillResult) RowsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Processed) / r.Elapsed.Seconds()
}

// Totals sums the tables.
func (r *BackfillResult) Totals() TableResult {
	var t TableResult
	t.Table = "total"
	for _, x := range r.Tables {
		t.Scanned += x.Scanned
		t.Resolved += x.Resolved
		t.Conflicts += x.Conflicts
		t.Unresolved += x.Unresolved
		t.Duplicates += x.Duplicates
		t.Elapsed += x.Elapsed
	}
	return t
}

// engine is one backfill run. Workers are shallow copies that differ only in conn; mu guards
// the shared summary.
type engine struct {
	conn    *pgx.Conn
	url     string
	b       *bound
	opts    BackfillOptions
	runID   int64
	mu      *sync.Mutex
	res     *BackfillResult
	results map[*boundTable]*TableResult
}

type batchResult struct {
	rows, resolved, conflicts, unresolved, duplicates int64
	last                                              *string
}

// Backfill sets missing tenants from the map's rules, parents before children, in keyset
// batches of short transactions, and quarantines the rows it cannot decide. It connects as the
// schema owner (the tables are not yet under forced row level security, and the run must see
// every tenant's rows). A killed run resumes from its last committed batch when started again.
func Backfill(ctx context.Context, url string, m *Map, opts BackfillOptions) (*BackfillResult, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 5000
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 2 * time.Second
	}
	if opts.Retries <= 0 {
		opts.Retries = 50
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.DryRun {
		opts.Workers = 1
	}
	conn, err := connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	if err := lockRun(ctx, conn); err != nil {
		return nil, err
	}
	snap, err := catalog.Load(ctx, conn, m.Schema)
	if err != nil {
		return nil, err
	}
	b, err := m.bind(snap)
	if err != nil {
		return nil, err
	}
	scope := map[*boundTable]bool{}
	var scopeNames []string
	for _, name := range opts.Tables {
		bt := b.byName[unquote(name)]
		if bt == nil {
			return nil, fmt.Errorf("table %q is not in the tenancy map", name)
		}
		scope[bt] = true
	}
	for _, bt := range b.tables {
		if len(opts.Tables) == 0 {
			scope[bt] = true
		}
		if scope[bt] {
			scopeNames = append(scopeNames, bt.Table.Table)
		}
	}
	e := &engine{conn: conn, url: url, b: b, opts: opts, mu: &sync.Mutex{}, res: &BackfillResult{DryRun: opts.DryRun}, results: map[*boundTable]*TableResult{}}
	for _, bt := range b.tables {
		if scope[bt] {
			e.results[bt] = &TableResult{Table: bt.name.String()}
		}
	}
	start := time.Now()
	if opts.DryRun {
		if err := e.setupDry(ctx); err != nil {
			return nil, err
		}
	} else {
		if err := ensureState(ctx, conn); err != nil {
			return nil, err
		}
		if err := e.startRun(ctx, scopeNames); err != nil {
			return nil, err
		}
		if err := recordEvent(ctx, conn, snap, m.Schema, "adopt.backfill.start", map[string]any{
			"run": e.runID, "resumed": e.res.Resumed, "tables": scopeNames, "batch_size": opts.BatchSize, "map": m.Digest(),
		}); err != nil {
			return nil, err
		}
	}
	if err := e.schedule(ctx, scope); err != nil {
		return nil, err
	}
	e.res.Elapsed = time.Since(start)
	for _, bt := range b.tables {
		if r := e.results[bt]; r != nil {
			e.res.Tables = append(e.res.Tables, *r)
		}
	}
	if opts.DryRun {
		e.res.Sample, err = readQuarantine(ctx, conn, `SELECT table_name, row_key::text, reason, detail, candidates::text
			FROM (SELECT *, row_number() OVER (PARTITION BY table_name, reason ORDER BY row_key) AS n FROM pg_temp.tenantd_dry_quarantine) AS x
			WHERE n <= 3 ORDER BY table_name, reason, row_key`)
		return e.res, err
	}
	if _, err := conn.Exec(ctx, `UPDATE tenantd_adopt.backfill_runs SET status = 'finished', finished_at = now() WHERE id = $1`, e.runID); err != nil {
		return nil, err
	}
	tot := e.res.Totals()
	if err := recordEvent(ctx, conn, snap, m.Schema, "adopt.backfill.finish", map[string]any{
		"run": e.runID, "resolved": tot.Resolved, "conflicts": tot.Conflicts, "unresolved": tot.Unresolved,
		"duplicates": tot.Duplicates, "seconds": e.res.Elapsed.Seconds(),
	}); err != nil {
		return nil, err
	}
	e.res.Sample, err = readQuarantine(ctx, conn, `SELECT table_name, row_key::text, reason, detail, candidates::text
		FROM (SELECT *, row_number() OVER (PARTITION BY table_name, reason ORDER BY row_key) AS n FROM tenantd_adopt.quarantine WHERE run_id = $1) AS x
		WHERE n <= 3 ORDER BY table_name, reason, row_key`, e.runID)
	return e.res, err
}

// unit is a piece of work one worker does alone: a table, or the tables of a cycle.
type unit struct {
	tables []*boundTable
	cyclic bool
	deps   map[int]bool // units that must finish first
}

// schedule runs the units on up to Workers connections, each unit once the units it reads
// tenants from are done.
func (e *engine) schedule(ctx context.Context, scope map[*boundTable]bool) error {
	var units []*unit
	byComp := map[int]int{}
	for ci, comp := range e.b.order {
		u := &unit{deps: map[int]bool{}}
		for _, bt := range comp {
			if scope[bt] {
				u.tables = append(u.tables, bt)
				u.cyclic = u.cyclic || bt.cyclic
			}
		}
		if len(u.tables) > 0 {
			byComp[ci] = len(units)
			units = append(units, u)
		}
	}
	for i, u := range units {
		for _, bt := range u.tables {
			for _, r := range bt.rules {
				if r.final == nil || !scope[r.final] {
					continue
				}
				if j := byComp[r.final.comp]; j != i {
					u.deps[j] = true
				}
			}
		}
	}
	n := min(e.opts.Workers, len(units))
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle := []*engine{e}
	for len(idle) < n {
		conn, err := connect(ctx, e.url)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		w := *e
		w.conn = conn
		idle = append(idle, &w)
	}
	type result struct {
		unit int
		w    *engine
		err  error
	}
	results := make(chan result)
	done := make([]bool, len(units))
	started := make([]bool, len(units))
	running, finished := 0, 0
	var firstErr error
	for finished < len(units) {
		for i, u := range units {
			if firstErr != nil || started[i] || len(idle) == 0 {
				continue
			}
			ready := true
			for d := range u.deps {
				ready = ready && done[d]
			}
			if !ready {
				continue
			}
			w := idle[len(idle)-1]
			idle = idle[:len(idle)-1]
			started[i] = true
			running++
			go func(i int, u *unit, w *engine) {
				var err error
				if u.cyclic {
					err = w.runCycle(ctx, u.tables)
				} else {
					err = w.runTable(ctx, u.tables[0])
				}
				results <- result{i, w, err}
			}(i, u, w)
		}
		if running == 0 {
			break
		}
		r := <-results
		running--
		finished++
		done[r.unit] = true
		idle = append(idle, r.w)
		if r.err != nil && firstErr == nil {
			firstErr = r.err
			cancel()
		}
	}
	return firstErr
}

// startRun resumes the unfinished run of the same map and tables, or starts a new one. A new
// run clears the quarantine of its tables: the quarantine always describes the latest run.
func (e *engine) startRun(ctx context.Context, tables []string) error {
	var id int64
	var digest string
	var prev []string
	err := e.conn.QueryRow(ctx, `SELECT id, map_digest, tables FROM tenantd_adopt.backfill_runs
		WHERE status = 'running' ORDER BY id DESC LIMIT 1`).Scan(&id, &digest, &prev)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	case !e.opts.Restart && digest == e.b.m.Digest() && slices.Equal(prev, tables):
		e.runID, e.res.RunID, e.res.Resumed = id, id, true
		return nil
	}
	return pgx.BeginFunc(ctx, e.conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE tenantd_adopt.backfill_runs SET status = 'abandoned', finished_at = now() WHERE status = 'running'`); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO tenantd_adopt.backfill_runs (map_digest, tables) VALUES ($1, $2) RETURNING id`,
			e.b.m.Digest(), tables).Scan(&e.runID); err != nil {
			return err
		}
		e.res.RunID = e.runID
		if _, err := tx.Exec(ctx, `INSERT INTO tenantd_adopt.backfill_progress (run_id, table_name) SELECT $1, unnest($2::text[])`, e.runID, tables); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM tenantd_adopt.quarantine WHERE table_schema = $1 AND table_name = ANY($2)`, e.b.m.Schema, tables)
		return err
	})
}

func (e *engine) setupDry(ctx context.Context) error {
	for _, bt := range e.b.tables {
		cols := append(carried(bt), bt.TenantColumn)
		stmts := []string{
			"CREATE TABLE " + dryName(bt) + " AS SELECT " + catalog.IdentList(cols) + " FROM " + bt.name.Quoted() + " WITH NO DATA",
			"CREATE UNIQUE INDEX ON " + dryName(bt) + " (" + catalog.IdentList(bt.key) + ")",
		}
		if len(bt.uniques) > 0 {
			// The per-tenant unique keys are looked up by tenant.
			stmts = append(stmts, "CREATE INDEX ON "+dryName(bt)+" ("+catalog.Ident(bt.TenantColumn)+")")
		}
		for _, s := range stmts {
			if _, err := e.conn.Exec(ctx, s); err != nil {
				return fmt.Errorf("dry run: %w", err)
			}
		}
	}
	_, err := e.conn.Exec(ctx, `CREATE TABLE pg_temp.tenantd_dry_quarantine (table_name text, row_key jsonb, reason text,
		detail text, candidates jsonb, PRIMARY KEY (table_name, row_key))`)
	return err
}

// progress loads a table's checkpoint; done tables of a resumed run are skipped.
func (e *engine) progress(ctx context.Context, bt *boundTable) (after string, done bool, err error) {
	if e.opts.DryRun {
		return "", false, nil
	}
	var last *string
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.results[bt]
	err = e.conn.QueryRow(ctx, `SELECT last_key::text, done, scanned, resolved, conflicts, unresolved, duplicates
		FROM tenantd_adopt.backfill_progress WHERE run_id = $1 AND table_name = $2`, e.runID, bt.Table.Table).
		Scan(&last, &done, &r.Scanned, &r.Resolved, &r.Conflicts, &r.Unresolved, &r.Duplicates)
	if err != nil {
		return "", false, fmt.Errorf("read checkpoint of %s: %w", bt.name, err)
	}
	if last != nil {
		after = *last
	}
	return after, done, nil
}

func (e *engine) markDone(ctx context.Context, bt *boundTable) error {
	if e.opts.DryRun {
		return nil
	}
	_, err := e.conn.Exec(ctx, `UPDATE tenantd_adopt.backfill_progress SET done = true, updated_at = now() WHERE run_id = $1 AND table_name = $2`,
		e.runID, bt.Table.Table)
	return err
}

// runTable handles a table outside any cycle: one pass, every row decided as it is reached,
// because all of its parents were finished before it.
func (e *engine) runTable(ctx context.Context, bt *boundTable) error {
	after, done, err := e.progress(ctx, bt)
	if err != nil || done {
		return err
	}
	if _, err := e.pass(ctx, bt, stmtMode{quarantine: true}, after); err != nil {
		return err
	}
	return e.markDone(ctx, bt)
}

// runCycle resolves tables whose rules reach each other (or themselves). Strict passes
// resolve rows whose rules no longer wait on unresolved rows, until a round changes nothing;
// then a lenient pass lets rules that still wait count as yielding nothing, which may unlock
// more strict passes. When nothing moves any more, a last pass quarantines what is left. A
// resumed run repeats a cycle's passes from the start: rows already resolved stay resolved.
func (e *engine) runCycle(ctx context.Context, tables []*boundTable) error {
	allDone := true
	for _, bt := range tables {
		_, done, err := e.progress(ctx, bt)
		if err != nil {
			return err
		}
		allDone = allDone && done
	}
	if allDone {
		return nil
	}
	round := func(mode stmtMode) (int64, error) {
		var n int64
		for _, bt := range tables {
			r, err := e.pass(ctx, bt, mode, "")
			if err != nil {
				return 0, err
			}
			n += r
		}
		return n, nil
	}
	for {
		for {
			n, err := round(stmtMode{strict: true})
			if err != nil {
				return err
			}
			if n == 0 {
				break
			}
		}
		n, err := round(stmtMode{})
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	if _, err := round(stmtMode{quarantine: true}); err != nil {
		return err
	}
	for _, bt := range tables {
		if err := e.markDone(ctx, bt); err != nil {
			return err
		}
	}
	return nil
}

// pass walks a table's NULL-tenant rows in key order from after, batch by batch, and returns
// how many it resolved.
func (e *engine) pass(ctx context.Context, bt *boundTable, mode stmtMode, after string) (int64, error) {
	start := time.Now()
	defer func() {
		e.mu.Lock()
		e.results[bt].Elapsed += time.Since(start)
		e.mu.Unlock()
	}()
	var resolved int64
	mode.dry = e.opts.DryRun
	for {
		mode.after = after != ""
		r, err := e.batch(ctx, bt, mode, after)
		if err != nil {
			return resolved, err
		}
		if r.rows == 0 {
			return resolved, nil
		}
		resolved += r.resolved
		after = *r.last
	}
}

// batch runs one batch, retrying lock timeouts and deadlocks after a back-off. The batch
// statement itself quarantines the rows whose tenant already holds their per-tenant unique key
// (see uniquesSQL); a unique violation can still come from an index it cannot read (over
// expressions, partial) or from a writer that gave a row the same key meanwhile, and then the
// batch is replayed row by row so that only the offending rows are quarantined.
func (e *engine) batch(ctx context.Context, bt *boundTable, mode stmtMode, after string) (batchResult, error) {
	for attempt := 1; ; attempt++ {
		start := time.Now()
		r, err := e.batchOnce(ctx, bt, mode, after)
		if err != nil && pgCode(err) == "23505" && !mode.dry {
			r, err = e.batchRowByRow(ctx, bt, mode, after)
		}
		if err == nil {
			e.account(bt, r, time.Since(start))
			return r, nil
		}
		if !retryable(err) || attempt > e.opts.Retries {
			return r, fmt.Errorf("backfill %s: %w", bt.name, err)
		}
		e.mu.Lock()
		e.res.Retries++
		e.mu.Unlock()
		if err := backoff(ctx, attempt); err != nil {
			return r, err
		}
	}
}

func (e *engine) account(bt *boundTable, r batchResult, d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	tr := e.results[bt]
	tr.Scanned += r.rows
	tr.Resolved += r.resolved
	tr.Conflicts += r.conflicts
	tr.Unresolved += r.unresolved
	tr.Duplicates += r.duplicates
	e.res.Batches++
	q := r.conflicts + r.unresolved + r.duplicates
	e.res.Processed += r.resolved + q
	e.res.LongestBatch = max(e.res.LongestBatch, d)
	if e.opts.OnBatch != nil && r.rows > 0 {
		e.opts.OnBatch(BatchProgress{Table: tr.Table, Rows: r.rows, Resolved: r.resolved, Quarantined: q, Elapsed: d})
	}
}

func (e *engine) begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := e.conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	// A batch touches a few thousand rows; nested loops over the key indexes keep its cost
	// proportional to the batch. Left to itself the planner would hash whole parent tables
	// (each batch would then cost as much as a full scan of every parent).
	if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true), set_config('enable_hashjoin', 'off', true),
		set_config('enable_mergejoin', 'off', true), set_config('enable_bitmapscan', 'off', true)`,
		fmt.Sprintf("%dms", e.opts.LockTimeout.Milliseconds())); err != nil {
		rollback(tx)
		return nil, err
	}
	return tx, nil
}

func (e *engine) batchOnce(ctx context.Context, bt *boundTable, mode stmtMode, after string) (batchResult, error) {
	var r batchResult
	tx, err := e.begin(ctx)
	if err != nil {
		return r, err
	}
	defer rollback(tx)
	q, args := e.batchSQL(bt, mode, after, e.opts.BatchSize)
	if err := tx.QueryRow(ctx, q, args...).Scan(&r.rows, &r.last, &r.resolved, &r.conflicts, &r.unresolved, &r.duplicates); err != nil {
		return r, err
	}
	if err := e.checkpoint(ctx, tx, bt, r); err != nil {
		return r, err
	}
	return r, tx.Commit(ctx)
}

func (e *engine) checkpoint(ctx context.Context, tx pgx.Tx, bt *boundTable, r batchResult) error {
	if e.opts.DryRun || r.rows == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE tenantd_adopt.backfill_progress SET last_key = $3::jsonb, scanned = scanned + $4,
		resolved = resolved + $5, conflicts = conflicts + $6, unresolved = unresolved + $7, duplicates = duplicates + $8,
		updated_at = now() WHERE run_id = $1 AND table_name = $2`,
		e.runID, bt.Table.Table, r.last, r.rows, r.resolved, r.conflicts, r.unresolved, r.duplicates)
	return err
}

func (e *engine) batchRowByRow(ctx context.Context, bt *boundTable, mode stmtMode, after string) (batchResult, error) {
	var r batchResult
	tx, err := e.begin(ctx)
	if err != nil {
		return r, err
	}
	defer rollback(tx)
	for i := 0; i < e.opts.BatchSize; i++ {
		q, args := nextKeySQL(bt, after)
		var key *string
		if err := tx.QueryRow(ctx, q, args...).Scan(&key); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return r, err
		}
		if key == nil {
			break
		}
		sp, err := tx.Begin(ctx)
		if err != nil {
			return r, err
		}
		var one batchResult
		m := mode
		m.after = after != ""
		q, args = e.batchSQL(bt, m, after, 1)
		err = sp.QueryRow(ctx, q, args...).Scan(&one.rows, &one.last, &one.resolved, &one.conflicts, &one.unresolved, &one.duplicates)
		var pg *pgconn.PgError
		if errors.As(err, &pg) && pg.Code == "23505" {
			if err := sp.Rollback(ctx); err != nil {
				return r, err
			}
			detail := "unique violation on " + pg.ConstraintName
			if pg.Detail != "" {
				detail += ": " + pg.Detail
			}
			q, args := e.quarantineOneSQL(bt, *key, detail)
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				return r, err
			}
			one = batchResult{rows: 1, duplicates: 1}
		} else if err != nil {
			return r, err
		} else if err := sp.Commit(ctx); err != nil {
			return r, err
		}
		r.rows += one.rows
		r.resolved += one.resolved
		r.conflicts += one.conflicts
		r.unresolved += one.unresolved
		r.duplicates += one.duplicates
		k := *key
		r.last = &k
		after = k
	}
	if err := e.checkpoint(ctx, tx, bt, r); err != nil {
		return r, err
	}
	return r, tx.Commit(ctx)
}
