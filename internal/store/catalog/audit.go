package catalog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"tenantd/internal/store"
)

// The kinds of finding, one per rule of SPEC §6. They are stable strings so that scripts can
// filter on them.
const (
	CheckTable       = "table"        // a mapped table or its tenant column is missing
	CheckNotNull     = "not-null"     // tenant column nullable
	CheckTenantFK    = "tenant-fk"    // no validated FK to tenants with ON DELETE CASCADE
	CheckCompositeFK = "composite-fk" // reference to a tenant-owned table that ignores tenant
	CheckPrimaryKey  = "primary-key"  // no primary key, or one without tenant
	CheckUnique      = "unique"       // unique across all tenants
	CheckIndex       = "index"        // index not leading with tenant, or invalid
	CheckSingleton   = "singleton"    // singleton table without UNIQUE (tenant)
	CheckRLS         = "rls"          // row level security not enabled
	CheckForceRLS    = "force-rls"    // not forced: the owner would bypass it
	CheckPolicy      = "policy"       // tenant policy missing or malformed
	CheckExtraPolicy = "extra-policy" // any other policy, unless a declared exception
	CheckFunction    = "tenant-function"
	CheckAppRole     = "app-role"
	CheckGrants      = "grants"
)

// Finding is one way the catalog falls short of the contract.
type Finding struct {
	Table  string // display name; "-" for database-wide findings
	Check  string
	Detail string
}

// TableSpec names one tenant-owned table when the caller knows them (a tenancy map).
type TableSpec struct {
	Name         string
	TenantColumn string
	Singleton    bool
}

// PolicyException is a policy besides the tenant policy that is known and accepted. It must
// match exactly: table, name, command, permissive, and both expressions.
type PolicyException struct {
	Table     string
	Name      string
	Command   string // ALL, SELECT, INSERT, UPDATE, DELETE
	Using     string
	WithCheck string
}

// Options says what to audit. The zero value (after defaults) audits tenantd's own schema by
// discovery: every table of schema public with a tenant_id column.
type Options struct {
	Schema       string // default "public"
	TenantColumn string // column that marks a table tenant-owned in discovery; default "tenant_id"
	// Tables, when set, is the exact list of tenant-owned tables (from a tenancy map).
	Tables         []TableSpec
	TenantsTable   string // default "tenants"
	TenantsKey     string // default "id"
	TenantFunction Name   // default app.current_tenant
	AppRole        string // default tenantd_app
	// AllowedPolicies are the accepted extra policies; see DefaultOptions.
	AllowedPolicies []PolicyException
}

// MemberSelfRead is tenantd's one deliberate extra policy: a user may read their own
// memberships in every tenant (login lists them), never write them.
var MemberSelfRead = PolicyException{
	Table:   "memberships",
	Name:    "member_self_read",
	Command: "SELECT",
	Using:   "user_id = (SELECT app.current_user_id())",
}

// DefaultOptions audits tenantd's own schema and accepts exactly its known exception.
func DefaultOptions() Options {
	return Options{AllowedPolicies: []PolicyException{MemberSelfRead}}
}

func (o *Options) defaults() {
	if o.Schema == "" {
		o.Schema = "public"
	}
	if o.TenantColumn == "" {
		o.TenantColumn = "tenant_id"
	}
	if o.TenantsTable == "" {
		o.TenantsTable = "tenants"
	}
	if o.TenantsKey == "" {
		o.TenantsKey = "id"
	}
	if o.TenantFunction.Table == "" {
		o.TenantFunction = Name{"app", "current_tenant"}
	}
	if o.AppRole == "" {
		o.AppRole = store.AppRole
	}
}

// Report is the outcome of an audit.
type Report struct {
	Tables   []string // the tenant-owned tables audited
	Findings []Finding
}

