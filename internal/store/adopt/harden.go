package adopt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"tenantd/internal/store/catalog"
)

// Step is one hardening step. Each is derived from the live catalog, so a step that is already
// done is never planned again: re-running harden after an interruption picks up where the last
// committed step ended.
type Step struct {
	Table  string // display name, "-" for database-wide steps
	Action string // what the step achieves
	SQL    []string
	// Concurrent steps (CREATE/DROP INDEX CONCURRENTLY) run outside a transaction and never
	// block writers.
	Concurrent bool
	// Blocking steps take a lock that blocks writers (ACCESS EXCLUSIVE, SHARE ROW EXCLUSIVE).
	// They do no scan, run under a short lock_timeout with retries, and are timed.
	Blocking bool
	// AfterBackfill steps enforce NOT NULL or depend on it: they wait until no tenant is NULL.
	AfterBackfill bool
	// cleanup runs after a failed concurrent build, which leaves an invalid index behind.
	cleanup string
	// unique is set on a step that builds a unique index: when rows collide, apply names them.
	unique *uniqueBuild
}

// uniqueBuild is a unique index a step builds: its table, key columns, and the row identity
// that names colliding rows.
type uniqueBuild struct {
	table catalog.Name
	index string
	cols  []string
	key   []string
}

// Plan is the ordered list of steps that brings the mapped tables to SPEC §6.
type Plan struct {
	Steps []Step
	// Nulls lists the tables that still have rows without a tenant; while it is non-empty
	// harden stops before the first AfterBackfill step.
	Nulls []NullCount
	// Blockers are problems the tool will not solve by itself (they need a decision).
	Blockers []string
}

// NullsRemainError is harden's refusal to enforce NOT NULL while rows lack a tenant.
type NullsRemainError struct{ Tables []NullCount }

func (e *NullsRemainError) Error() string {
	var parts []string
	var total int64
	for _, t := range e.Tables {
		parts = append(parts, fmt.Sprintf("%s: %d", t.Table, t.Nulls))
		total += t.Nulls
	}
	return fmt.Sprintf("refusing to enforce NOT NULL: %d row(s) still have no tenant (%s); run `tenantd backfill`, then decide the quarantined rows",
		total, strings.Join(parts, ", "))
}

// HardenOptions tune harden apply.
type HardenOptions struct {
	// LockTimeout bounds how long a blocking step may wait for its lock (default 300ms):
	// while it waits in the lock queue it blocks writers too, so the wait is kept short and
	// the step retried later instead.
	LockTimeout time.Duration
	// StatementTimeout bounds a blocking step once it holds its lock (default 5s): a step
	// that unexpectedly needs a table scan is cancelled rather than block the site.
	StatementTimeout time.Duration
	// Retries per step after a lock timeout or deadlock (default 60).
	Retries int
	// Log receives one line per step (nil: silent).
	Log io.Writer
}

// StepResult is the timing of one applied step.
type StepResult struct {
	Step     Step
	Elapsed  time.Duration // of the successful attempt
	Attempts int
	// Longest attempt of a blocking step, successful or not: the longest it stood in the
	// way of writers.
	LongestAttempt time.Duration
}

// HardenResult summarises harden apply.
type HardenResult struct {
	Steps   []StepResult
	Elapsed time.Duration
	Retries int
	// LongestBlocking is the longest time any step held (or queued for) a lock that blocks
	// writers, and LongestBlockingStep says which.
	LongestBlocking     time.Duration
	LongestBlockingStep string
}

// PlanHarden computes the steps without changing anything.
func PlanHarden(ctx context.Context, url string, m *Map) (*Plan, error) {
	conn, err := connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	h, err := newHardener(ctx, conn, m)
	if err != nil {
		return nil, err
	}
	return h.plan(ctx)
}

// ApplyHarden runs the plan step by step. It stops with *NullsRemainError before the first
// step that needs every tenant set, after having done the steps that do not (indexes, and the
// NOT VALID check that already stops new rows without a tenant).
func ApplyHarden(ctx context.Context, url string, m *Map, opts HardenOptions) (*HardenResult, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 300 * time.Millisecond
	}
	if opts.StatementTimeout <= 0 {
		opts.StatementTimeout = 5 * time.Second
	}
	if opts.Retries <= 0 {
		opts.Retries = 60
	}
	conn, err := connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	if err := lockRun(ctx, conn); err != nil {
		return nil, err
	}
	h, err := newHardener(ctx, conn, m)
	if err != nil {
		return nil, err
	}
	plan, err := h.plan(ctx)
	if err != nil {
		return nil, err
	}
	if len(plan.Blockers) > 0 {
		return nil, fmt.Errorf("harden cannot proceed:\n  %s", strings.Join(plan.Blockers, "\n  "))
	}
	if err := ensureState(ctx, conn); err != nil {
		return nil, err
	}
	if err := recordEvent(ctx, conn, h.snap, m.Schema, "adopt.harden.start", map[string]any{"steps": len(plan.Steps), "map": m.Digest()}); err != nil {
		return nil, err
	}
	res := &HardenResult{}
	start := time.Now()
	for i, s := range plan.Steps {
		if s.AfterBackfill && len(plan.Nulls) > 0 {
			res.Elapsed = time.Since(start)
			return res, &NullsRemainError{Tables: plan.Nulls}
		}
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "[%d/%d] %s: %s\n", i+1, len(plan.Steps), s.Table, s.Action)
		}
		r, err := h.apply(ctx, s, opts)
		res.Retries += r.Attempts - 1
		if s.Blocking && r.LongestAttempt > res.LongestBlocking {
			res.LongestBlocking, res.LongestBlockingStep = r.LongestAttempt, s.Table+": "+s.Action
		}
		if err != nil {
			res.Elapsed = time.Since(start)
			if s.unique != nil && pgCode(err) == "23505" && ctx.Err() == nil {
				err = h.explainCollisions(ctx, s.unique, err)
			}
			return res, fmt.Errorf("%s: %s: %w", s.Table, s.Action, err)
		}
		res.Steps = append(res.Steps, r)
	}
	res.Elapsed = time.Since(start)
	err = recordEvent(ctx, conn, h.snap, m.Schema, "adopt.harden.finish", map[string]any{
		"steps": len(res.Steps), "seconds": res.Elapsed.Seconds(), "longest_blocking_ms": res.LongestBlocking.Milliseconds(),
	})
	return res, err
}

