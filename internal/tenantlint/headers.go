package tenantlint

import (
	"go/ast"
	"go/constant"
	"go/types"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/ast/edge"
	"golang.org/x/tools/go/ast/inspector"
	"golang.org/x/tools/go/types/typeutil"
)

// identityHeader reports whether name is a header that claims a tenant or
// user identity. Such headers are caller-controlled: the edge strips them
// from requests, and tenant identity must come only from verified sources
// (a signed tenant_sig, a token, or the host), never from a header a
// client can set.
func identityHeader(name string) bool {
	name = strings.ToLower(name)
	return name == "x-tenant" || strings.HasPrefix(name, "x-tenant-") || name == "x-user-id"
}

const headerHint = "tenant and user identity must come from the verified tenant " +
	"context the wrapper provides, never from a caller-controlled header"

// headerType reports whether t is one of the header map types whose reads
// the rule covers.
func headerType(t types.Type) bool {
	return namedIn(t, "net/http", "Header") || namedIn(t, "net/textproto", "MIMEHeader")
}

// checkHeaderCall reports Get and Values calls on http.Header or
// textproto.MIMEHeader with a constant identity header name. Set, Add and
// Del are allowed: stripping and writing these headers is not reading them.
func checkHeaderCall(pass *analysis.Pass, call *ast.CallExpr) {
	fn, ok := typeutil.Callee(pass.TypesInfo, call).(*types.Func)
	if !ok || (fn.Name() != "Get" && fn.Name() != "Values") {
		return
	}
	if !methodOf(fn, "net/http", "Header") && !methodOf(fn, "net/textproto", "MIMEHeader") {
		return
	}
	sel, ok := ast.Unparen(call.Fun).(*ast.SelectorExpr)
	if !ok {
		return
	}
	recv, args := sel.X, call.Args
	if s, ok := pass.TypesInfo.Selections[sel]; ok && s.Kind() == types.MethodExpr {
		// http.Header.Get(h, name): the receiver is the first argument.
		if len(args) == 0 {
			return
		}
		recv, args = args[0], args[1:]
	}
	if len(args) != 1 || responseHeader(pass, recv) {
		return
	}
	if name, ok := constString(pass, args[0]); ok && identityHeader(name) {
		pass.Reportf(call.Pos(), "reading request header %q: %s", name, headerHint)
	}
}

// checkHeaderIndex reports h["X-Tenant-Id"] reads on http.Header or
// textproto.MIMEHeader. Assigning to such an element is writing, and is
// allowed.
func checkHeaderIndex(pass *analysis.Pass, c inspector.Cursor, ix *ast.IndexExpr) {
	if !headerType(pass.TypesInfo.TypeOf(ix.X)) || responseHeader(pass, ix.X) {
		return
	}
	if c.ParentEdgeKind() == edge.AssignStmt_Lhs {
		return
	}
	if name, ok := constString(pass, ix.Index); ok && identityHeader(name) {
		pass.Reportf(ix.Pos(), "reading request header %q: %s", name, headerHint)
	}
}

// constString returns the value of e if it is a constant string.
func constString(pass *analysis.Pass, e ast.Expr) (string, bool) {
	v := pass.TypesInfo.Types[e].Value
	if v == nil || v.Kind() != constant.String {
		return "", false
	}
	return constant.StringVal(v), true
}

// responseHeader reports whether e denotes response headers rather than
// request headers: the Header or Trailer field of an http.Response, or the
// result of a Header() method on a response writer (any type that also has
// WriteHeader, such as http.ResponseWriter or httptest.ResponseRecorder).
// Responses legitimately carry X-User-Id, and reading them back (in a
// client, a test or an access log) is not taking identity from a caller.
func responseHeader(pass *analysis.Pass, e ast.Expr) bool {
	switch e := ast.Unparen(e).(type) {
	case *ast.SelectorExpr:
		s, ok := pass.TypesInfo.Selections[e]
		if !ok || s.Kind() != types.FieldVal {
			return false
		}
		name := s.Obj().Name()
		return (name == "Header" || name == "Trailer") && namedIn(s.Recv(), "net/http", "Response")
	case *ast.CallExpr:
		sel, ok := ast.Unparen(e.Fun).(*ast.SelectorExpr)
		if !ok || len(e.Args) != 0 || sel.Sel.Name != "Header" {
			return false
		}
		s, ok := pass.TypesInfo.Selections[sel]
		if !ok || s.Kind() != types.MethodVal {
			return false
		}
		obj, _, _ := types.LookupFieldOrMethod(s.Recv(), true, nil, "WriteHeader")
		_, isMethod := obj.(*types.Func)
		return isMethod
	}
	return false
}