// Audit connects to url and audits the live catalog. Any role that can read pg_catalog will
// do; the probe of the tenant function needs EXECUTE on it (the application role has it).
func Audit(ctx context.Context, url string, opts Options) ([]Finding, error) {
	r, err := AuditReport(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	return r.Findings, nil
}

// AuditReport is Audit that also says which tables it looked at.
func AuditReport(ctx context.Context, url string, opts Options) (*Report, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	return AuditConn(ctx, conn, opts)
}

// AuditConn audits through an open connection.
func AuditConn(ctx context.Context, conn *pgx.Conn, opts Options) (*Report, error) {
	opts.defaults()
	schemas := []string{opts.Schema}
	snap, err := Load(ctx, conn, schemas...)
	if err != nil {
		return nil, err
	}
	a := &auditor{opts: opts, snap: snap, conn: conn}
	return a.run(ctx)
}

type auditor struct {
	opts     Options
	snap     *Snapshot
	conn     *pgx.Conn
	findings []Finding
	owned    map[Name]TableSpec // tenant-owned tables
	tenants  Name
}

func (a *auditor) add(table, check, format string, args ...any) {
	a.findings = append(a.findings, Finding{Table: table, Check: check, Detail: fmt.Sprintf(format, args...)})
}

func (a *auditor) run(ctx context.Context) (*Report, error) {
	o := a.opts
	a.tenants = Name{o.Schema, o.TenantsTable}
	a.owned = map[Name]TableSpec{}
	if o.Tables != nil {
		for _, ts := range o.Tables {
			a.owned[Name{o.Schema, ts.Name}] = ts
		}
	} else {
		for n, t := range a.snap.Tables {
			if n != a.tenants && t.Column(o.TenantColumn) != nil {
				a.owned[n] = TableSpec{Name: n.Table, TenantColumn: o.TenantColumn}
			}
		}
	}
	names := make([]Name, 0, len(a.owned))
	for n := range a.owned {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return names[i].Table < names[j].Table })

	tenantsTable := a.snap.Table(a.tenants)
	if tenantsTable == nil {
		a.add(a.tenants.String(), CheckTable, "tenants table %s does not exist", a.tenants)
	} else if tenantsTable.Column(o.TenantsKey) == nil {
		a.add(a.tenants.String(), CheckTable, "tenants table has no key column %s", Ident(o.TenantsKey))
	}

	quoted, err := a.quoteIdents(ctx, names)
	if err != nil {
		return nil, err
	}
	fn, err := a.checkFunction(ctx, names)
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	for _, n := range names {
		rep.Tables = append(rep.Tables, n.String())
		a.checkTable(n, quoted, fn)
	}
	if err := a.checkAppRole(ctx, names); err != nil {
		return nil, err
	}
	order := map[string]int{}
	for i, c := range []string{CheckTable, CheckNotNull, CheckTenantFK, CheckCompositeFK, CheckPrimaryKey,
		CheckUnique, CheckIndex, CheckSingleton, CheckRLS, CheckForceRLS, CheckPolicy, CheckExtraPolicy,
		CheckFunction, CheckAppRole, CheckGrants} {
		order[c] = i
	}
	sort.SliceStable(a.findings, func(i, j int) bool {
		fi, fj := a.findings[i], a.findings[j]
		if fi.Table != fj.Table {
			return fi.Table < fj.Table
		}
		return order[fi.Check] < order[fj.Check]
	})
	rep.Findings = a.findings
	return rep, nil
}

// quoteIdents asks the server how it quotes each tenant column and the function's name, so
// that expected policy texts match PostgreSQL's own deparsing exactly.
func (a *auditor) quoteIdents(ctx context.Context, names []Name) (map[string]string, error) {
	var raw []string
	for _, n := range names {
		raw = append(raw, a.owned[n].TenantColumn)
	}
	raw = append(raw, a.opts.TenantFunction.Schema, a.opts.TenantFunction.Table)
	for _, p := range a.opts.AllowedPolicies {
		raw = append(raw, p.Table)
	}
	var quoted []string
	if err := a.conn.QueryRow(ctx, `SELECT coalesce(array_agg(quote_ident(x) ORDER BY o), '{}') FROM unnest($1::text[]) WITH ORDINALITY AS u(x, o)`, raw).Scan(&quoted); err != nil {
		return nil, fmt.Errorf("quote identifiers: %w", err)
	}
	m := map[string]string{}
	for i, r := range raw {
		m[r] = quoted[i]
	}
	return m, nil
}

// fnInfo is what the audit learned about the tenant function.
type fnInfo struct {
	exists  bool
	retType uint32
	quoted  string // as PostgreSQL deparses it
}

