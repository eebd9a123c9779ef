// Package catalog reads the parts of PostgreSQL's system catalog that decide whether a table is
// really isolated per tenant (columns, keys, indexes, foreign keys, row level security, policies)
// and audits them against the data rules of SPEC §6: `tenantd check schema`.
//
// The snapshot types are shared with the adoption toolkit (package adopt), which plans its
// hardening steps from the same view of the catalog that the audit later judges, so that the two
// cannot disagree about what "done" means.
package catalog

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier is what the catalog readers need: a *pgx.Conn, a pgx.Tx or a pool all qualify.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Ident quotes a possibly schema-qualified SQL identifier. Every name this package and the
// adoption toolkit put into SQL goes through it, so mixed-case legacy names such as "tenantId"
// keep their case and no name can change the statement around it.
func Ident(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

// IdentList quotes each name and joins them with ", ".
func IdentList(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += Ident(n)
	}
	return out
}

// Name is a schema-qualified relation name.
type Name struct{ Schema, Table string }

// Quoted is the name ready for SQL.
func (n Name) Quoted() string { return Ident(n.Schema, n.Table) }

func (n Name) String() string {
	if n.Schema == "public" {
		return n.Table
	}
	return n.Schema + "." + n.Table
}

// Column is one attribute of a table.
type Column struct {
	Num     int16
	Name    string
	Type    string // format_type(), e.g. "text", "uuid", "character varying(30)"
	TypeOID uint32
	NotNull bool
}

// Index is one index on a table, with the constraint it backs, if any.
type Index struct {
	Name    string
	Unique  bool
	Primary bool
	// Valid is false for an index a failed CREATE INDEX CONCURRENTLY left behind: it costs
	// writes but enforces and serves nothing.
	Valid bool
	// Columns are the key columns in order; an expression column is "".
	Columns []string
	Partial bool
	// Simple is true for a btree over plain columns with default operator classes, ordering
	// and no INCLUDE list: an index the hardening step can rebuild with tenant in front.
	Simple bool
	// Constraint names the PRIMARY KEY/UNIQUE/EXCLUDE constraint the index backs ("" if none).
	Constraint string
}

// Has reports whether col is one of the index's key columns.
func (ix *Index) Has(col string) bool { return slices.Contains(ix.Columns, col) }

// Leads reports whether col is the index's first key column.
func (ix *Index) Leads(col string) bool { return len(ix.Columns) > 0 && ix.Columns[0] == col }

// ForeignKey is one FOREIGN KEY constraint of a table.
type ForeignKey struct {
	Name       string
	Columns    []string
	Ref        Name
	RefColumns []string
	// OnDelete and OnUpdate are pg_constraint codes: a no action, r restrict, c cascade,
	// n set null, d set default.
	OnDelete, OnUpdate string
	Validated          bool
}

// Pairs reports whether the key maps column col of the table onto column ref of the
// referenced table.
func (fk *ForeignKey) Pairs(col, ref string) bool {
	for i, c := range fk.Columns {
		if c == col && i < len(fk.RefColumns) && fk.RefColumns[i] == ref {
			return true
		}
	}
	return false
}

// Check is one CHECK constraint.
type Check struct {
	Name      string
	Def       string
	Validated bool
}

// Policy is one row level security policy.
type Policy struct {
	Name       string
	Command    string // ALL, SELECT, INSERT, UPDATE, DELETE
	Permissive bool
	Roles      []string // "PUBLIC" for the public pseudo-role
	Using      string   // deparsed, "" when absent
	WithCheck  string   // deparsed, "" when absent
}

// Table is everything the audit and the hardening planner need to know about one table.
type Table struct {
	Name
	OID         uint32
	Owner       string
	RLS, Force  bool
	Columns     []Column
	Indexes     []Index
	ForeignKeys []ForeignKey
	Checks      []Check
	Policies    []Policy
	// Sequences owned by the table's columns (serial/identity), schema-qualified.
	Sequences []Name
}

// Column returns the named column or nil.
func (t *Table) Column(name string) *Column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}

// PrimaryKey returns the index backing the primary key, or nil.
func (t *Table) PrimaryKey() *Index {
	for i := range t.Indexes {
		if t.Indexes[i].Primary {
			return &t.Indexes[i]
		}
	}
	return nil
}

