package coverage

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Statement is one SQL statement found in the Go sources, with the verdict on it.
type Statement struct {
	Pos  string // file:line
	Func string // enclosing function, "Type.Method" for methods
	SQL  string // the statement on one line; run-time parts shown as <expr>
	Verb string
	// Tables are the tenant-owned tables the statement touches; empty for statements on
	// global tables only.
	Tables   []string
	Problems []Problem
	// Exception is the reason of the declared exception that covers the problems, if any.
	Exception string
}

// Problem is one table reference of a statement that is not pinned to one tenant.
type Problem struct {
	Table    string
	Computed bool // the table name is computed at run time
	Detail   string
}

// ComputedTable is the Exception.Table that matches a table name computed at run time.
const ComputedTable = "<computed>"

// Exception declares statements of one function that are meant to reach past a single tenant,
// and why. It must name the function and the table exactly (ComputedTable for a name computed
// at run time); it covers nothing else, so a new unscoped statement elsewhere, or on another
// table in the same function, is still reported.
type Exception struct {
	Func   string
	Table  string
	Reason string
}

func (e Exception) covers(fn string, p Problem) bool {
	if e.Func != fn {
		return false
	}
	if p.Computed {
		return e.Table == ComputedTable
	}
	return e.Table == p.Table
}

// memberSelfRead is the reason shared by the reads that the member_self_read policy admits
// (the one policy besides the tenant policy that the schema audit accepts,
// catalog.MemberSelfRead).
const memberSelfRead = "reads one user's own memberships across tenants with no tenant set; only the member_self_read policy admits rows"

// DefaultExceptions are tenantd's own statements that deliberately look past one tenant:
// reads of a user's own memberships in every tenant (at login, and when offboarding decides
// which users are left without any tenant), and the offboarding count of rows in the global
// tables that reference the departing tenant (sessions, payment routes), whose names come
// from the catalog at run time and whose reference columns are not tenant_id.
var DefaultExceptions = []Exception{
	{Func: "Store.MembershipsOf", Table: "memberships", Reason: memberSelfRead},
	{Func: "Platform.removeOrphans", Table: "memberships", Reason: memberSelfRead},
	{Func: "Platform.offboardRows", Table: ComputedTable,
		Reason: "platform offboarding counts the departing tenant's rows in global tables that reference it, filtered on their reference column"},
}

// QueryReport is the outcome of the scan of the store's SQL.
type QueryReport struct {
	Files      []string
	Statements []Statement // every data statement, in source order
	// Stale lists declared exceptions that matched no statement.
	Stale []Exception
}

