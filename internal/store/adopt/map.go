// Package adopt brings an existing shared-schema PostgreSQL database, whose tenant column is
// nullable and often missing, up to tenantd's data contract (SPEC §6) without taking it down:
// it reports the missing tenants, backfills them from related rows, and hardens the schema
// with constraints and row level security in steps that hold writer-blocking locks only
// briefly. Everything is driven by a declarative tenancy map (see the README, "Adoption: the tenancy map").
package adopt

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"tenantd/internal/store"
	"tenantd/internal/store/catalog"
)

// Map is a tenancy map: which tables are tenant-owned, how their tenant is named and typed,
// and how a missing tenant is derived from related rows.
type Map struct {
	// Schema holds every mapped table (default "public").
	Schema string `yaml:"schema"`
	// Tenants is the table that defines tenants.
	Tenants Tenants `yaml:"tenants"`
	// TenantColumn is the default tenant column of every table (default "tenant_id").
	TenantColumn string `yaml:"tenant_column"`
	// AppRole is the role the application connects as (default tenantd_app): it gets the
	// grants and must not own, bypass or be superuser.
	AppRole string `yaml:"app_role"`
	// TenantFunction is the STABLE function policies call (default app.current_tenant).
	TenantFunction string `yaml:"tenant_function"`
	// Tables are the tenant-owned tables.
	Tables []Table `yaml:"tables"`
	// AllowedPolicies are extra policies the schema audit accepts.
	AllowedPolicies []AllowedPolicy `yaml:"allowed_policies"`

	digest string
}

// Tenants names the tenants table and its key.
type Tenants struct {
	Table string `yaml:"table"`
	Key   string `yaml:"key"`
	// Type of the key: uuid, text, bigint or integer. Legacy keys are often text (cuid).
	Type string `yaml:"type"`
}

// Table is one tenant-owned table.
type Table struct {
	Table        string `yaml:"table"`
	TenantColumn string `yaml:"tenant_column"`
	// PrimaryKey is the row identity without the tenant (default: the table's primary key
	// minus the tenant column). Hardening makes (tenant, primary key) the primary key.
	PrimaryKey Columns `yaml:"primary_key"`
	// Singleton tables hold at most one row per tenant.
	Singleton bool `yaml:"singleton"`
	// Derive lists the rules that find a missing tenant, in the order they are reported.
	Derive []Rule `yaml:"derive"`
}

// Rule derives a row's tenant by following foreign keys to a row whose tenant is known.
type Rule struct {
	Name string `yaml:"name"`
	Path []Hop  `yaml:"path"`
}

// Hop follows From (columns of the current row) to the row of table To whose Key columns
// equal them (Key defaults to To's row identity). The tenant is read from the last hop's
// table: its tenant column, or its key when the last hop reaches the tenants table itself.
type Hop struct {
	From Columns `yaml:"from"`
	To   string  `yaml:"to"`
	Key  Columns `yaml:"key"`
}

// AllowedPolicy is an accepted extra policy (see catalog.PolicyException).
type AllowedPolicy struct {
	Table     string `yaml:"table"`
	Name      string `yaml:"name"`
	Command   string `yaml:"command"`
	Using     string `yaml:"using"`
	WithCheck string `yaml:"with_check"`
}

// Columns is one column name or a list of them; YAML accepts either form.
type Columns []string

// UnmarshalYAML accepts a scalar or a sequence.
func (c *Columns) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*c = Columns{unquote(n.Value)}
		return nil
	case yaml.SequenceNode:
		var s []string
		if err := n.Decode(&s); err != nil {
			return err
		}
		for i := range s {
			s[i] = unquote(s[i])
		}
		*c = s
		return nil
	}
	return fmt.Errorf("line %d: want a column name or a list of them", n.Line)
}

// unquote lets a map spell a mixed-case name as SQL would ("tenantId") or bare (tenantId);
// both mean the same case-preserved name.
func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
	}
	return s
}

//go:embed tenantd.yaml
var tenantdMap []byte

