package coverage

import (
	"fmt"
	"slices"
	"strings"
)

// This file judges one SQL statement: which tenant-owned tables it touches and whether each of
// those references is pinned to one tenant. It is a scanner, not a full SQL parser: it knows
// enough of PostgreSQL's grammar (parentheses, sub-selects, FROM/JOIN/UPDATE/INSERT/DELETE
// targets, aliases, INSERT column and value lists) to read the statements a store writes, and
// it errs towards reporting a statement it cannot prove rather than passing it.

type tokKind int

const (
	tokWord   tokKind = iota // identifier or keyword, lower-cased unless quoted
	tokParam                 // $1
	tokString                // '...', E'...', $$...$$
	tokNumber
	tokPunct // ( ) , . ; = and other operators
	tokHole  // a part of the statement the Go source computes at run time
)

type sqlToken struct {
	kind  tokKind
	text  string
	group int // index of the innermost parenthesised group, 0 for the statement itself
	scope int // index of the sub-select (or UNION branch of one) the token belongs to
}

// holePrefix marks the place of a Go expression whose value is unknown before run time.
const holePrefix = "__hole_"

func tokenize(sql string) []sqlToken {
	var out []sqlToken
	i := 0
	for i < len(sql) {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				i = len(sql)
			} else {
				i += end + 4
			}
		case c == '\'' || ((c == 'e' || c == 'E') && i+1 < len(sql) && sql[i+1] == '\''):
			if c != '\'' {
				i++
			}
			j := i + 1
			for j < len(sql) {
				if sql[j] == '\\' && c != '\'' {
					j += 2
					continue
				}
				if sql[j] == '\'' {
					if j+1 < len(sql) && sql[j+1] == '\'' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			out = append(out, sqlToken{kind: tokString, text: sql[i:min(j+1, len(sql))]})
			i = j + 1
		case c == '"':
			j := i + 1
			for j < len(sql) {
				if sql[j] == '"' {
					if j+1 < len(sql) && sql[j+1] == '"' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			out = append(out, sqlToken{kind: tokWord, text: strings.ReplaceAll(sql[i+1:min(j, len(sql))], `""`, `"`)})
			i = j + 1
		case c == '$' && i+1 < len(sql) && sql[i+1] >= '0' && sql[i+1] <= '9':
			j := i + 1
			for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
				j++
			}
			out = append(out, sqlToken{kind: tokParam, text: sql[i:j]})
			i = j
		case c == '$':
			// Dollar quoting: $$...$$ or $tag$...$tag$.
			j := i + 1
			for j < len(sql) && isWordByte(sql[j]) {
				j++
			}
			if j < len(sql) && sql[j] == '$' {
				tag := sql[i : j+1]
				end := strings.Index(sql[j+1:], tag)
				if end < 0 {
					i = len(sql)
				} else {
					out = append(out, sqlToken{kind: tokString, text: sql[i : j+1+end+len(tag)]})
					i = j + 1 + end + len(tag)
				}
				continue
			}
			out = append(out, sqlToken{kind: tokPunct, text: "$"})
			i++
		case c == '%' && i+1 < len(sql) && (sql[i+1] >= 'a' && sql[i+1] <= 'z' || sql[i+1] >= 'A' && sql[i+1] <= 'Z'):
			// A fmt verb in a format string: computed at run time.
			out = append(out, sqlToken{kind: tokHole, text: sql[i : i+2]})
			i += 2
		case c >= '0' && c <= '9':
			j := i
			for j < len(sql) && (sql[j] >= '0' && sql[j] <= '9' || sql[j] == '.') {
				j++
			}
			out = append(out, sqlToken{kind: tokNumber, text: sql[i:j]})
			i = j
		case isWordByte(c):
			j := i
			for j < len(sql) && isWordByte(sql[j]) {
				j++
			}
			w := sql[i:j]
			if strings.HasPrefix(w, holePrefix) {
				out = append(out, sqlToken{kind: tokHole, text: w})
			} else {
				out = append(out, sqlToken{kind: tokWord, text: strings.ToLower(w)})
			}
			i = j
		case c == ':' && i+1 < len(sql) && sql[i+1] == ':':
			out = append(out, sqlToken{kind: tokPunct, text: "::"})
			i += 2
		default:
			out = append(out, sqlToken{kind: tokPunct, text: string(c)})
			i++
		}
	}
	return out
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// group is one parenthesised part of a statement.
type group struct {
	parent   int
	open     int  // index of its "(" token
	subquery bool // starts with SELECT, WITH, ...: a scope of its own
}

// statement is a tokenised SQL statement with its parenthesis structure.
type statement struct {
	toks   []sqlToken
	groups []group
	close  []int // for each "(" token, the index of its ")" (or len(toks))
	// scopes holds, for each scope (a sub-select, or one branch of a UNION, EXCEPT or
	// INTERSECT), the scope it is nested in (-1 for the statement's own).
	scopes []int
}

func parseStatement(sql string) *statement {
	st := &statement{toks: tokenize(sql), groups: []group{{parent: -1, subquery: true}}}
	st.close = make([]int, len(st.toks))
	stack := []int{0}
	open := []int{}
	for i := range st.toks {
		t := &st.toks[i]
		st.close[i] = -1
		switch {
		case t.kind == tokPunct && t.text == "(":
			t.group = stack[len(stack)-1]
			g := group{parent: t.group, open: i}
			if st.word(i+1, "select", "with", "insert", "update", "delete", "values") {
				g.subquery = true
			}
			st.groups = append(st.groups, g)
			stack = append(stack, len(st.groups)-1)
			open = append(open, i)
		case t.kind == tokPunct && t.text == ")" && len(stack) > 1:
			stack = stack[:len(stack)-1]
			t.group = stack[len(stack)-1]
			st.close[open[len(open)-1]] = i
			open = open[:len(open)-1]
		default:
			t.group = stack[len(stack)-1]
		}
	}
	for _, o := range open {
		st.close[o] = len(st.toks)
	}
	st.assignScopes()
	return st
}

// assignScopes gives every token its scope: the sub-select it sits in, split further at each
// set operation, so that a predicate in one branch of a UNION never counts for another.
func (st *statement) assignScopes() {
	st.scopes = []int{-1}
	current := map[int]int{0: 0} // sub-select group -> its current scope
	for i, t := range st.toks {
		sg := st.scope(t.group)
		sc, ok := current[sg]
		if !ok {
			// The first token inside a sub-select: its "(" already has the outer scope.
			st.scopes = append(st.scopes, st.toks[st.groups[sg].open].scope)
			sc = len(st.scopes) - 1
			current[sg] = sc
		}
		st.toks[i].scope = sc
		if t.kind == tokWord && (t.text == "union" || t.text == "except" || t.text == "intersect") {
			st.scopes = append(st.scopes, st.scopes[sc])
			current[sg] = len(st.scopes) - 1
		}
	}
}

// scope is the innermost sub-select (or the statement) that group g belongs to.
func (st *statement) scope(g int) int {
	for g > 0 && !st.groups[g].subquery {
		g = st.groups[g].parent
	}
	return g
}

func (st *statement) word(i int, w ...string) bool {
	return i >= 0 && i < len(st.toks) && st.toks[i].kind == tokWord && slices.Contains(w, st.toks[i].text)
}

func (st *statement) punct(i int, p string) bool {
	return i >= 0 && i < len(st.toks) && st.toks[i].kind == tokPunct && st.toks[i].text == p
}

// Words that end a table reference: they can never be its alias.
var notAlias = map[string]bool{
	"where": true, "join": true, "left": true, "right": true, "inner": true, "full": true, "cross": true,
	"natural": true, "on": true, "using": true, "set": true, "group": true, "order": true, "limit": true,
	"offset": true, "returning": true, "union": true, "except": true, "intersect": true, "having": true,
	"window": true, "for": true, "values": true, "select": true, "default": true, "overriding": true,
	"lateral": true, "tablesample": true, "only": true, "fetch": true, "with": true, "as": true, "do": true,
}

// ref is one reference to a table in a statement.
type ref struct {
	table  string // lower-cased, schema dropped; "" for a computed (hole) name
	hole   string // the Go expression naming the table, for a computed name
	alias  string // the alias, or the table name
	scope  int
	insert bool // the target of an INSERT
	at     int  // token index of the name
}

// refs finds the table references of the statement: FROM and JOIN items, UPDATE, INSERT INTO
// and DELETE FROM targets, and DELETE ... USING items.
func (st *statement) refs() []ref {
	var out []ref
	n := len(st.toks)
	for i := 0; i < n; i++ {
		t := st.toks[i]
		if t.kind != tokWord {
			continue
		}
		switch t.text {
		case "from", "join":
			// FROM inside a function call (extract(epoch FROM x), substring(s FROM 1)) names no
			// table; such FROMs sit in a group that is not a scope of its own and are followed
			// by a column, which the caller ignores because it is not a table it knows.
			out = st.fromItems(i+1, out, false)
		case "update":
			if st.word(i-1, "do", "for", "key", "no") {
				continue
			}
			out = st.fromItems(i+1, out, true)
		case "into":
			if st.word(i-1, "insert") {
				if r, ok := st.tableAt(i+1, true); ok {
					r.insert = true
					out = append(out, r)
				}
			}
		case "using":
			// DELETE ... USING a, b (a JOIN's USING (cols) is followed by a parenthesis).
			if !st.punct(i+1, "(") {
				out = st.fromItems(i+1, out, false)
			}
		}
	}
	return out
}

// fromItems reads a comma-separated list of table references starting at i. single stops after
// the first (UPDATE's target).
func (st *statement) fromItems(i int, out []ref, single bool) []ref {
	for i < len(st.toks) {
		for st.word(i, "only", "lateral") {
			i++
		}
		named := false
		if st.punct(i, "(") {
			// A sub-select or a parenthesised join: its own FROMs are found on their own.
			i = st.close[i] + 1
		} else {
			named = true
			r, ok := st.tableAt(i, false)
			if !ok {
				return out
			}
			out = append(out, r)
			i = r.at + 1
			for st.punct(i, ".") {
				i += 2
			}
		}
		// Alias.
		if st.word(i, "as") {
			i++
		}
		if i < len(st.toks) && (st.toks[i].kind == tokWord && !notAlias[st.toks[i].text]) {
			if named && out[len(out)-1].alias == out[len(out)-1].table {
				out[len(out)-1].alias = st.toks[i].text
			}
			i++
			if st.punct(i, "(") { // column aliases: AS x(a, b)
				i = st.close[i] + 1
			}
		}
		if single || !st.punct(i, ",") {
			return out
		}
		i++
	}
	return out
}

// tableAt reads a (possibly schema-qualified) table name at i. Unless columns is set (an
// INSERT target, followed by its column list), a name followed by "(" is a function call, not
// a table.
func (st *statement) tableAt(i int, columns bool) (ref, bool) {
	if i >= len(st.toks) {
		return ref{}, false
	}
	t := st.toks[i]
	if t.kind == tokHole {
		return ref{hole: t.text, at: i, scope: t.scope}, true
	}
	if t.kind != tokWord || notAlias[t.text] {
		return ref{}, false
	}
	name, at := t.text, i
	for st.punct(at+1, ".") && at+2 < len(st.toks) && (st.toks[at+2].kind == tokWord || st.toks[at+2].kind == tokHole) {
		at += 2
		if st.toks[at].kind == tokHole {
			return ref{hole: st.toks[at].text, at: at, scope: t.scope}, true
		}
		name = st.toks[at].text
	}
	if st.punct(at+1, "(") && !columns {
		return ref{}, false
	}
	return ref{table: name, alias: name, at: at, scope: t.scope}, true
}

// operand is one side of an equality.
type operand struct {
	bound  bool   // a parameter or the tenant function: pinned to one tenant
	column bool   // a tenant column
	qual   string // its qualifier ("" when unqualified)
	start  int
	end    int // exclusive
}

// readOperand reads the operand starting at i (forward) in the statement.
func (st *statement) readOperand(i int, col string) (operand, bool) {
	o := operand{start: i}
	switch {
	case i < len(st.toks) && st.toks[i].kind == tokParam:
		o.bound, o.end = true, i+1
	case st.punct(i, "("):
		end := st.close[i]
		inner := st.toks[i+1 : min(end, len(st.toks))]
		if isTenantFunction(inner, true) {
			o.bound = true
		} else if len(inner) == 1 && inner[0].kind == tokParam {
			o.bound = true
		}
		o.end = end + 1
	case isTenantFunction(st.toks[i:], false):
		o.bound, o.end = true, i+5
	case st.word(i, col):
		o.column, o.end = true, i+1
	case i+2 < len(st.toks) && st.toks[i].kind == tokWord && st.punct(i+1, ".") && st.word(i+2, col):
		o.column, o.qual, o.end = true, st.toks[i].text, i+3
	default:
		return o, false
	}
	// A cast keeps the value: $1::uuid.
	for st.punct(o.end, "::") && o.end+1 < len(st.toks) {
		o.end += 2
	}
	return o, true
}

// readOperandBack reads the operand ending just before i.
func (st *statement) readOperandBack(i int, col string) (operand, bool) {
	// Skip a trailing cast.
	for i-2 >= 0 && st.punct(i-2, "::") {
		i -= 2
	}
	switch {
	case i-1 >= 0 && st.toks[i-1].kind == tokParam:
		return operand{bound: true, start: i - 1, end: i}, true
	case st.word(i-1, col):
		if st.punct(i-2, ".") && i-3 >= 0 && st.toks[i-3].kind == tokWord {
			return operand{column: true, qual: st.toks[i-3].text, start: i - 3, end: i}, true
		}
		return operand{column: true, start: i - 1, end: i}, true
	case st.punct(i-1, ")"):
		for j := i - 2; j >= 0; j-- {
			if st.punct(j, "(") && st.close[j] == i-1 {
				if o, ok := st.readOperand(j, col); ok && o.bound {
					return o, true
				}
				if j >= 4 && isTenantFunction(st.toks[j-3:], false) {
					return operand{bound: true, start: j - 3, end: i}, true
				}
				return operand{}, false
			}
		}
	}
	return operand{}, false
}

// isTenantFunction reports whether toks start with app.current_tenant() (sub-select when
// wrapped is true: SELECT app.current_tenant() and nothing else).
func isTenantFunction(toks []sqlToken, wrapped bool) bool {
	if wrapped {
		if len(toks) != 6 || toks[0].kind != tokWord || toks[0].text != "select" {
			return false
		}
		toks = toks[1:]
	}
	return len(toks) >= 5 && toks[0].kind == tokWord && toks[0].text == "app" && toks[1].text == "." &&
		toks[2].kind == tokWord && toks[2].text == "current_tenant" && toks[3].text == "(" && toks[4].text == ")"
}

// predicate is an equality that involves a tenant column.
type predicate struct {
	left, right operand
	scope       int
}

// clauseWords end the clause a predicate belongs to (an OR within the same clause and the same
// parentheses makes the predicate optional, so it does not count).
var clauseWords = map[string]bool{
	"where": true, "on": true, "set": true, "from": true, "join": true, "select": true, "having": true,
	"returning": true, "group": true, "order": true, "limit": true, "using": true, "union": true,
	"except": true, "intersect": true, "values": true, "when": true, "then": true, "else": true, "end": true,
}

func (st *statement) predicates(col string) []predicate {
	var out []predicate
	for i, t := range st.toks {
		if t.kind != tokPunct || t.text != "=" {
			continue
		}
		if st.punct(i-1, "<") || st.punct(i-1, ">") || st.punct(i-1, "!") || st.punct(i+1, ">") {
			continue
		}
		l, lok := st.readOperandBack(i, col)
		r, rok := st.readOperand(i+1, col)
		if !lok || !rok || !(l.column || r.column) {
			continue
		}
		if st.optional(i) {
			continue
		}
		out = append(out, predicate{left: l, right: r, scope: t.scope})
	}
	return out
}

// optional reports whether the comparison at i is one arm of an OR (or sits in a SET list,
// where "=" assigns rather than filters).
func (st *statement) optional(i int) bool {
	g := st.toks[i].group
	lo, hi := i, i
	for lo > 0 {
		t := st.toks[lo-1]
		if t.group == g && t.kind == tokWord && clauseWords[t.text] {
			break
		}
		if t.kind == tokPunct && t.text == "(" && st.close[lo-1] > i {
			break
		}
		lo--
	}
	for hi+1 < len(st.toks) {
		t := st.toks[hi+1]
		if t.group == g && t.kind == tokWord && clauseWords[t.text] {
			break
		}
		if t.kind == tokPunct && t.text == ")" && t.group != g {
			break
		}
		hi++
	}
	if lo > 0 && st.word(lo-1, "set") {
		return true
	}
	for j := lo; j <= hi; j++ {
		if st.toks[j].group == g && st.word(j, "or") {
			return true
		}
	}
	return false
}

// insertBinding checks an INSERT target: its column list must name the tenant column and the
// value for it must be bound (a parameter, the tenant function, or a bound reference's tenant
// column in INSERT ... SELECT). It returns a problem ("" when bound) and, for INSERT ...
// SELECT, the qualifier of a tenant column the value was copied from.
func (st *statement) insertBinding(r ref, col string) (problem, copiedFrom string) {
	i := r.at + 1
	if st.word(i, "as") {
		i += 2
	} else if i < len(st.toks) && st.toks[i].kind == tokWord && !notAlias[st.toks[i].text] && !st.punct(i, "(") {
		i++
	}
	if !st.punct(i, "(") {
		return "INSERT without a column list", ""
	}
	cols := st.splitList(i+1, st.close[i])
	idx := -1
	for k, c := range cols {
		if c[1]-c[0] == 1 && st.word(c[0], col) {
			idx = k
		}
	}
	if idx < 0 {
		return "INSERT does not set " + col, ""
	}
	j := st.close[i] + 1
	for st.word(j, "overriding", "system", "user", "value") {
		j++
	}
	switch {
	case st.word(j, "values"):
		j++
		for st.punct(j, "(") {
			vals := st.splitList(j+1, st.close[j])
			if idx >= len(vals) {
				return "INSERT value list is shorter than its column list", ""
			}
			if !st.boundValue(vals[idx], col) {
				return fmt.Sprintf("INSERT sets %s to %s, not a parameter", col, st.text(vals[idx][0], vals[idx][1])), ""
			}
			j = st.close[j] + 1
			if !st.punct(j, ",") {
				break
			}
			j++
		}
		return "", ""
	case st.word(j, "select"):
		j++
		if st.word(j, "distinct", "all") {
			j++
		}
		end := j
		for end < len(st.toks) && !(st.toks[end].group == st.toks[j].group && st.word(end, "from")) {
			end++
		}
		vals := st.splitList(j, end)
		if idx >= len(vals) {
			return "INSERT ... SELECT list is shorter than its column list", ""
		}
		v := vals[idx]
		if st.boundValue(v, col) {
			return "", ""
		}
		if o, ok := st.readOperand(v[0], col); ok && o.column && o.end == v[1] {
			return "", o.qual
		}
		return fmt.Sprintf("INSERT ... SELECT sets %s to %s, not a parameter", col, st.text(v[0], v[1])), ""
	case st.punct(j, "("):
		// INSERT ... (SELECT ...): handled like a sub-select without a copied tenant.
		return "INSERT from a sub-select: the tenant value cannot be traced", ""
	}
	return "INSERT without VALUES or SELECT", ""
}

func (st *statement) boundValue(span [2]int, col string) bool {
	o, ok := st.readOperand(span[0], col)
	return ok && o.bound && o.end == span[1]
}

// splitList splits toks[from:to] at commas of the same parenthesis level.
func (st *statement) splitList(from, to int) [][2]int {
	if from >= to {
		return nil
	}
	var out [][2]int
	g := st.toks[from].group
	start := from
	for i := from; i < to; i++ {
		if st.punct(i, ",") && st.toks[i].group == g {
			out = append(out, [2]int{start, i})
			start = i + 1
		}
	}
	return append(out, [2]int{start, to})
}

func (st *statement) text(from, to int) string {
	var b strings.Builder
	for i := from; i < to && i < len(st.toks); i++ {
		if i > from && st.toks[i].kind != tokPunct && st.toks[i-1].kind != tokPunct {
			b.WriteByte(' ')
		}
		b.WriteString(st.toks[i].text)
	}
	return b.String()
}

// verb is the statement's main command: select, insert, update, delete (after any WITH).
func (st *statement) verb() string {
	for i, t := range st.toks {
		if t.group != 0 || t.kind != tokWord {
			continue
		}
		switch t.text {
		case "select", "insert", "update", "delete":
			if t.text == "update" && st.word(i-1, "do", "for", "key", "no") {
				continue
			}
			return t.text
		}
	}
	return ""
}

// isStatement reports whether text is a data statement (possibly with a WITH prefix).
func isStatement(text string) bool {
	toks := tokenize(text)
	if len(toks) == 0 || toks[0].kind != tokWord {
		return false
	}
	switch toks[0].text {
	case "select", "insert", "update", "delete", "with":
		return len(toks) > 1
	}
	return false
}

// Analysis is the verdict on one statement.
type Analysis struct {
	Verb string
	// Tables are the tenant-owned tables the statement touches (a computed table name is
	// listed as the Go expression that computes it, in angle brackets).
	Tables []string
	// Problems lists each reference that is not pinned to one tenant; empty means the
	// statement carries a tenant predicate for every tenant-owned table it touches.
	Problems []Problem
}

// Analyze judges one SQL statement against the set of tenant-owned tables. A table name the
// Go code computes at run time counts as tenant-owned: it must be pinned like one.
func Analyze(sql string, tenantTables map[string]bool, col string) Analysis {
	st := parseStatement(sql)
	a := Analysis{Verb: st.verb()}
	all := st.refs()
	var refs []ref
	for _, r := range all {
		if r.hole != "" || tenantTables[r.table] {
			refs = append(refs, r)
		}
	}
	if len(refs) == 0 {
		return a
	}
	preds := st.predicates(col)

	// Which references are pinned: directly by a predicate against a parameter or the tenant
	// function, or through an equality with another pinned reference's tenant column.
	bound := make([]bool, len(refs))
	insertProblem := make([]string, len(refs))
	copied := make([]string, len(refs))
	// resolve finds the reference a qualifier names from a scope: the nearest one, looking
	// outwards (an inner alias hides an outer one of the same name).
	resolve := func(qual string, scope int) int {
		for s := scope; s >= 0; s = st.scopes[s] {
			for _, r := range all {
				if r.scope == s && r.alias != "" && r.alias == qual {
					return r.at
				}
			}
		}
		return -1
	}
	// refers reports whether operand o of predicate p is r's tenant column: a qualified
	// column names r (possibly from a sub-select inside r's scope), an unqualified one any
	// reference of its own scope.
	refers := func(r ref, o operand, p predicate) bool {
		if !o.column {
			return false
		}
		if o.qual != "" {
			return resolve(o.qual, p.scope) == r.at
		}
		return p.scope == r.scope
	}
	for i, r := range refs {
		if r.insert {
			insertProblem[i], copied[i] = st.insertBinding(r, col)
		}
	}
	for changed := true; changed; {
		changed = false
		for i, r := range refs {
			if bound[i] {
				continue
			}
			if r.insert {
				if insertProblem[i] != "" {
					continue
				}
				if copied[i] == "" {
					bound[i], changed = true, true
					continue
				}
				for j, s := range refs {
					if j != i && bound[j] && (copied[i] == s.alias || copied[i] == s.table) {
						bound[i], changed = true, true
						break
					}
				}
				continue
			}
			for _, p := range preds {
				for _, side := range [][2]operand{{p.left, p.right}, {p.right, p.left}} {
					mine, other := side[0], side[1]
					if !refers(r, mine, p) {
						continue
					}
					if other.bound {
						bound[i] = true
					} else if other.column {
						for j, s := range refs {
							if j != i && bound[j] && refers(s, other, p) {
								bound[i] = true
							}
						}
					}
				}
			}
			if bound[i] {
				changed = true
			}
		}
	}
	seen := map[string]bool{}
	for i, r := range refs {
		name := r.table
		if r.hole != "" {
			name = r.hole
		}
		if !seen[name] {
			seen[name] = true
			a.Tables = append(a.Tables, name)
		}
		if bound[i] {
			continue
		}
		label := name
		if r.alias != "" && r.alias != r.table {
			label += " " + r.alias
		}
		var detail string
		switch {
		case r.insert && insertProblem[i] != "":
			detail = label + ": " + insertProblem[i]
		case r.insert:
			detail = label + ": INSERT copies " + col + " from a reference that is not pinned to one tenant"
		default:
			detail = fmt.Sprintf("%s: no %s = $n (or the tenant function) in the statement", label, col)
		}
		a.Problems = append(a.Problems, Problem{Table: name, Computed: r.hole != "", Detail: detail})
	}
	return a
}