// Tenant returns the statements that touch tenant-owned tables.
func (r *QueryReport) Tenant() []Statement {
	var out []Statement
	for _, s := range r.Statements {
		if len(s.Tables) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// Offenders returns the statements that touch tenant-owned tables without a tenant predicate
// and are not a declared exception.
func (r *QueryReport) Offenders() []Statement {
	var out []Statement
	for _, s := range r.Statements {
		if len(s.Problems) > 0 && s.Exception == "" {
			out = append(out, s)
		}
	}
	return out
}

// Excepted returns the statements covered by a declared exception.
func (r *QueryReport) Excepted() []Statement {
	var out []Statement
	for _, s := range r.Statements {
		if s.Exception != "" {
			out = append(out, s)
		}
	}
	return out
}

// ScanSources finds every SQL statement in the non-test Go files at the root of fsys (string
// literals, concatenations of literals and constants, and constants used as statements) and
// judges each against the tenant-owned tables. col is the tenant column ("tenant_id").
func ScanSources(fsys fs.FS, tenantTables []string, col string, exceptions []Exception) (*QueryReport, error) {
	if col == "" {
		col = "tenant_id"
	}
	tables := map[string]bool{}
	for _, t := range tenantTables {
		tables[strings.ToLower(t)] = true
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var files []*ast.File
	rep := &QueryReport{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		files = append(files, f)
		rep.Files = append(rep.Files, name)
	}
	x := &extractor{fset: fset, pkgConsts: map[string]*constDef{}}
	for _, f := range files {
		for _, d := range f.Decls {
			if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.CONST {
				x.addConsts(gd, x.pkgConsts, "")
			}
		}
	}
	for _, f := range files {
		x.file(f)
	}
	x.unusedConsts()

	used := make([]bool, len(exceptions))
	for _, raw := range x.found {
		texts, holes := raw.texts, raw.holes
		s := Statement{Pos: raw.pos, Func: raw.fn, SQL: display(texts[0], holes)}
		seenTable := map[string]bool{}
		seenProblem := map[string]bool{}
		for _, text := range texts {
			a := Analyze(text, tables, col)
			s.Verb = a.Verb
			for _, t := range a.Tables {
				t = display(t, holes)
				if !seenTable[t] {
					seenTable[t] = true
					s.Tables = append(s.Tables, t)
				}
			}
			for _, p := range a.Problems {
				p.Table, p.Detail = display(p.Table, holes), display(p.Detail, holes)
				if !seenProblem[p.Detail] {
					seenProblem[p.Detail] = true
					s.Problems = append(s.Problems, p)
				}
			}
		}
		if len(s.Problems) > 0 {
			covered, reasons := true, []string{}
			for _, p := range s.Problems {
				i := slices.IndexFunc(exceptions, func(e Exception) bool { return e.covers(s.Func, p) })
				if i < 0 {
					covered = false
					break
				}
				used[i] = true
				if !slices.Contains(reasons, exceptions[i].Reason) {
					reasons = append(reasons, exceptions[i].Reason)
				}
			}
			if covered {
				s.Exception = strings.Join(reasons, "; ")
			}
		}
		rep.Statements = append(rep.Statements, s)
	}
	for i, e := range exceptions {
		if !used[i] {
			rep.Stale = append(rep.Stale, e)
		}
	}
	return rep, nil
}

var spaces = regexp.MustCompile(`\s+`)

// display puts the Go expressions back in place of the holes and folds whitespace.
func display(s string, holes []string) string {
	for i := len(holes) - 1; i >= 0; i-- {
		s = strings.ReplaceAll(s, holeName(i), "<"+holes[i]+">")
	}
	return strings.TrimSpace(spaces.ReplaceAllString(s, " "))
}

func holeName(i int) string { return holePrefix + strconv.Itoa(i) + "__" }

// constDef is a constant declaration.
type constDef struct {
	name      string
	value     ast.Expr
	pos       token.Pos
	fn        string
	usedAlone bool
	usedInCat bool
}

// rawStatement is a statement before judgement: its possible texts (several when a table name
// comes from a loop over a literal list) and its holes.
type rawStatement struct {
	pos   string
	fn    string
	texts []string
	holes []string
}

type extractor struct {
	fset      *token.FileSet
	pkgConsts map[string]*constDef
	found     []rawStatement

	// per function
	fn         string
	localConst map[string]*constDef
	rangeVals  map[string][]string
	holes      []string
}

func (x *extractor) addConsts(gd *ast.GenDecl, into map[string]*constDef, fn string) {
	for _, spec := range gd.Specs {
		vs, ok := spec.(*ast.ValueSpec)
		if !ok {
			continue
		}
		for i, n := range vs.Names {
			if i < len(vs.Values) {
				into[n.Name] = &constDef{name: n.Name, value: vs.Values[i], pos: n.Pos(), fn: fn}
			}
		}
	}
}

func (x *extractor) lookup(name string) *constDef {
	if c, ok := x.localConst[name]; ok {
		return c
	}
	return x.pkgConsts[name]
}

func (x *extractor) file(f *ast.File) {
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			x.fn = funcName(d)
			x.localConst = map[string]*constDef{}
			x.rangeVals = map[string][]string{}
			if d.Body != nil {
				x.prepare(d.Body)
				x.walk(d.Body)
			}
		case *ast.GenDecl:
			if d.Tok == token.VAR {
				x.fn, x.localConst, x.rangeVals = "", map[string]*constDef{}, map[string][]string{}
				x.walk(d)
			}
		}
	}
}

func funcName(d *ast.FuncDecl) string {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return d.Name.Name
	}
	t := d.Recv.List[0].Type
	for {
		switch tt := t.(type) {
		case *ast.StarExpr:
			t = tt.X
			continue
		case *ast.IndexExpr:
			t = tt.X
			continue
		case *ast.IndexListExpr:
			t = tt.X
			continue
		}
		break
	}
	return types.ExprString(t) + "." + d.Name.Name
}

