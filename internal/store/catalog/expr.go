package catalog

import (
	"regexp"
	"strings"
)

// PostgreSQL deparses a policy expression in its own layout: extra parentheses, a space after
// "(", and an output alias on every sub-select (`( SELECT app.current_tenant() AS
// current_tenant)`). Policies are compared after normalising both sides so that a policy is
// judged by what it does, not by how it happened to be typed.
var (
	subselectAlias = regexp.MustCompile(`\)\s+AS\s+("(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)`)
	selectKeyword  = regexp.MustCompile(`(?i)\bselect\b`)
)

// NormalizeExpr reduces a SQL boolean expression to a canonical text: sub-select output aliases
// dropped, SELECT upper-cased, whitespace outside quotes removed and redundant outer parentheses
// stripped.
func NormalizeExpr(s string) string {
	s = subselectAlias.ReplaceAllString(s, ")")
	s = selectKeyword.ReplaceAllString(s, "SELECT")
	var b strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			b.WriteByte(c)
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
			b.WriteByte(c)
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default:
			b.WriteByte(c)
		}
	}
	out := b.String()
	for len(out) >= 2 && out[0] == '(' && matchingParen(out, 0) == len(out)-1 {
		out = out[1 : len(out)-1]
	}
	return out
}

// matchingParen returns the index of the parenthesis closing the one at open, ignoring quoted
// text, or -1.
func matchingParen(s string, open int) int {
	depth := 0
	var quote byte
	for i := open; i < len(s); i++ {
		c := s[i]
		if quote != 0 {
			if c == quote {
				quote = 0
			}
			continue
		}
		switch c {
		case '"', '\'':
			quote = c
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}