// DefaultMap is the map of tenantd's own schema.
func DefaultMap() *Map {
	m, err := ParseMap(tenantdMap)
	if err != nil {
		panic("embedded tenancy map: " + err.Error())
	}
	return m
}

// LoadMap reads a map from a YAML or JSON file.
func LoadMap(path string) (*Map, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := ParseMap(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// ParseMap parses a map (YAML, or JSON, which YAML reads as well), applies defaults and checks
// it for internal consistency. Unknown keys are errors, so a misspelt option is not silently
// ignored.
func ParseMap(b []byte) (*Map, error) {
	var m Map
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("parse tenancy map: %w", err)
	}
	sum := sha256.Sum256(b)
	m.digest = hex.EncodeToString(sum[:8])
	if err := m.normalize(); err != nil {
		return nil, err
	}
	return &m, nil
}

// tenantKeyTypes are the key types the map may declare, with the SQL cast that turns the
// app.tenant_id setting into that type inside the generated tenant function. A closed list
// keeps type names out of the hands of the map's author.
var tenantKeyTypes = map[string]string{
	"uuid":    "::uuid",
	"text":    "",
	"bigint":  "::bigint",
	"integer": "::integer",
}

func (m *Map) normalize() error {
	m.Schema = unquote(m.Schema)
	if m.Schema == "" {
		m.Schema = "public"
	}
	m.Tenants.Table, m.Tenants.Key = unquote(m.Tenants.Table), unquote(m.Tenants.Key)
	if m.Tenants.Table == "" {
		return errors.New("tenancy map: tenants.table is required")
	}
	if m.Tenants.Key == "" {
		m.Tenants.Key = "id"
	}
	m.Tenants.Type = strings.ToLower(strings.TrimSpace(m.Tenants.Type))
	if m.Tenants.Type == "" {
		m.Tenants.Type = "uuid"
	}
	if _, ok := tenantKeyTypes[m.Tenants.Type]; !ok {
		return fmt.Errorf("tenancy map: tenants.type %q: want uuid, text, bigint or integer", m.Tenants.Type)
	}
	m.TenantColumn = unquote(m.TenantColumn)
	if m.TenantColumn == "" {
		m.TenantColumn = "tenant_id"
	}
	if m.AppRole == "" {
		m.AppRole = store.AppRole
	}
	if m.TenantFunction == "" {
		m.TenantFunction = "app.current_tenant"
	}
	if parts := strings.Split(m.TenantFunction, "."); len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return fmt.Errorf("tenancy map: tenant_function %q: want schema.name", m.TenantFunction)
	}
	if len(m.Tables) == 0 {
		return errors.New("tenancy map: no tables")
	}
	seen := map[string]bool{}
	for i := range m.Tables {
		t := &m.Tables[i]
		t.Table = unquote(t.Table)
		t.TenantColumn = unquote(t.TenantColumn)
		if t.Table == "" {
			return fmt.Errorf("tenancy map: table %d has no name", i+1)
		}
		if t.Table == m.Tenants.Table {
			return fmt.Errorf("tenancy map: the tenants table %q cannot itself be tenant-owned", t.Table)
		}
		if seen[t.Table] {
			return fmt.Errorf("tenancy map: table %q listed twice", t.Table)
		}
		seen[t.Table] = true
		if t.TenantColumn == "" {
			t.TenantColumn = m.TenantColumn
		}
		rules := map[string]bool{}
		for j := range t.Derive {
			r := &t.Derive[j]
			if r.Name == "" {
				r.Name = fmt.Sprintf("rule%d", j+1)
			}
			if rules[r.Name] {
				return fmt.Errorf("tenancy map: %s: rule %q listed twice", t.Table, r.Name)
			}
			rules[r.Name] = true
			if len(r.Path) == 0 {
				return fmt.Errorf("tenancy map: %s: rule %q has an empty path", t.Table, r.Name)
			}
			for k := range r.Path {
				h := &r.Path[k]
				h.To = unquote(h.To)
				if len(h.From) == 0 || h.To == "" {
					return fmt.Errorf("tenancy map: %s: rule %q hop %d needs from and to", t.Table, r.Name, k+1)
				}
				if len(h.Key) > 0 && len(h.Key) != len(h.From) {
					return fmt.Errorf("tenancy map: %s: rule %q hop %d: from and key differ in length", t.Table, r.Name, k+1)
				}
			}
		}
	}
	return nil
}