// prepare records a function's local constants and the loop variables that range over a
// literal list of strings (`for _, table := range []string{"a", "b"}`), whose values the
// statements built from them can be expanded with.
func (x *extractor) prepare(body *ast.BlockStmt) {
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GenDecl:
			if n.Tok == token.CONST {
				x.addConsts(n, x.localConst, x.fn)
			}
		case *ast.RangeStmt:
			id, ok := n.Value.(*ast.Ident)
			lit, ok2 := n.X.(*ast.CompositeLit)
			if !ok || !ok2 {
				return true
			}
			var vals []string
			for _, el := range lit.Elts {
				texts, _, ok := x.evalFresh(el)
				if !ok || len(texts) != 1 {
					return true
				}
				vals = append(vals, texts[0])
			}
			x.rangeVals[id.Name] = vals
		}
		return true
	})
}

// evalFresh evaluates e without leaving holes behind.
func (x *extractor) evalFresh(e ast.Expr) ([]string, []string, bool) {
	saved := x.holes
	x.holes = nil
	texts, ok := x.eval(e, 0)
	holes := x.holes
	x.holes = saved
	return texts, holes, ok
}

func (x *extractor) walk(root ast.Node) {
	ast.Inspect(root, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GenDecl:
			return n.Tok != token.CONST
		case *ast.BinaryExpr:
			if n.Op != token.ADD {
				return true
			}
			x.candidate(n)
			return false
		case *ast.BasicLit:
			if n.Kind == token.STRING {
				x.candidate(n)
			}
		case *ast.SelectorExpr:
			// x.Name never names one of this package's constants.
			x.walk(n.X)
			return false
		case *ast.Ident:
			if c := x.lookup(n.Name); c != nil {
				c.usedAlone = true
				texts, holes, ok := x.evalFresh(c.value)
				if ok && isStatement(texts[0]) {
					x.found = append(x.found, rawStatement{pos: x.pos(n.Pos()), fn: x.fn, texts: texts, holes: holes})
				}
			}
		}
		return true
	})
}

func (x *extractor) candidate(e ast.Expr) {
	texts, holes, ok := x.evalFresh(e)
	if !ok || !isStatement(texts[0]) {
		return
	}
	x.found = append(x.found, rawStatement{pos: x.pos(e.Pos()), fn: x.fn, texts: texts, holes: holes})
}

// unusedConsts records constants that hold a whole statement but are never referenced (so no
// use site reported them).
func (x *extractor) unusedConsts() {
	var names []string
	for n := range x.pkgConsts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := x.pkgConsts[n]
		if c.usedAlone || c.usedInCat {
			continue
		}
		x.localConst = nil
		texts, holes, ok := x.evalFresh(c.value)
		if ok && isStatement(texts[0]) {
			x.found = append(x.found, rawStatement{pos: x.pos(c.pos), fn: c.name, texts: texts, holes: holes})
		}
	}
}

func (x *extractor) pos(p token.Pos) string {
	pp := x.fset.Position(p)
	return path.Base(pp.Filename) + ":" + strconv.Itoa(pp.Line)
}

const maxExpansions = 64

// eval returns the possible values of a string expression. ok is false when e contains no
// string literal at all (then it is not SQL text, just a value). Parts that are only known at
// run time become holes.
func (x *extractor) eval(e ast.Expr, depth int) ([]string, bool) {
	if depth > 50 {
		return []string{x.hole(e)}, false
	}
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return []string{x.hole(e)}, false
		}
		s, err := strconv.Unquote(e.Value)
		if err != nil {
			return []string{x.hole(e)}, false
		}
		return []string{s}, true
	case *ast.ParenExpr:
		return x.eval(e.X, depth+1)
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return []string{x.hole(e)}, false
		}
		l, lok := x.eval(e.X, depth+1)
		r, rok := x.eval(e.Y, depth+1)
		var out []string
		for _, a := range l {
			for _, b := range r {
				if len(out) < maxExpansions {
					out = append(out, a+b)
				}
			}
		}
		return out, lok || rok
	case *ast.Ident:
		if c := x.lookup(e.Name); c != nil {
			c.usedInCat = c.usedInCat || depth > 0
			return x.eval(c.value, depth+1)
		}
		if vals, ok := x.rangeVals[e.Name]; ok && depth > 0 {
			return vals, false
		}
	}
	return []string{x.hole(e)}, false
}

func (x *extractor) hole(e ast.Expr) string {
	x.holes = append(x.holes, types.ExprString(e))
	return " " + holeName(len(x.holes)-1) + " "
}
