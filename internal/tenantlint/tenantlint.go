// Package tenantlint is a static checker for the rules that keep tenants
// apart in tenantd and that the compiler cannot enforce on its own.
//
// Each rule guards one layer of the request path described in the design:
//
//   - routes are registered on a mux only by httpapi.buildMux, from the one
//     route table, so every route is seen by the tenant wrapper, the OpenAPI
//     document, the coverage report and the cross-tenant test matrix;
//   - every httpapi.Route says explicitly whether it is public, tenant or
//     platform, and tenant routes name the permission they need, so no
//     handler runs unguarded by accident;
//   - only internal/store (and the pgtest helper) import a database driver,
//     so the pool is held in one place and every query passes the tenant
//     scope;
//   - no code reads tenant or user identity from X-Tenant-* or X-User-Id
//     request headers, which are caller-controlled; identity comes only from
//     verified sources.
//
// The checker is purely syntactic plus type information for the package
// under analysis: it uses no facts and no whole-program analysis, so it is
// cheap and reports the same diagnostics in the same order on every run.
package tenantlint

import (
	"go/ast"
	"go/types"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/inspect"
	"golang.org/x/tools/go/ast/inspector"
)

// Import paths of the packages whose boundaries the rules protect.
const (
	httpapiPath = "tenantd/internal/httpapi"
	storePath   = "tenantd/internal/store"
	pgtestPath  = "tenantd/internal/pgtest"
)

const doc = `check tenantd's tenant-isolation rules

tenantlint reports:
  - route registration (http.Handle, http.HandleFunc, (*http.ServeMux).Handle,
    (*http.ServeMux).HandleFunc) outside httpapi.buildMux;
  - httpapi.Route literals without an explicit Kind constant, tenant routes
    without a Permission, and unkeyed Route literals;
  - imports of pgx, database/sql or lib/pq outside internal/store and
    internal/pgtest (test files excepted);
  - reads of X-Tenant-* or X-User-Id request headers.`

// Analyzer checks tenantd's tenant-isolation rules. See the package
// documentation for the rules and the reasons behind them.
var Analyzer = &analysis.Analyzer{
	Name:     "tenantlint",
	Doc:      doc,
	Requires: []*analysis.Analyzer{inspect.Analyzer},
	Run:      run,
}

func run(pass *analysis.Pass) (any, error) {
	checkImports(pass)

	in := pass.ResultOf[inspect.Analyzer].(*inspector.Inspector)
	filter := []ast.Node{
		(*ast.Ident)(nil),
		(*ast.CompositeLit)(nil),
		(*ast.CallExpr)(nil),
		(*ast.IndexExpr)(nil),
	}
	for c := range in.Root().Preorder(filter...) {
		// Tests may stand up throwaway servers and read response headers; the rules protect
		// the shipped program. (Route literals are still checked in tests: fixtures planted
		// through the route table must declare their kind like any route.)
		if _, lit := c.Node().(*ast.CompositeLit); !lit && strings.HasSuffix(pass.Fset.File(c.Node().Pos()).Name(), "_test.go") {
			continue
		}
		switch n := c.Node().(type) {
		case *ast.Ident:
			checkRouteRegistration(pass, c, n)
		case *ast.CompositeLit:
			checkRouteLiteral(pass, n)
		case *ast.CallExpr:
			checkHeaderCall(pass, n)
		case *ast.IndexExpr:
			checkHeaderIndex(pass, c, n)
		}
	}
	return nil, nil
}

// pkgPath returns the import path of p without any build-variant suffix
// such as " [tenantd/internal/httpapi.test]" that some drivers add.
func pkgPath(p *types.Package) string {
	if p == nil {
		return ""
	}
	path, _, _ := strings.Cut(p.Path(), " ")
	return path
}

// namedIn reports whether t, after removing aliases and one level of
// pointer, is the named type pkg.name.
func namedIn(t types.Type, pkg, name string) bool {
	t = types.Unalias(t)
	if p, ok := t.(*types.Pointer); ok {
		t = types.Unalias(p.Elem())
	}
	n, ok := t.(*types.Named)
	if !ok {
		return false
	}
	obj := n.Obj()
	return obj.Name() == name && pkgPath(obj.Pkg()) == pkg
}

// methodOf reports whether fn is a method of the named type pkg.recv
// (or of a pointer to it).
func methodOf(fn *types.Func, pkg, recv string) bool {
	sig, ok := fn.Type().(*types.Signature)
	if !ok || sig.Recv() == nil {
		return false
	}
	return namedIn(sig.Recv().Type(), pkg, recv)
}