func (h *hardener) apply(ctx context.Context, s Step, opts HardenOptions) (StepResult, error) {
	r := StepResult{Step: s}
	for {
		r.Attempts++
		start := time.Now()
		var err error
		if s.Concurrent {
			err = h.runConcurrent(ctx, s)
		} else {
			err = h.runTx(ctx, s, opts)
		}
		d := time.Since(start)
		r.LongestAttempt = max(r.LongestAttempt, d)
		if err == nil {
			r.Elapsed = d
			return r, nil
		}
		if !retryable(err) || r.Attempts > opts.Retries {
			return r, err
		}
		if err := backoff(ctx, r.Attempts); err != nil {
			return r, err
		}
	}
}

func (h *hardener) runTx(ctx context.Context, s Step, opts HardenOptions) error {
	lockTimeout, stmtTimeout := opts.LockTimeout, opts.StatementTimeout
	if !s.Blocking {
		// Validation scans and grants block no writer; let them wait and run as long as
		// they need.
		lockTimeout, stmtTimeout = time.Minute, 0
	}
	return pgx.BeginFunc(ctx, h.conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $2, true)`,
			fmt.Sprintf("%dms", lockTimeout.Milliseconds()), fmt.Sprintf("%dms", stmtTimeout.Milliseconds())); err != nil {
			return err
		}
		for _, q := range s.SQL {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
}

func (h *hardener) runConcurrent(ctx context.Context, s Step) error {
	if _, err := h.conn.Exec(ctx, `SET lock_timeout = 0; SET statement_timeout = 0`); err != nil {
		return err
	}
	for _, q := range s.SQL {
		if _, err := h.conn.Exec(ctx, q); err != nil {
			if s.cleanup != "" && ctx.Err() == nil {
				if _, cerr := h.conn.Exec(ctx, s.cleanup); cerr != nil {
					return errors.Join(err, cerr)
				}
			}
			return err
		}
	}
	return nil
}

type hardener struct {
	conn *pgx.Conn
	m    *Map
	snap *catalog.Snapshot
	b    *bound
}

func newHardener(ctx context.Context, conn *pgx.Conn, m *Map) (*hardener, error) {
	snap, err := catalog.Load(ctx, conn, m.Schema)
	if err != nil {
		return nil, err
	}
	b, err := m.bind(snap)
	if err != nil {
		return nil, err
	}
	return &hardener{conn: conn, m: m, snap: snap, b: b}, nil
}

// objName makes a PostgreSQL object name from a base and a suffix, within the 63-byte limit:
// a long base is cut and a short hash of the full name keeps cut names apart.
func objName(base, suffix string) string {
	full := base + suffix
	if len(full) <= 63 {
		return full
	}
	sum := sha256.Sum256([]byte(full))
	tag := "_" + hex.EncodeToString(sum[:3])
	cut := 63 - len(suffix) - len(tag)
	for cut > 0 && !validUTF8Cut(base, cut) {
		cut--
	}
	return base[:cut] + tag + suffix
}

func validUTF8Cut(s string, n int) bool { return n >= len(s) || s[n]&0xC0 != 0x80 }

func trimSuffixes(name string, suffixes ...string) string {
	for _, s := range suffixes {
		if strings.HasSuffix(name, s) && len(name) > len(s) {
			return strings.TrimSuffix(name, s)
		}
	}
	return name
}

var fkActions = map[string]string{"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}

// sqlTypes are the SQL spellings of the tenant key types a map may declare.
var sqlTypes = map[string]string{"uuid": "uuid", "text": "text", "bigint": "bigint", "integer": "integer"}

// tablePlan carries what later phases need from earlier ones for one table.
type tablePlan struct {
	pkIndex  string            // unique (tenant, key) index that becomes the primary key; "" when done
	replaced map[string]string // old index -> replacement leading with the tenant
	uniques  [][]string        // column sets that are (or will be) unique with the tenant
}

func (h *hardener) plan(ctx context.Context) (*Plan, error) {
	p := &Plan{}
	m, b := h.m, h.b
	fn := m.Function()
	call := catalog.Ident(fn.Schema, fn.Table)
	role := m.AppRole

	// Prerequisites: the tenant function and the application role's access to it.
	var roleExists bool
	if err := h.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&roleExists); err != nil {
		return nil, err
	}
	if !roleExists {
		p.Blockers = append(p.Blockers, fmt.Sprintf("application role %s does not exist: create it (LOGIN or NOLOGIN, NOSUPERUSER NOBYPASSRLS) first", role))
	}
	var fnOID *uint32
	var volatility string
	var retType uint32
	err := h.conn.QueryRow(ctx, `SELECT p.oid, p.provolatile::text, p.prorettype FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = $1 AND p.proname = $2 AND p.pronargs = 0`, fn.Schema, fn.Table).Scan(&fnOID, &volatility, &retType)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	keyType := b.tenants.Column(m.Tenants.Key).TypeOID
	if fnOID == nil {
		p.Steps = append(p.Steps, Step{Table: "-", Action: "create the STABLE tenant function " + fn.Schema + "." + fn.Table + "()", SQL: []string{
			"CREATE SCHEMA IF NOT EXISTS " + catalog.Ident(fn.Schema),
			"CREATE FUNCTION " + call + "() RETURNS " + sqlTypes[m.Tenants.Type] + " LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')" +
				tenantKeyTypes[m.Tenants.Type] + " $$",
		}})
	} else {
		if volatility != "s" {
			p.Blockers = append(p.Blockers, fmt.Sprintf("%s() exists but is not STABLE; make it STABLE (ALTER FUNCTION ... STABLE) before policies use it", call))
		}
		if retType != keyType {
			p.Blockers = append(p.Blockers, fmt.Sprintf("%s() exists but does not return the tenants key type %s", call, m.Tenants.Type))
		}
	}
	if roleExists {
		var fnSchemaUsage, schemaUsage, fnExec bool
		err := h.conn.QueryRow(ctx, `SELECT
			coalesce((SELECT has_schema_privilege($1, n.oid, 'USAGE') FROM pg_namespace n WHERE n.nspname = $2), false),
			has_schema_privilege($1, $3, 'USAGE'),
			coalesce((SELECT has_function_privilege($1, p.oid, 'EXECUTE') FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
			          WHERE n.nspname = $2 AND p.proname = $4 AND p.pronargs = 0), false)`,
			role, fn.Schema, m.Schema, fn.Table).Scan(&fnSchemaUsage, &schemaUsage, &fnExec)
		if err != nil {
			return nil, err
		}
		var grants []string
		if !fnSchemaUsage {
			grants = append(grants, "GRANT USAGE ON SCHEMA "+catalog.Ident(fn.Schema)+" TO "+catalog.Ident(role))
		}
		if !fnExec {
			grants = append(grants, "GRANT EXECUTE ON FUNCTION "+call+"() TO "+catalog.Ident(role))
		}
		if !schemaUsage {
			grants = append(grants, "GRANT USAGE ON SCHEMA "+catalog.Ident(m.Schema)+" TO "+catalog.Ident(role))
		}
		if len(grants) > 0 {
			p.Steps = append(p.Steps, Step{Table: "-", Action: "let " + role + " use the tenant function and the schema", SQL: grants})
		}
	}

	tps := map[*boundTable]*tablePlan{}
	for _, bt := range b.tables {
		tps[bt] = h.planIndexes(p, bt)
	}
	for _, bt := range b.tables {
		h.planCheck(p, bt)
	}
	nulls, err := countNulls(ctx, h.conn, b, true)
	if err != nil {
		return nil, err
	}
	for _, n := range nulls {
		if n.Nulls > 0 {
			p.Nulls = append(p.Nulls, n)
		}
	}
	for _, bt := range b.tables {
		h.planNotNull(p, bt)
	}
	for _, bt := range b.tables {
		h.planTenantFK(p, bt)
	}
	for _, bt := range b.tables {
		h.planCompositeFKs(p, bt, tps)
	}
	for _, bt := range b.tables {
		h.planKeys(p, bt, tps[bt])
	}
	quoted := map[string]string{}
	var raw []string
	for _, bt := range b.tables {
		raw = append(raw, bt.TenantColumn)
	}
	raw = append(raw, fn.Schema, fn.Table)
	var q []string
	if err := h.conn.QueryRow(ctx, `SELECT array_agg(quote_ident(x) ORDER BY o) FROM unnest($1::text[]) WITH ORDINALITY AS u(x, o)`, raw).Scan(&q); err != nil {
		return nil, err
	}
	for i, r := range raw {
		quoted[r] = q[i]
	}
	deparsedCall := quoted[fn.Schema] + "." + quoted[fn.Table]
	for _, bt := range b.tables {
		h.planRLS(p, bt, quoted[bt.TenantColumn], deparsedCall, call)
	}
	if roleExists {
		if err := h.planGrants(ctx, p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// indexOn finds a valid, non-partial index with exactly these key columns in this order.
func indexOn(t *catalog.Table, cols []string, unique bool) *catalog.Index {
	for i := range t.Indexes {
		ix := &t.Indexes[i]
		if ix.Valid && !ix.Partial && slices.Equal(ix.Columns, cols) && (ix.Unique || !unique) {
			return ix
		}
	}
	return nil
}

// planIndexes builds, concurrently, every index the later steps swap in: the unique
// (tenant, key) index that becomes the primary key, a per-tenant twin of every global unique
// index, a tenant-leading twin of every other index, and the singleton's UNIQUE (tenant).
func (h *hardener) planIndexes(p *Plan, bt *boundTable) *tablePlan {
	t, c := bt.cat, bt.TenantColumn
	tp := &tablePlan{replaced: map[string]string{}}
	planned := map[string]string{} // column list -> index name, to avoid building twins twice
	ensure := func(cols []string, unique bool, name, why string) string {
		keyStr := strings.Join(cols, "\x00")
		if n, ok := planned[keyStr]; ok {
			return n
		}
		if ix := indexOn(t, cols, unique); ix != nil {
			planned[keyStr] = ix.Name
			return ix.Name
		}
		var sqls []string
		if old := t.Index(name); old != nil && !old.Valid {
			sqls = append(sqls, "DROP INDEX CONCURRENTLY IF EXISTS "+catalog.Ident(t.Schema, name))
		}
		u := ""
		if unique {
			u = "UNIQUE "
		}
		sqls = append(sqls, "CREATE "+u+"INDEX CONCURRENTLY IF NOT EXISTS "+catalog.Ident(name)+" ON "+t.Quoted()+" ("+catalog.IdentList(cols)+")")
		step := Step{Table: bt.name.String(), Action: why, SQL: sqls, Concurrent: true,
			cleanup: "DROP INDEX CONCURRENTLY IF EXISTS " + catalog.Ident(t.Schema, name)}
		if unique {
			step.unique = &uniqueBuild{table: bt.name, index: name, cols: cols, key: bt.key}
		}
		p.Steps = append(p.Steps, step)
		planned[keyStr] = name
		return name
	}
	target := append([]string{c}, bt.key...)
	tp.uniques = append(tp.uniques, target)
	if pk := t.PrimaryKey(); pk == nil || !slices.Equal(pk.Columns, target) {
		tp.pkIndex = ensure(target, true, objName(t.Table, "_tenant_pkey"),
			fmt.Sprintf("build unique index (%s) for the primary key", catalog.IdentList(target)))
	}
	for i := range t.Indexes {
		ix := &t.Indexes[i]
		if ix.Primary || ix.Leads(c) {
			if ix.Unique && ix.Valid && !ix.Primary {
				tp.uniques = append(tp.uniques, ix.Columns)
			}
			continue
		}
		if !ix.Valid {
			p.Blockers = append(p.Blockers, fmt.Sprintf("%s: index %s is invalid (a failed concurrent build?); drop it with DROP INDEX CONCURRENTLY", bt.name, catalog.Ident(ix.Name)))
			continue
		}
		if !ix.Simple {
			p.Blockers = append(p.Blockers, fmt.Sprintf("%s: index %s is not a plain column btree index; recreate it with %s first by hand", bt.name, catalog.Ident(ix.Name), catalog.Ident(c)))
			continue
		}
		cols := []string{c}
		for _, x := range ix.Columns {
			if x != c {
				cols = append(cols, x)
			}
		}
		base := trimSuffixes(ix.Name, "_key", "_idx")
		var why string
		if ix.Unique {
			why = fmt.Sprintf("build per-tenant unique index (%s) to replace global %s", catalog.IdentList(cols), catalog.Ident(ix.Name))
			tp.uniques = append(tp.uniques, cols)
			tp.replaced[ix.Name] = ensure(cols, true, objName(base, "_tenant_key"), why)
		} else {
			why = fmt.Sprintf("build index (%s) to replace %s", catalog.IdentList(cols), catalog.Ident(ix.Name))
			tp.replaced[ix.Name] = ensure(cols, false, objName(base, "_tenant_idx"), why)
		}
	}
	if bt.Singleton && t.UniqueOn([]string{c}, true) == nil {
		ensure([]string{c}, true, objName(t.Table, "_"+c+"_singleton_key"), fmt.Sprintf("build UNIQUE (%s): one row per tenant", catalog.Ident(c)))
	}
	return tp
}

// collisionGroups is how many colliding values, and rows per value, a failed unique build names.
const collisionGroups, collisionRows = 10, 5

// explainCollisions turns the unique violation of a failed unique index build into an error
// that names the colliding values and the rows that hold each, so the operator knows which rows
// to delete or correct. The original error stays wrapped.
func (h *hardener) explainCollisions(ctx context.Context, u *uniqueBuild, err error) error {
	a := &args{}
	var keyParts, notNull []string
	for _, k := range u.key {
		keyParts = append(keyParts, a.add(k)+"::text", "t."+catalog.Ident(k))
	}
	for _, c := range u.cols {
		notNull = append(notNull, "t."+catalog.Ident(c)+" IS NOT NULL")
	}
	cols := strings.Join(quoteAll("t", u.cols), ", ")
	q := "SELECT ROW(" + cols + ")::text, count(*), (array_agg(jsonb_build_object(" + strings.Join(keyParts, ", ") + ")::text ORDER BY " +
		strings.Join(quoteAll("t", u.key), ", ") + "))[1:" + a.add(collisionRows) + "], count(*) OVER () FROM " + u.table.Quoted() +
		" AS t WHERE " + strings.Join(notNull, " AND ") + " GROUP BY " + cols + " HAVING count(*) > 1 ORDER BY " + cols + " LIMIT " + a.add(collisionGroups)
	rows, qerr := h.conn.Query(ctx, q, a.vals...)
	if qerr != nil {
		return fmt.Errorf("%w (listing the colliding rows failed: %v)", err, qerr)
	}
	var lines []string
	var value string
	var n, groups int64
	var keys []string
	_, qerr = pgx.ForEachRow(rows, []any{&value, &n, &keys, &groups}, func() error {
		more := ""
		if n > int64(len(keys)) {
			more = fmt.Sprintf(" and %d more", n-int64(len(keys)))
		}
		lines = append(lines, fmt.Sprintf("(%s) = %s: %d rows: %s%s", catalog.IdentList(u.cols), value, n, strings.Join(keys, ", "), more))
		return nil
	})
	if qerr != nil {
		return fmt.Errorf("%w (listing the colliding rows failed: %v)", err, qerr)
	}
	if len(lines) == 0 {
		// Rows may have changed since the build failed, or be hidden by forced row level
		// security: PostgreSQL's own detail names one value.
		var pg *pgconn.PgError
		if errors.As(err, &pg) && pg.Detail != "" {
			return fmt.Errorf("%w: %s", err, pg.Detail)
		}
		return err
	}
	if groups > int64(len(lines)) {
		lines = append(lines, fmt.Sprintf("... and %d more values", groups-int64(len(lines))))
	}
	return fmt.Errorf("%w\n%s has %d value(s) of unique index %s held by more than one row:\n  %s\nkeep one row per value (delete the others or correct them), then run harden apply again",
		err, u.table, groups, catalog.Ident(u.index), strings.Join(lines, "\n  "))
}

func notNullCheck(bt *boundTable) string {
	return objName(bt.cat.Table, "_"+bt.TenantColumn+"_not_null")
}

// planCheck adds the NOT VALID check: instant, and from then on no new row lacks a tenant.
func (h *hardener) planCheck(p *Plan, bt *boundTable) {
	if bt.cat.Column(bt.TenantColumn).NotNull || bt.cat.Check(notNullCheck(bt)) != nil {
		return
	}
	p.Steps = append(p.Steps, Step{Table: bt.name.String(), Blocking: true,
		Action: fmt.Sprintf("add CHECK (%s IS NOT NULL) NOT VALID: new rows must carry a tenant", catalog.Ident(bt.TenantColumn)),
		SQL: []string{"ALTER TABLE " + bt.name.Quoted() + " ADD CONSTRAINT " + catalog.Ident(notNullCheck(bt)) +
			" CHECK (" + catalog.Ident(bt.TenantColumn) + " IS NOT NULL) NOT VALID"}})
}

// planNotNull validates the check (a scan that blocks no writer), then sets NOT NULL, which
// PostgreSQL proves from the validated check without a second scan, and drops the check.
func (h *hardener) planNotNull(p *Plan, bt *boundTable) {
	T, c, chk := bt.name.Quoted(), catalog.Ident(bt.TenantColumn), catalog.Ident(notNullCheck(bt))
	existing := bt.cat.Check(notNullCheck(bt))
	if bt.cat.Column(bt.TenantColumn).NotNull {
		if existing != nil {
			p.Steps = append(p.Steps, Step{Table: bt.name.String(), Blocking: true, AfterBackfill: true,
				Action: "drop the check NOT NULL made redundant", SQL: []string{"ALTER TABLE " + T + " DROP CONSTRAINT " + chk}})
		}
		return
	}
	if existing == nil || !existing.Validated {
		p.Steps = append(p.Steps, Step{Table: bt.name.String(), AfterBackfill: true,
			Action: "validate CHECK (" + catalog.Ident(bt.TenantColumn) + " IS NOT NULL) (scan; writers keep going)",
			SQL:    []string{"ALTER TABLE " + T + " VALIDATE CONSTRAINT " + chk}})
	}
	p.Steps = append(p.Steps, Step{Table: bt.name.String(), Blocking: true, AfterBackfill: true,
		Action: "SET NOT NULL (proved by the validated check, no scan) and drop the check",
		SQL:    []string{"ALTER TABLE " + T + " ALTER COLUMN " + c + " SET NOT NULL", "ALTER TABLE " + T + " DROP CONSTRAINT " + chk}})
}

func (h *hardener) planTenantFK(p *Plan, bt *boundTable) {
	t, c := bt.cat, bt.TenantColumn
	T := t.Quoted()
	tenants := h.b.tenants
	var good *catalog.ForeignKey
	var others []*catalog.ForeignKey
	for i := range t.ForeignKeys {
		fk := &t.ForeignKeys[i]
		if fk.Ref != tenants.Name || !slices.Equal(fk.Columns, []string{c}) {
			continue
		}
		if good == nil && fk.OnDelete == "c" && slices.Equal(fk.RefColumns, []string{h.m.Tenants.Key}) {
			good = fk
		} else {
			others = append(others, fk)
		}
	}
	if good == nil {
		name := objName(t.Table, "_"+c+"_tenant_fkey")
		if t.ForeignKey(name) != nil {
			name = objName(t.Table, "_"+c+"_tenant_cascade_fkey")
		}
		p.Steps = append(p.Steps,
			Step{Table: bt.name.String(), Blocking: true, AfterBackfill: true,
				Action: fmt.Sprintf("add FK %s → %s ON DELETE CASCADE NOT VALID", catalog.Ident(c), tenants.Name),
				SQL: []string{"ALTER TABLE " + T + " ADD CONSTRAINT " + catalog.Ident(name) + " FOREIGN KEY (" + catalog.Ident(c) + ") REFERENCES " +
					tenants.Quoted() + " (" + catalog.Ident(h.m.Tenants.Key) + ") ON DELETE CASCADE ON UPDATE CASCADE NOT VALID"}},
			Step{Table: bt.name.String(), AfterBackfill: true, Action: "validate FK to tenants (scan; writers keep going)",
				SQL: []string{"ALTER TABLE " + T + " VALIDATE CONSTRAINT " + catalog.Ident(name)}})
	} else if !good.Validated {
		p.Steps = append(p.Steps, Step{Table: bt.name.String(), AfterBackfill: true, Action: "validate FK to tenants (scan; writers keep going)",
			SQL: []string{"ALTER TABLE " + T + " VALIDATE CONSTRAINT " + catalog.Ident(good.Name)}})
	}
	for _, fk := range others {
		p.Steps = append(p.Steps, Step{Table: bt.name.String(), Blocking: true, AfterBackfill: true,
			Action: "drop FK " + catalog.Ident(fk.Name) + " to tenants (replaced by the cascading one)",
			SQL:    []string{"ALTER TABLE " + T + " DROP CONSTRAINT " + catalog.Ident(fk.Name)}})
	}
}

// planCompositeFKs replaces every reference to another tenant-owned table by a composite key
// (tenant, x) → (tenant, key), so a row can never point at another tenant's row.
func (h *hardener) planCompositeFKs(p *Plan, bt *boundTable, tps map[*boundTable]*tablePlan) {
	t, c := bt.cat, bt.TenantColumn
	T := t.Quoted()
	for i := range t.ForeignKeys {
		fk := &t.ForeignKeys[i]
		ref := h.b.byName[fk.Ref.Table]
		if ref == nil || fk.Ref.Schema != h.m.Schema {
			continue
		}
		if fk.Pairs(c, ref.TenantColumn) {
			if !fk.Validated {
				p.Steps = append(p.Steps, Step{Table: bt.name.String(), AfterBackfill: true, Action: "validate FK " + catalog.Ident(fk.Name),
					SQL: []string{"ALTER TABLE " + T + " VALIDATE CONSTRAINT " + catalog.Ident(fk.Name)}})
			}
			continue
		}
		cols := []string{c}
		refCols := []string{ref.TenantColumn}
		for j, x := range fk.Columns {
			if x == c {
				continue
			}
			cols = append(cols, x)
			refCols = append(refCols, fk.RefColumns[j])
		}
		covered := false
		for _, u := range tps[ref].uniques {
			if len(u) == len(refCols) && !slices.ContainsFunc(refCols, func(x string) bool { return !slices.Contains(u, x) }) {
				covered = true
			}
		}
		if !covered {
			p.Blockers = append(p.Blockers, fmt.Sprintf("%s: FK %s references %s (%s), which is not unique per tenant; add a unique index on (%s) to %s first",
				bt.name, catalog.Ident(fk.Name), ref.name, catalog.IdentList(fk.RefColumns), catalog.IdentList(refCols), ref.name))
			continue
		}
		onDelete := fkActions[fk.OnDelete]
		if fk.OnDelete == "n" || fk.OnDelete == "d" {
			// Setting the tenant to NULL (or a default) would break the row; only the
			// reference columns are reset.
			onDelete += " (" + catalog.IdentList(cols[1:]) + ")"
		}
		onUpdate := fkActions[fk.OnUpdate]
		if fk.OnUpdate == "n" || fk.OnUpdate == "d" {
			onUpdate = "NO ACTION"
		}
		name := objName(trimSuffixes(fk.Name, "_fkey"), "_tenant_fkey")
		existing := t.ForeignKey(name)
		if existing == nil {
			p.Steps = append(p.Steps, Step{Table: bt.name.String(), Blocking: true, AfterBackfill: true,
				Action: fmt.Sprintf("add composite FK (%s) → %s (%s) NOT VALID", catalog.IdentList(cols), ref.name, catalog.IdentList(refCols)),
				SQL: []string{"ALTER TABLE " + T + " ADD CONSTRAINT " + catalog.Ident(name) + " FOREIGN KEY (" + catalog.IdentList(cols) + ") REFERENCES " +
					ref.name.Quoted() + " (" + catalog.IdentList(refCols) + ") ON DELETE " + onDelete + " ON UPDATE " + onUpdate + " NOT VALID"}})
		}
		if existing == nil || !existing.Validated {
			p.Steps = append(p.Steps, Step{Table: bt.name.String(), AfterBackfill: true,
				Action: "validate composite FK " + catalog.Ident(name) + " (scan; writers keep going)",
				SQL:    []string{"ALTER TABLE " + T + " VALIDATE CONSTRAINT " + catalog.Ident(name)}})
		}
		p.Steps = append(p.Steps, Step{Table: bt.name.String(), Blocking: true, AfterBackfill: true,
			Action: "drop single-tenant-blind FK " + catalog.Ident(fk.Name),
			SQL:    []string{"ALTER TABLE " + T + " DROP CONSTRAINT " + catalog.Ident(fk.Name)}})
	}
}

// planKeys swaps the prepared indexes in: the primary key becomes (tenant, key), global unique
// constraints become per-tenant ones, and indexes that do not lead with the tenant go.
func (h *hardener) planKeys(p *Plan, bt *boundTable, tp *tablePlan) {
	t := bt.cat
	T := t.Quoted()
	if tp.pkIndex != "" {
		for _, ref := range h.snap.ReferencedBy(t.Name) {
			if h.b.byName[ref.From.Table] != nil && ref.From.Schema == h.m.Schema {
				continue // replaced by a composite FK first
			}
			p.Blockers = append(p.Blockers, fmt.Sprintf("%s: %s references it through FK %s without a tenant; the primary key cannot include the tenant until that table is mapped or the FK dropped",
				bt.name, ref.From.Name, catalog.Ident(ref.FK.Name)))
		}
		sql := "ALTER TABLE " + T + " ADD CONSTRAINT " + catalog.Ident(objName(t.Table, "_pkey")) + " PRIMARY KEY USING INDEX " + catalog.Ident(tp.pkIndex)
		if pk := t.PrimaryKey(); pk != nil {
			sql = "ALTER TABLE " + T + " DROP CONSTRAINT " + catalog.Ident(pk.Constraint) + ", ADD CONSTRAINT " + catalog.Ident(pk.Constraint) +
				" PRIMARY KEY USING INDEX " + catalog.Ident(tp.pkIndex)
		}
		p.Steps = append(p.Steps, Step{Table: bt.name.String(), Blocking: true, AfterBackfill: true,
			Action: "make (" + catalog.IdentList(append([]string{bt.TenantColumn}, bt.key...)) + ") the primary key", SQL: []string{sql}})
	}
	for i := range t.Indexes {
		ix := &t.Indexes[i]
		repl, ok := tp.replaced[ix.Name]
		if !ok || repl == ix.Name {
			continue
		}
		if ix.Constraint != "" {
			p.Steps = append(p.Steps, Step{Table: bt.name.String(), Blocking: true, AfterBackfill: true,
				Action: "make unique constraint " + catalog.Ident(ix.Constraint) + " per tenant",
				SQL: []string{"ALTER TABLE " + T + " DROP CONSTRAINT " + catalog.Ident(ix.Constraint) + ", ADD CONSTRAINT " +
					catalog.Ident(ix.Constraint) + " UNIQUE USING INDEX " + catalog.Ident(repl)}})
			continue
		}
		p.Steps = append(p.Steps, Step{Table: bt.name.String(), Concurrent: true, AfterBackfill: true,
			Action: "drop index " + catalog.Ident(ix.Name) + " (replaced by " + catalog.Ident(repl) + ")",
			SQL:    []string{"DROP INDEX CONCURRENTLY IF EXISTS " + catalog.Ident(t.Schema, ix.Name)}})
	}
}

func (h *hardener) planRLS(p *Plan, bt *boundTable, quotedCol, deparsedCall, call string) {
	t := bt.cat
	T := t.Quoted()
	var sqls []string
	ok := false
	named := false
	for _, pol := range t.Policies {
		candidate, problems := catalog.TenantPolicyProblems(pol, quotedCol, deparsedCall, h.m.AppRole)
		if candidate && len(problems) == 0 {
			ok = true
		}
		named = named || pol.Name == "tenant_isolation"
	}
	if !ok {
		if named {
			sqls = append(sqls, "DROP POLICY tenant_isolation ON "+T)
		}
		expr := catalog.Ident(bt.TenantColumn) + " = (SELECT " + call + "())"
		sqls = append(sqls, "CREATE POLICY tenant_isolation ON "+T+" AS PERMISSIVE FOR ALL TO PUBLIC USING ("+expr+") WITH CHECK ("+expr+")")
	}
	if !t.RLS {
		sqls = append(sqls, "ALTER TABLE "+T+" ENABLE ROW LEVEL SECURITY")
	}
	if !t.Force {
		sqls = append(sqls, "ALTER TABLE "+T+" FORCE ROW LEVEL SECURITY")
	}
	if len(sqls) > 0 {
		p.Steps = append(p.Steps, Step{Table: bt.name.String(), Blocking: true, AfterBackfill: true,
			Action: "row level security: tenant policy, ENABLE, FORCE", SQL: sqls})
	}
}

// forbidden are the table privileges the application role must not hold by any route: TRUNCATE
// ignores row level security (it empties every tenant's rows at once), REFERENCES lets a role
// probe other tenants' keys, and TRIGGER lets it run code on every tenant's writes.
var forbidden = []string{"TRUNCATE", "REFERENCES", "TRIGGER"}

func (h *hardener) planGrants(ctx context.Context, p *Plan) error {
	app := h.m.AppRole
	role := catalog.Ident(app)
	var appOID uint32
	var super bool
	if err := h.conn.QueryRow(ctx, `SELECT oid, rolsuper FROM pg_roles WHERE rolname = $1`, app).Scan(&appOID, &super); err != nil {
		return err
	}
	if super {
		// A superuser holds every privilege whatever the grants say: revoking would be
		// planned again on every run.
		p.Blockers = append(p.Blockers, fmt.Sprintf("application role %s is a superuser: it holds every privilege and bypasses row level security; make it NOSUPERUSER (ALTER ROLE %s NOSUPERUSER)", app, role))
	}
	for _, bt := range h.b.tables {
		t := bt.cat
		var sel, ins, upd, del bool
		err := h.conn.QueryRow(ctx, `SELECT has_table_privilege($1, $2::oid, 'SELECT'), has_table_privilege($1, $2::oid, 'INSERT'),
			has_table_privilege($1, $2::oid, 'UPDATE'), has_table_privilege($1, $2::oid, 'DELETE')`, app, t.OID).
			Scan(&sel, &ins, &upd, &del)
		if err != nil {
			return err
		}
		var sqls []string
		if !(sel && ins && upd && del) {
			sqls = append(sqls, "GRANT SELECT, INSERT, UPDATE, DELETE ON "+t.Quoted()+" TO "+role)
		}
		if !super {
			revoke, err := h.planRevokes(ctx, p, bt, appOID)
			if err != nil {
				return err
			}
			sqls = append(sqls, revoke...)
		}
		for _, s := range t.Sequences {
			var usage bool
			if err := h.conn.QueryRow(ctx, `SELECT has_sequence_privilege($1, $2, 'USAGE')`, app, s.Quoted()).Scan(&usage); err != nil {
				return err
			}
			if !usage {
				sqls = append(sqls, "GRANT USAGE, SELECT ON SEQUENCE "+s.Quoted()+" TO "+role)
			}
		}
		if len(sqls) > 0 {
			p.Steps = append(p.Steps, Step{Table: bt.name.String(), AfterBackfill: true, Action: "grants for " + app, SQL: sqls})
		}
	}
	return nil
}

// privSet is a set of the forbidden privileges.
type privSet map[string]bool

// String lists the privileges in the order of forbidden.
func (s privSet) String() string {
	var out []string
	for _, p := range forbidden {
		if s[p] {
			out = append(out, p)
		}
	}
	return strings.Join(out, ", ")
}

func addPriv(m map[string]privSet, key, priv string) {
	if m[key] == nil {
		m[key] = privSet{}
	}
	m[key][priv] = true
}

// planRevokes makes sure the application role keeps none of the forbidden privileges on a table
// by any route has_table_privilege counts. Grants the owner made to the role itself or to PUBLIC
// are revoked (it is the owner's table: no one else needs them). Privileges the role holds
// through membership in another role, or that another role granted with its grant option, are
// blockers: revoking them as the owner would change nothing and be planned again forever, and
// changing other roles or memberships is a decision harden leaves to a person.
func (h *hardener) planRevokes(ctx context.Context, p *Plan, bt *boundTable, appOID uint32) ([]string, error) {
	app := h.m.AppRole
	T := bt.cat.Quoted()
	var held []string
	if err := h.conn.QueryRow(ctx, `SELECT coalesce(array_agg(x ORDER BY o), '{}') FROM unnest($3::text[]) WITH ORDINALITY AS u(x, o)
		WHERE has_table_privilege($1::name, $2::oid, x)`, app, bt.cat.OID, forbidden).Scan(&held); err != nil {
		return nil, err
	}
	if len(held) == 0 {
		return nil, nil
	}
	// Every grant of a forbidden privilege the role benefits from: to itself, to PUBLIC, or
	// to a role whose privileges it has (pg_has_role USAGE: a member, through INHERIT).
	rows, err := h.conn.Query(ctx, `SELECT a.grantee, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END,
			a.grantee = c.relowner, a.grantor = c.relowner, pg_get_userbyid(a.grantor)::text, a.privilege_type
		FROM pg_class c CROSS JOIN LATERAL aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
		WHERE c.oid = $2::oid AND a.privilege_type = ANY($3::text[])
		  AND CASE WHEN a.grantee = 0 THEN true ELSE pg_has_role($1::name, a.grantee, 'USAGE') END
		ORDER BY 2, 5`, app, bt.cat.OID, forbidden)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var fromApp, fromPublic bool
	covered := privSet{}
	via := map[string]privSet{} // role the app role belongs to -> privileges granted to it
	var viaOrder []string
	owner := ""
	foreign := map[string]privSet{} // "grantee\x00grantor" -> privileges granted by a role other than the owner
	var foreignOrder []string
	for rows.Next() {
		var grantee uint32
		var granteeName, grantorName, priv string
		var granteeOwns, byOwner bool
		if err := rows.Scan(&grantee, &granteeName, &granteeOwns, &byOwner, &grantorName, &priv); err != nil {
			return nil, err
		}
		covered[priv] = true
		switch {
		case grantee != appOID && grantee != 0:
			if via[granteeName] == nil {
				viaOrder = append(viaOrder, granteeName)
			}
			addPriv(via, granteeName, priv)
			if granteeOwns {
				owner = granteeName
			}
		case !byOwner:
			key := granteeName + "\x00" + grantorName
			if foreign[key] == nil {
				foreignOrder = append(foreignOrder, key)
			}
			addPriv(foreign, key, priv)
		case grantee == appOID:
			fromApp = true
		default:
			fromPublic = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, r := range viaOrder {
		privs := via[r]
		if r == owner {
			p.Blockers = append(p.Blockers, fmt.Sprintf("%s: application role %s holds %s through role %s, the table's owner; take %s out of %s (a member of the owner can also switch row level security off) — harden does not change role memberships",
				bt.name, app, privs, r, app, r))
			continue
		}
		p.Blockers = append(p.Blockers, fmt.Sprintf("%s: application role %s holds %s through role %s, which it is a member of; revoke the grant from that role (REVOKE %s ON %s FROM %s) or take %s out of %s — harden does not change other roles' privileges or memberships",
			bt.name, app, privs, r, privs, T, catalog.Ident(r), app, r))
	}
	for _, key := range foreignOrder {
		grantee, grantor, _ := strings.Cut(key, "\x00")
		privs := foreign[key]
		target := grantee
		if grantee != "PUBLIC" {
			target = catalog.Ident(grantee)
		}
		p.Blockers = append(p.Blockers, fmt.Sprintf("%s: %s was granted %s by %s, not by the table's owner, so harden cannot revoke it; revoke it as %s (REVOKE %s ON %s FROM %s) or take the grant option from %s (REVOKE GRANT OPTION FOR %s ON %s FROM %s CASCADE)",
			bt.name, grantee, privs, grantor, grantor, privs, T, target, grantor, privs, T, catalog.Ident(grantor)))
	}
	var left []string
	for _, priv := range held {
		if !covered[priv] {
			left = append(left, priv)
		}
	}
	if len(left) > 0 {
		p.Blockers = append(p.Blockers, fmt.Sprintf("%s: application role %s holds %s by a route harden cannot find in the table's grants; remove it by hand",
			bt.name, app, strings.Join(left, ", ")))
	}
	var from []string
	if fromApp {
		from = append(from, catalog.Ident(app))
	}
	if fromPublic {
		from = append(from, "PUBLIC")
	}
	if len(from) == 0 {
		return nil, nil
	}
	return []string{"REVOKE " + strings.Join(forbidden, ", ") + " ON " + T + " FROM " + strings.Join(from, ", ")}, nil
}

// PrintPlan writes the plan: every step with its statements, what blocks writers, and why
// harden would stop.
func PrintPlan(w io.Writer, p *Plan) error {
	if len(p.Steps) == 0 && len(p.Blockers) == 0 {
		_, err := fmt.Fprintln(w, "harden plan: nothing to do; every mapped table is hardened")
		return err
	}
	gate := false
	for i, s := range p.Steps {
		if s.AfterBackfill && !gate && len(p.Nulls) > 0 {
			gate = true
			fmt.Fprintf(w, "---- stop: the steps below wait until no tenant is NULL ----\n")
		}
		var tags []string
		if s.Blocking {
			tags = append(tags, "brief writer-blocking lock")
		}
		if s.Concurrent {
			tags = append(tags, "concurrent")
		}
		tag := ""
		if len(tags) > 0 {
			tag = " [" + strings.Join(tags, ", ") + "]"
		}
		fmt.Fprintf(w, "%3d. %s: %s%s\n", i+1, s.Table, s.Action, tag)
		for _, q := range s.SQL {
			fmt.Fprintf(w, "       %s;\n", q)
		}
	}
	if len(p.Nulls) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, (&NullsRemainError{Tables: p.Nulls}).Error())
	}
	for _, b := range p.Blockers {
		fmt.Fprintf(w, "blocked: %s\n", b)
	}
	_, err := fmt.Fprintf(w, "\n%d step(s)\n", len(p.Steps))
	return err
}