// Digest identifies the map's text; a resumed backfill must use the same map.
func (m *Map) Digest() string { return m.digest }

// Function is the tenant function's schema-qualified name.
func (m *Map) Function() catalog.Name {
	parts := strings.SplitN(m.TenantFunction, ".", 2)
	return catalog.Name{Schema: unquote(parts[0]), Table: unquote(parts[1])}
}

// TenantsName is the tenants table's qualified name.
func (m *Map) TenantsName() catalog.Name {
	return catalog.Name{Schema: m.Schema, Table: m.Tenants.Table}
}

// Table returns the mapped table or nil.
func (m *Map) Table(name string) *Table {
	for i := range m.Tables {
		if m.Tables[i].Table == name {
			return &m.Tables[i]
		}
	}
	return nil
}

// AuditOptions turns the map into the schema audit's options, so `check schema --map` judges
// exactly the tables the map hardened.
func (m *Map) AuditOptions() catalog.Options {
	o := catalog.Options{
		Schema:         m.Schema,
		TenantsTable:   m.Tenants.Table,
		TenantsKey:     m.Tenants.Key,
		TenantFunction: m.Function(),
		AppRole:        m.AppRole,
		Tables:         []catalog.TableSpec{},
	}
	for _, t := range m.Tables {
		o.Tables = append(o.Tables, catalog.TableSpec{Name: t.Table, TenantColumn: t.TenantColumn, Singleton: t.Singleton})
	}
	for _, p := range m.AllowedPolicies {
		o.AllowedPolicies = append(o.AllowedPolicies, catalog.PolicyException{
			Table: unquote(p.Table), Name: p.Name, Command: strings.ToUpper(p.Command), Using: p.Using, WithCheck: p.WithCheck,
		})
	}
	return o
}

// bound is a map checked against a live catalog: every name resolved, every default filled.
type bound struct {
	m       *Map
	snap    *catalog.Snapshot
	tables  []*boundTable // in map order
	byName  map[string]*boundTable
	tenants *catalog.Table
	order   [][]*boundTable // strongly connected components, dependencies first
}

type boundTable struct {
	*Table
	name catalog.Name
	cat  *catalog.Table
	key  []string // row identity without the tenant
	// uniques are the per-tenant unique keys the backfill must not break: column sets K
	// (without the tenant; empty for a singleton) such that UNIQUE (tenant, K) holds once the
	// table is hardened, see tenantUniques.
	uniques [][]string
	rules   []boundRule
	comp    int // index into bound.order
	cyclic  bool
	index   int // position in the map, for generated names
}

type boundRule struct {
	name  string
	hops  []boundHop
	final *boundTable // nil when the path ends at the tenants table
	// yield is the column of the last hop's table that holds the tenant.
	yield string
}

type boundHop struct {
	from []string
	to   catalog.Name
	key  []string
	// unique: the key is unique in its table, so the hop reaches at most one row.
	unique bool
}

// unique reports whether every hop reaches at most one row.
func (r boundRule) unique() bool {
	for _, h := range r.hops {
		if !h.unique {
			return false
		}
	}
	return true
}