// Index returns the named index or nil.
func (t *Table) Index(name string) *Index {
	for i := range t.Indexes {
		if t.Indexes[i].Name == name {
			return &t.Indexes[i]
		}
	}
	return nil
}

// ForeignKey returns the named foreign key or nil.
func (t *Table) ForeignKey(name string) *ForeignKey {
	for i := range t.ForeignKeys {
		if t.ForeignKeys[i].Name == name {
			return &t.ForeignKeys[i]
		}
	}
	return nil
}

// Check returns the named CHECK constraint or nil.
func (t *Table) Check(name string) *Check {
	for i := range t.Checks {
		if t.Checks[i].Name == name {
			return &t.Checks[i]
		}
	}
	return nil
}

// UniqueOn returns a valid unique index whose key columns are exactly cols (in this order when
// ordered is true, as a set otherwise), or nil.
func (t *Table) UniqueOn(cols []string, ordered bool) *Index {
	for i := range t.Indexes {
		ix := &t.Indexes[i]
		if !ix.Unique || !ix.Valid || ix.Partial || len(ix.Columns) != len(cols) {
			continue
		}
		if ordered && slices.Equal(ix.Columns, cols) {
			return ix
		}
		if !ordered && sameSet(ix.Columns, cols) {
			return ix
		}
	}
	return nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// Snapshot is the catalog of some schemas at one moment.
type Snapshot struct {
	Tables map[Name]*Table
}

// Table returns the named table or nil.
func (s *Snapshot) Table(n Name) *Table { return s.Tables[n] }

// Reference is a foreign key of table From.
type Reference struct {
	From *Table
	FK   *ForeignKey
}

// ReferencedBy lists the foreign keys of every loaded table that point at n.
func (s *Snapshot) ReferencedBy(n Name) []Reference {
	var out []Reference
	for _, t := range s.Tables {
		for i := range t.ForeignKeys {
			if t.ForeignKeys[i].Ref == n {
				out = append(out, Reference{From: t, FK: &t.ForeignKeys[i]})
			}
		}
	}
	return out
}

// Load reads the tables (ordinary and partitioned) of the given schemas.
func Load(ctx context.Context, q Querier, schemas ...string) (*Snapshot, error) {
	s := &Snapshot{Tables: map[Name]*Table{}}
	byOID := map[uint32]*Table{}
	rows, err := q.Query(ctx, `
		SELECT c.oid, n.nspname, c.relname, pg_get_userbyid(c.relowner), c.relrowsecurity, c.relforcerowsecurity
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p')`, schemas)
	if err != nil {
		return nil, fmt.Errorf("read tables: %w", err)
	}
	for rows.Next() {
		t := &Table{}
		if err := rows.Scan(&t.OID, &t.Schema, &t.Table, &t.Owner, &t.RLS, &t.Force); err != nil {
			return nil, err
		}
		s.Tables[t.Name] = t
		byOID[t.OID] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read tables: %w", err)
	}
	oids := make([]uint32, 0, len(byOID))
	for oid := range byOID {
		oids = append(oids, oid)
	}

	rows, err = q.Query(ctx, `
		SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.atttypid, a.attnotnull
		FROM pg_attribute a
		WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attrelid, a.attnum`, oids)
	if err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	for rows.Next() {
		var oid uint32
		var c Column
		if err := rows.Scan(&oid, &c.Num, &c.Name, &c.Type, &c.TypeOID, &c.NotNull); err != nil {
			return nil, err
		}
		byOID[oid].Columns = append(byOID[oid].Columns, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}

	rows, err = q.Query(ctx, `
		SELECT i.indrelid, ic.relname, i.indisunique, i.indisprimary, i.indisvalid AND i.indisready,
		  ARRAY(SELECT coalesce(a.attname::text, '')
		        FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(num, ord)
		        LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num
		        WHERE k.ord <= i.indnkeyatts ORDER BY k.ord),
		  i.indpred IS NOT NULL,
		  am.amname = 'btree' AND i.indexprs IS NULL AND i.indpred IS NULL AND i.indnatts = i.indnkeyatts
		    AND NOT EXISTS (SELECT 1 FROM unnest(i.indoption::int2[]) AS o(v) WHERE o.v <> 0)
		    AND NOT EXISTS (SELECT 1 FROM unnest(i.indclass::oid[]) AS cl(v) JOIN pg_opclass op ON op.oid = cl.v WHERE NOT op.opcdefault),
		  coalesce(con.conname::text, '')
		FROM pg_index i
		JOIN pg_class ic ON ic.oid = i.indexrelid
		JOIN pg_am am ON am.oid = ic.relam
		LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
		WHERE i.indrelid = ANY($1)
		ORDER BY i.indrelid, ic.relname`, oids)
	if err != nil {
		return nil, fmt.Errorf("read indexes: %w", err)
	}
	for rows.Next() {
		var oid uint32
		var ix Index
		if err := rows.Scan(&oid, &ix.Name, &ix.Unique, &ix.Primary, &ix.Valid, &ix.Columns, &ix.Partial, &ix.Simple, &ix.Constraint); err != nil {
			return nil, err
		}
		byOID[oid].Indexes = append(byOID[oid].Indexes, ix)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read indexes: %w", err)
	}

	rows, err = q.Query(ctx, `
		SELECT con.conrelid, con.conname, con.contype::text,
		  ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(num, ord)
		        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord),
		  coalesce(rn.nspname::text, ''), coalesce(rc.relname::text, ''),
		  ARRAY(SELECT a.attname::text FROM unnest(coalesce(con.confkey, '{}')) WITH ORDINALITY AS k(num, ord)
		        JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.ord),
		  con.confdeltype::text, con.confupdtype::text, con.convalidated,
		  CASE WHEN con.contype = 'c' THEN pg_get_constraintdef(con.oid) ELSE '' END
		FROM pg_constraint con
		LEFT JOIN pg_class rc ON rc.oid = con.confrelid
		LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
		WHERE con.conrelid = ANY($1) AND con.contype IN ('f', 'c')
		ORDER BY con.conrelid, con.conname`, oids)
	if err != nil {
		return nil, fmt.Errorf("read constraints: %w", err)
	}
	for rows.Next() {
		var oid uint32
		var name, typ, refSchema, refTable, del, upd, def string
		var cols, refCols []string
		var validated bool
		if err := rows.Scan(&oid, &name, &typ, &cols, &refSchema, &refTable, &refCols, &del, &upd, &validated, &def); err != nil {
			return nil, err
		}
		t := byOID[oid]
		if typ == "f" {
			t.ForeignKeys = append(t.ForeignKeys, ForeignKey{Name: name, Columns: cols, Ref: Name{refSchema, refTable},
				RefColumns: refCols, OnDelete: del, OnUpdate: upd, Validated: validated})
		} else {
			t.Checks = append(t.Checks, Check{Name: name, Def: def, Validated: validated})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read constraints: %w", err)
	}

	rows, err = q.Query(ctx, `
		SELECT p.polrelid, p.polname,
		  CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
		  p.polpermissive,
		  ARRAY(SELECT CASE WHEN r.oid = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(r.oid)::text END FROM unnest(p.polroles) AS r(oid)),
		  coalesce(pg_get_expr(p.polqual, p.polrelid), ''), coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')
		FROM pg_policy p WHERE p.polrelid = ANY($1) ORDER BY p.polrelid, p.polname`, oids)
	if err != nil {
		return nil, fmt.Errorf("read policies: %w", err)
	}
	for rows.Next() {
		var oid uint32
		var p Policy
		if err := rows.Scan(&oid, &p.Name, &p.Command, &p.Permissive, &p.Roles, &p.Using, &p.WithCheck); err != nil {
			return nil, err
		}
		byOID[oid].Policies = append(byOID[oid].Policies, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read policies: %w", err)
	}

	rows, err = q.Query(ctx, `
		SELECT d.refobjid, sn.nspname, s.relname
		FROM pg_depend d
		JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
		JOIN pg_namespace sn ON sn.oid = s.relnamespace
		WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
		  AND d.deptype IN ('a', 'i') AND d.refobjid = ANY($1)
		ORDER BY 1, 2, 3`, oids)
	if err != nil {
		return nil, fmt.Errorf("read sequences: %w", err)
	}
	for rows.Next() {
		var oid uint32
		var n Name
		if err := rows.Scan(&oid, &n.Schema, &n.Table); err != nil {
			return nil, err
		}
		byOID[oid].Sequences = append(byOID[oid].Sequences, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read sequences: %w", err)
	}
	return s, nil
}