func (a *auditor) checkFunction(ctx context.Context, names []Name) (fnInfo, error) {
	f := a.opts.TenantFunction
	label := f.Schema + "." + f.Table + "()"
	var info fnInfo
	var oid uint32
	var volatility string
	var canExec, appExec, appUsage bool
	err := a.conn.QueryRow(ctx, `
		SELECT p.oid, p.provolatile::text, p.prorettype, quote_ident(n.nspname) || '.' || quote_ident(p.proname),
		  has_function_privilege(p.oid, 'EXECUTE'),
		  coalesce(has_function_privilege(r.oid, p.oid, 'EXECUTE'), false),
		  coalesce(has_schema_privilege(r.oid, n.oid, 'USAGE'), false)
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		LEFT JOIN pg_roles r ON r.rolname = $3
		WHERE n.nspname = $1 AND p.proname = $2 AND p.pronargs = 0`,
		f.Schema, f.Table, a.opts.AppRole).Scan(&oid, &volatility, &info.retType, &info.quoted, &canExec, &appExec, &appUsage)
	if errors.Is(err, pgx.ErrNoRows) {
		a.add("-", CheckFunction, "tenant function %s does not exist", label)
		return info, nil
	}
	if err != nil {
		return info, fmt.Errorf("read tenant function: %w", err)
	}
	info.exists = true
	if volatility != "s" {
		kind := map[string]string{"v": "VOLATILE", "i": "IMMUTABLE"}[volatility]
		a.add("-", CheckFunction, "%s is %s; it must be STABLE so that (SELECT %s) is evaluated once per statement and the tenant index is used", label, kind, label)
	}
	if !appExec {
		a.add("-", CheckFunction, "application role %s may not execute %s", a.opts.AppRole, label)
	}
	if !appUsage {
		a.add("-", CheckFunction, "application role %s has no USAGE on schema %s", a.opts.AppRole, Ident(f.Schema))
	}
	if canExec {
		a.probeFunction(ctx, label, Ident(f.Schema, f.Table))
	}
	return info, nil
}

// probeFunction runs the function the way a request would: with the setting empty it must
// yield NULL (no tenant, no rows), and with a tenant set it must yield that tenant.
func (a *auditor) probeFunction(ctx context.Context, label, call string) {
	probe := func(value string) (string, bool, error) {
		tx, err := a.conn.Begin(ctx)
		if err != nil {
			return "", false, err
		}
		defer tx.Rollback(ctx) //nolint:errcheck // read-only probe, rolled back on every path
		if _, err := tx.Exec(ctx, `SELECT set_config('app.tenant_id', $1, true)`, value); err != nil {
			return "", false, err
		}
		var out *string
		if err := tx.QueryRow(ctx, `SELECT (`+call+`())::text`).Scan(&out); err != nil {
			return "", false, err
		}
		if out == nil {
			return "", true, nil
		}
		return *out, false, nil
	}
	got, isNull, err := probe("")
	if err != nil {
		a.add("-", CheckFunction, "%s fails with the tenant unset: %v", label, err)
		return
	}
	if !isNull {
		a.add("-", CheckFunction, "%s yields %q with app.tenant_id unset; it must yield NULL so that no row matches", label, got)
	}
	const sample = "00000000-0000-4000-8000-00000000c0de"
	got, isNull, err = probe(sample)
	if err == nil && (isNull || got != sample) {
		a.add("-", CheckFunction, "%s does not yield the tenant set in app.tenant_id", label)
	}
}