// bind resolves the map against the catalog snapshot.
func (m *Map) bind(snap *catalog.Snapshot) (*bound, error) {
	b := &bound{m: m, snap: snap, byName: map[string]*boundTable{}}
	b.tenants = snap.Table(m.TenantsName())
	if b.tenants == nil {
		return nil, fmt.Errorf("tenants table %s does not exist", m.TenantsName())
	}
	tkey := b.tenants.Column(m.Tenants.Key)
	if tkey == nil {
		return nil, fmt.Errorf("tenants table %s has no column %s", m.TenantsName(), catalog.Ident(m.Tenants.Key))
	}
	if tkey.Type != m.Tenants.Type {
		return nil, fmt.Errorf("tenancy map says the tenants key is %s, but %s.%s is %s", m.Tenants.Type, m.TenantsName(), catalog.Ident(m.Tenants.Key), tkey.Type)
	}
	var problems []string
	for i := range m.Tables {
		t := &m.Tables[i]
		n := catalog.Name{Schema: m.Schema, Table: t.Table}
		ct := snap.Table(n)
		if ct == nil {
			problems = append(problems, fmt.Sprintf("table %s does not exist", n))
			continue
		}
		col := ct.Column(t.TenantColumn)
		if col == nil {
			problems = append(problems, fmt.Sprintf("%s has no tenant column %s", n, catalog.Ident(t.TenantColumn)))
			continue
		}
		if col.TypeOID != tkey.TypeOID {
			problems = append(problems, fmt.Sprintf("%s.%s is %s but the tenants key is %s", n, catalog.Ident(t.TenantColumn), col.Type, tkey.Type))
		}
		bt := &boundTable{Table: t, name: n, cat: ct, index: i}
		bt.key = t.PrimaryKey
		if len(bt.key) == 0 {
			if pk := ct.PrimaryKey(); pk != nil {
				for _, c := range pk.Columns {
					if c != t.TenantColumn {
						bt.key = append(bt.key, c)
					}
				}
			}
		}
		if len(bt.key) == 0 {
			problems = append(problems, fmt.Sprintf("%s has no primary key; name its row identity in primary_key", n))
			continue
		}
		for _, c := range bt.key {
			if ct.Column(c) == nil {
				problems = append(problems, fmt.Sprintf("%s has no column %s (primary_key)", n, catalog.Ident(c)))
			}
		}
		bt.uniques = tenantUniques(bt)
		b.tables = append(b.tables, bt)
		b.byName[t.Table] = bt
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("tenancy map does not fit the database:\n  %s", strings.Join(problems, "\n  "))
	}
	for _, bt := range b.tables {
		for _, r := range bt.Derive {
			br, err := b.bindRule(bt, r)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			bt.rules = append(bt.rules, br)
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("tenancy map does not fit the database:\n  %s", strings.Join(problems, "\n  "))
	}
	b.order = components(b.tables)
	return b, nil
}

// tenantUniques lists the per-tenant unique keys of a table that giving a row its tenant can
// break: the singleton's (the tenant alone), the hardened primary key (tenant, key), and every
// unique index over plain columns that includes the tenant (harden keeps those, and builds the
// per-tenant twins of the others). Keys a global unique index already implies are left out
// (a global unique (x) makes (tenant, x) unique whatever the tenant), and so is a key that
// contains another one (its collisions are the other's too). The result is the singleton's key
// first, then in the order found.
func tenantUniques(bt *boundTable) [][]string {
	c := bt.TenantColumn
	implied := func(k []string) bool {
		for _, ix := range bt.cat.Indexes {
			if !ix.Unique || !ix.Valid || ix.Partial || len(ix.Columns) == 0 {
				continue
			}
			if !slices.ContainsFunc(ix.Columns, func(x string) bool { return x == "" || x == c || !slices.Contains(k, x) }) {
				return true
			}
		}
		return false
	}
	subset := func(a, b []string) bool { // every column of a is in b
		return !slices.ContainsFunc(a, func(x string) bool { return !slices.Contains(b, x) })
	}
	var out [][]string
	add := func(k []string) {
		if implied(k) || slices.ContainsFunc(out, func(o []string) bool { return subset(o, k) }) {
			return
		}
		out = slices.DeleteFunc(out, func(o []string) bool { return subset(k, o) })
		out = append(out, k)
	}
	if bt.Singleton {
		add([]string{})
	}
	add(bt.key)
	for _, ix := range bt.cat.Indexes {
		if !ix.Unique || !ix.Valid || ix.Partial || !ix.Simple || !ix.Has(c) {
			continue
		}
		add(slices.DeleteFunc(slices.Clone(ix.Columns), func(x string) bool { return x == c }))
	}
	return out
}

func (b *bound) bindRule(bt *boundTable, r Rule) (boundRule, error) {
	br := boundRule{name: r.Name}
	cur := bt.cat
	for i, h := range r.Path {
		for _, c := range h.From {
			if cur.Column(c) == nil {
				return br, fmt.Errorf("%s: rule %q hop %d: %s has no column %s", bt.name, r.Name, i+1, cur.Name, catalog.Ident(c))
			}
		}
		to := catalog.Name{Schema: b.m.Schema, Table: h.To}
		tt := b.snap.Table(to)
		if tt == nil {
			return br, fmt.Errorf("%s: rule %q hop %d: table %s does not exist", bt.name, r.Name, i+1, to)
		}
		key := []string(h.Key)
		if len(key) == 0 {
			switch {
			case b.byName[h.To] != nil:
				key = b.byName[h.To].key
			case to == b.tenants.Name:
				key = []string{b.m.Tenants.Key}
			case tt.PrimaryKey() != nil:
				key = tt.PrimaryKey().Columns
			}
		}
		if len(key) != len(h.From) {
			return br, fmt.Errorf("%s: rule %q hop %d: %d column(s) cannot match key (%s) of %s", bt.name, r.Name, i+1, len(h.From), catalog.IdentList(key), to)
		}
		for _, c := range key {
			if tt.Column(c) == nil {
				return br, fmt.Errorf("%s: rule %q hop %d: %s has no column %s", bt.name, r.Name, i+1, to, catalog.Ident(c))
			}
		}
		br.hops = append(br.hops, boundHop{from: h.From, to: to, key: key, unique: tt.UniqueOn(key, false) != nil})
		cur = tt
	}
	last := br.hops[len(br.hops)-1].to
	switch {
	case last == b.tenants.Name:
		br.yield = b.m.Tenants.Key
	case b.byName[last.Table] != nil && last.Schema == b.m.Schema:
		br.final = b.byName[last.Table]
		br.yield = br.final.TenantColumn
	default:
		return br, fmt.Errorf("%s: rule %q ends at %s, which is neither tenant-owned in the map nor the tenants table", bt.name, r.Name, last)
	}
	return br, nil
}

// components orders the tables so that every table comes after the tables its rules read
// tenants from (Tarjan's algorithm yields strongly connected components in reverse
// topological order, which is exactly dependencies first). Tables in a cycle share a
// component and are resolved together in repeated passes.
func components(tables []*boundTable) [][]*boundTable {
	index := map[*boundTable]int{}
	low := map[*boundTable]int{}
	onStack := map[*boundTable]bool{}
	var stack []*boundTable
	var out [][]*boundTable
	next := 0
	var visit func(t *boundTable)
	visit = func(t *boundTable) {
		index[t], low[t] = next, next
		next++
		stack = append(stack, t)
		onStack[t] = true
		for _, r := range t.rules {
			d := r.final
			if d == nil {
				continue
			}
			if _, seen := index[d]; !seen {
				visit(d)
				low[t] = min(low[t], low[d])
			} else if onStack[d] {
				low[t] = min(low[t], index[d])
			}
		}
		if low[t] == index[t] {
			var comp []*boundTable
			for {
				x := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[x] = false
				comp = append(comp, x)
				if x == t {
					break
				}
			}
			slices.Reverse(comp)
			out = append(out, comp)
		}
	}
	for _, t := range tables {
		if _, seen := index[t]; !seen {
			visit(t)
		}
	}
	for i, comp := range out {
		for _, t := range comp {
			t.comp = i
			t.cyclic = len(comp) > 1
			for _, r := range t.rules {
				if r.final == t {
					t.cyclic = true
				}
			}
		}
	}
	return out
}
