package tenantlint

import (
	"go/ast"
	"go/constant"
	"go/types"

	"golang.org/x/tools/go/analysis"
)

// routeKinds are the RouteKind constants a Route may use. The zero value
// (KindUnset) is deliberately invalid so that a forgotten Kind cannot
// silently mean "public"; this check catches it before run time, and also
// rejects computed or converted kinds, which a reviewer cannot read at a
// glance.
var routeKinds = map[string]bool{
	"KindPublic":   true,
	"KindTenant":   true,
	"KindPlatform": true,
}

const kindHint = "httpapi.KindPublic, httpapi.KindTenant or httpapi.KindPlatform"

// checkRouteLiteral reports httpapi.Route composite literals that do not
// say explicitly how the tenant wrapper must guard the route: no Kind, a
// Kind that is not one of the named constants, or a tenant route without a
// Permission. Unkeyed literals are reported because the check (and a
// reviewer) cannot see which value is the Kind.
func checkRouteLiteral(pass *analysis.Pass, lit *ast.CompositeLit) {
	tv, ok := pass.TypesInfo.Types[lit]
	if !ok || !namedIn(tv.Type, httpapiPath, "Route") {
		return
	}
	if len(lit.Elts) > 0 {
		if _, keyed := lit.Elts[0].(*ast.KeyValueExpr); !keyed {
			pass.Reportf(lit.Pos(), "unkeyed httpapi.Route literal: use field names "+
				"(Method:, Pattern:, Kind:, Permission:, ...) so the route's Kind and "+
				"Permission are explicit")
			return
		}
	}

	var kind, perm ast.Expr
	for _, elt := range lit.Elts {
		kv, ok := elt.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		key, ok := kv.Key.(*ast.Ident)
		if !ok {
			continue
		}
		switch key.Name {
		case "Kind":
			kind = kv.Value
		case "Permission":
			perm = kv.Value
		}
	}

	if kind == nil {
		pass.Reportf(lit.Pos(), "httpapi.Route has no Kind: set Kind to %s so the "+
			"route table says how the tenant wrapper guards it", kindHint)
		return
	}
	name := kindConst(pass, kind)
	if !routeKinds[name] {
		pass.Reportf(kind.Pos(), "httpapi.Route Kind must be one of the constants %s, "+
			"written out in the route table", kindHint)
		return
	}
	if name != "KindTenant" {
		return
	}
	if perm == nil {
		pass.Reportf(lit.Pos(), "tenant route has no Permission: set Permission to "+
			"the auth.Permission a member needs, so the wrapper checks it before "+
			"the handler runs")
		return
	}
	if v := pass.TypesInfo.Types[perm].Value; v != nil && v.Kind() == constant.String && constant.StringVal(v) == "" {
		pass.Reportf(perm.Pos(), "tenant route has an empty Permission: set Permission "+
			"to the auth.Permission a member needs, so the wrapper checks it before "+
			"the handler runs")
	}
}

// kindConst returns the name of the httpapi constant that e refers to
// directly (KindTenant, httpapi.KindTenant, possibly parenthesized), or ""
// if e is anything else.
func kindConst(pass *analysis.Pass, e ast.Expr) string {
	var id *ast.Ident
	switch e := ast.Unparen(e).(type) {
	case *ast.Ident:
		id = e
	case *ast.SelectorExpr:
		id = e.Sel
	default:
		return ""
	}
	c, ok := pass.TypesInfo.Uses[id].(*types.Const)
	if !ok || pkgPath(c.Pkg()) != httpapiPath {
		return ""
	}
	return c.Name()
}
