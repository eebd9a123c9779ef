package tenantlint

import (
	"go/ast"
	"go/types"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/ast/inspector"
)

// routeBuilder is the one function allowed to register routes on a mux.
// It builds the mux from the httpapi route table, which is also the source
// of the OpenAPI document, the coverage report and the cross-tenant test
// matrix. A route registered anywhere else would be served without being
// seen by any of them, and possibly without the tenant wrapper.
const routeBuilder = "buildMux"

// checkRouteRegistration reports any use of net/http's route registration
// functions and ServeMux methods outside httpapi.buildMux. It inspects
// identifiers rather than calls so that method values, method expressions,
// dot imports and methods promoted through embedding are caught too.
func checkRouteRegistration(pass *analysis.Pass, c inspector.Cursor, id *ast.Ident) {
	fn, ok := pass.TypesInfo.Uses[id].(*types.Func)
	if !ok || (fn.Name() != "Handle" && fn.Name() != "HandleFunc") || pkgPath(fn.Pkg()) != "net/http" {
		return
	}
	what := "http." + fn.Name()
	if sig := fn.Type().(*types.Signature); sig.Recv() != nil {
		if !namedIn(sig.Recv().Type(), "net/http", "ServeMux") {
			return
		}
		what = "(*http.ServeMux)." + fn.Name()
	}
	if inRouteBuilder(pass, c) {
		return
	}
	pass.Reportf(id.Pos(), "%s registers a route outside the route table: "+
		"add an httpapi.Route to the route table instead, so httpapi.buildMux "+
		"registers it behind the tenant wrapper and it appears in the OpenAPI "+
		"document and coverage report", what)
}

// inRouteBuilder reports whether c lies inside a function or method named
// buildMux declared in package httpapi (including closures within it).
func inRouteBuilder(pass *analysis.Pass, c inspector.Cursor) bool {
	if pkgPath(pass.Pkg) != httpapiPath {
		return false
	}
	for fd := range c.Enclosing((*ast.FuncDecl)(nil)) {
		return fd.Node().(*ast.FuncDecl).Name.Name == routeBuilder
	}
	return false
}