func (a *auditor) checkTable(n Name, quoted map[string]string, fn fnInfo) {
	o := a.opts
	spec := a.owned[n]
	disp := n.String()
	t := a.snap.Table(n)
	if t == nil {
		a.add(disp, CheckTable, "table does not exist")
		return
	}
	colName := spec.TenantColumn
	col := t.Column(colName)
	if col == nil {
		a.add(disp, CheckTable, "tenant column %s does not exist", Ident(colName))
		return
	}
	qcol := Ident(colName)

	if !col.NotNull {
		a.add(disp, CheckNotNull, "%s is nullable", qcol)
	}
	if fn.exists && fn.retType != col.TypeOID {
		a.add(disp, CheckFunction, "%s is %s but the tenant function returns another type", qcol, col.Type)
	}

	// Foreign key to the tenants table.
	var tenantFK *ForeignKey
	for i := range t.ForeignKeys {
		fk := &t.ForeignKeys[i]
		if fk.Ref == a.tenants && slices.Equal(fk.Columns, []string{colName}) && slices.Equal(fk.RefColumns, []string{o.TenantsKey}) {
			if tenantFK == nil || (fk.OnDelete == "c" && fk.Validated) {
				tenantFK = fk
			}
		}
	}
	switch {
	case tenantFK == nil:
		a.add(disp, CheckTenantFK, "no foreign key %s → %s(%s)", qcol, a.tenants, Ident(o.TenantsKey))
	case tenantFK.OnDelete != "c":
		a.add(disp, CheckTenantFK, "foreign key %s to tenants is not ON DELETE CASCADE", Ident(tenantFK.Name))
	case !tenantFK.Validated:
		a.add(disp, CheckTenantFK, "foreign key %s to tenants is NOT VALID", Ident(tenantFK.Name))
	}

	// References to other tenant-owned tables must carry the tenant.
	for i := range t.ForeignKeys {
		fk := &t.ForeignKeys[i]
		refSpec, ok := a.owned[fk.Ref]
		if !ok {
			continue
		}
		if !fk.Pairs(colName, refSpec.TenantColumn) {
			a.add(disp, CheckCompositeFK, "foreign key %s (%s) → %s(%s) does not include the tenant: a row could reference another tenant's row",
				Ident(fk.Name), IdentList(fk.Columns), fk.Ref, IdentList(fk.RefColumns))
		} else if !fk.Validated {
			a.add(disp, CheckCompositeFK, "foreign key %s is NOT VALID", Ident(fk.Name))
		}
	}

	// Keys and indexes.
	pk := t.PrimaryKey()
	if pk == nil {
		a.add(disp, CheckPrimaryKey, "no primary key")
	} else if !pk.Has(colName) {
		a.add(disp, CheckPrimaryKey, "primary key %s (%s) does not include %s", Ident(pk.Name), IdentList(pk.Columns), qcol)
	}
	for i := range t.Indexes {
		ix := &t.Indexes[i]
		switch {
		case !ix.Valid:
			a.add(disp, CheckIndex, "index %s is invalid (left by a failed concurrent build)", Ident(ix.Name))
		case ix.Primary && !ix.Has(colName):
			// already reported as a primary-key finding
		case ix.Unique && !ix.Has(colName):
			a.add(disp, CheckUnique, "unique index %s (%s) is unique across all tenants", Ident(ix.Name), displayCols(ix.Columns))
		case !ix.Leads(colName):
			a.add(disp, CheckIndex, "index %s (%s) does not lead with %s", Ident(ix.Name), displayCols(ix.Columns), qcol)
		}
	}
	if spec.Singleton && t.UniqueOn([]string{colName}, true) == nil {
		a.add(disp, CheckSingleton, "singleton table has no UNIQUE (%s)", qcol)
	}

	// Row level security.
	if !t.RLS {
		a.add(disp, CheckRLS, "row level security is not enabled")
	}
	if !t.Force {
		a.add(disp, CheckForceRLS, "row level security is not forced: the table owner bypasses it")
	}
	a.checkPolicies(disp, t, quoted[colName], fn)
}

func displayCols(cols []string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		if c == "" {
			out[i] = "<expression>"
		} else {
			out[i] = Ident(c)
		}
	}
	return strings.Join(out, ", ")
}

// TenantPolicyProblems judges one policy against the tenant policy of SPEC §6, given the
// tenant column and the function call as PostgreSQL quotes them. candidate reports whether the
// policy is meant as the tenant policy (its name, or an expression over the tenant function);
// problems is empty when it is exactly right.
func TenantPolicyProblems(p Policy, quotedCol, quotedCall, appRole string) (candidate bool, problems []string) {
	want := NormalizeExpr(quotedCol + " = (SELECT " + quotedCall + "())")
	direct := NormalizeExpr(quotedCol + " = " + quotedCall + "()")
	using, check := NormalizeExpr(p.Using), NormalizeExpr(p.WithCheck)
	if using != want && using != direct && p.Name != "tenant_isolation" {
		return false, nil
	}
	if !p.Permissive {
		problems = append(problems, "is RESTRICTIVE (with no permissive policy nothing is visible)")
	}
	if p.Command != "ALL" {
		problems = append(problems, "applies only to "+p.Command)
	}
	if !slices.Contains(p.Roles, "PUBLIC") && !slices.Contains(p.Roles, appRole) {
		problems = append(problems, "does not apply to "+appRole)
	}
	switch using {
	case want:
	case direct:
		problems = append(problems, "calls the tenant function directly instead of as (SELECT ...), so it runs per row and the index on the tenant is not used")
	default:
		problems = append(problems, fmt.Sprintf("USING is %q", p.Using))
	}
	if check != "" && check != want {
		problems = append(problems, fmt.Sprintf("WITH CHECK is %q", p.WithCheck))
	}
	return true, problems
}

func (a *auditor) checkPolicies(disp string, t *Table, qcol string, fn fnInfo) {
	call := fn.quoted
	if call == "" {
		call = Ident(a.opts.TenantFunction.Schema) + "." + Ident(a.opts.TenantFunction.Table)
	}
	found := false
	var problems []string
	for _, p := range t.Policies {
		if candidate, why := TenantPolicyProblems(p, qcol, call, a.opts.AppRole); candidate {
			if len(why) == 0 {
				if found {
					a.add(disp, CheckExtraPolicy, "policy %s duplicates the tenant policy", Ident(p.Name))
				}
				found = true
				continue
			}
			problems = append(problems, fmt.Sprintf("policy %s %s", Ident(p.Name), strings.Join(why, "; ")))
			continue
		}
		if a.allowed(t, p) {
			continue
		}
		kind := "PERMISSIVE"
		if !p.Permissive {
			kind = "RESTRICTIVE"
		}
		a.add(disp, CheckExtraPolicy, "%s policy %s FOR %s USING %q is not the tenant policy and not a declared exception", kind, Ident(p.Name), p.Command, p.Using)
	}
	for _, p := range problems {
		a.add(disp, CheckPolicy, "%s", p)
	}
	if !found && len(problems) == 0 {
		a.add(disp, CheckPolicy, "no policy USING/WITH CHECK (%s = (SELECT %s()))", qcol, call)
	}
}

func (a *auditor) allowed(t *Table, p Policy) bool {
	for _, e := range a.opts.AllowedPolicies {
		if e.Table == t.Table && e.Name == p.Name && strings.EqualFold(e.Command, p.Command) && p.Permissive &&
			NormalizeExpr(e.Using) == NormalizeExpr(p.Using) && NormalizeExpr(e.WithCheck) == NormalizeExpr(p.WithCheck) {
			return true
		}
	}
	return false
}

func (a *auditor) checkAppRole(ctx context.Context, names []Name) error {
	role := a.opts.AppRole
	var super, bypass bool
	err := a.conn.QueryRow(ctx, `SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1`, role).Scan(&super, &bypass)
	if errors.Is(err, pgx.ErrNoRows) {
		a.add("-", CheckAppRole, "application role %s does not exist", role)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read application role: %w", err)
	}
	if super {
		a.add("-", CheckAppRole, "application role %s is a superuser: row level security does not apply to it", role)
	}
	if bypass {
		a.add("-", CheckAppRole, "application role %s has BYPASSRLS", role)
	}
	rows, err := a.conn.Query(ctx, `
		SELECT r.rolname FROM pg_roles r
		WHERE (r.rolsuper OR r.rolbypassrls) AND r.rolname <> $1 AND pg_has_role($1, r.oid, 'MEMBER')`, role)
	if err != nil {
		return fmt.Errorf("read role memberships: %w", err)
	}
	privileged, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, p := range privileged {
		a.add("-", CheckAppRole, "application role %s is a member of %s, which bypasses row level security", role, p)
	}
	var owns int
	if err := a.conn.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		         WHERE pg_get_userbyid(c.relowner) = $1 AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%')
		     + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		         WHERE pg_get_userbyid(p.proowner) = $1 AND n.nspname NOT IN ('pg_catalog', 'information_schema'))
		     + (SELECT count(*) FROM pg_namespace n WHERE pg_get_userbyid(n.nspowner) = $1)`, role).Scan(&owns); err != nil {
		return fmt.Errorf("read ownership: %w", err)
	}
	if owns > 0 {
		a.add("-", CheckAppRole, "application role %s owns %d objects; it must own nothing (an owner can disable row level security)", role, owns)
	}
	var oids []uint32
	byOID := map[uint32]Name{}
	for _, n := range names {
		if t := a.snap.Table(n); t != nil {
			oids = append(oids, t.OID)
			byOID[t.OID] = n
		}
	}
	rows, err = a.conn.Query(ctx, `
		SELECT c.oid, pg_get_userbyid(c.relowner)::text, pg_has_role($1, c.relowner, 'MEMBER'),
		  has_table_privilege($1, c.oid, 'TRUNCATE'), has_table_privilege($1, c.oid, 'REFERENCES')
		FROM pg_class c WHERE c.oid = ANY($2)`, role, oids)
	if err != nil {
		return fmt.Errorf("read table privileges: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var oid uint32
		var owner string
		var member, truncate, references bool
		if err := rows.Scan(&oid, &owner, &member, &truncate, &references); err != nil {
			return err
		}
		disp := byOID[oid].String()
		if member {
			a.add(disp, CheckAppRole, "application role %s owns the table (through role %s)", role, owner)
		}
		if truncate {
			a.add(disp, CheckGrants, "application role %s may TRUNCATE, which ignores row level security", role)
		}
		if references {
			a.add(disp, CheckGrants, "application role %s has REFERENCES, which lets it probe other tenants' keys", role)
		}
	}
	return rows.Err()
}
