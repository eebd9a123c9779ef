// Package httpapi is a stub of tenantd's HTTP layer for tests.
package httpapi

import (
	"net/http"

	"tenantd/internal/auth"
)

// RouteKind says how the tenant wrapper guards a route.
type RouteKind int

const (
	KindUnset RouteKind = iota
	KindPublic
	KindTenant
	KindPlatform
)

// Route is one entry of the route table.
type Route struct {
	Method     string
	Pattern    string
	Kind       RouteKind
	Permission auth.Permission
	Handler    http.HandlerFunc
}

func h(w http.ResponseWriter, r *http.Request) {}

var kindVar = KindTenant

const localTenant = KindTenant

var routes = []Route{
	{Method: "GET", Pattern: "/healthz", Kind: KindPublic, Handler: h},
	{Method: "GET", Pattern: "/members", Kind: KindTenant, Permission: auth.PermMembersRead, Handler: h},
	{Method: "GET", Pattern: "/members/{id}", Kind: (KindTenant), Permission: "members.read", Handler: h},
	{Method: "POST", Pattern: "/platform/tenants", Kind: KindPlatform, Handler: h},
	{Method: "GET", Pattern: "/nokind", Handler: h},                                    // want `httpapi.Route has no Kind: set Kind to httpapi.KindPublic`
	{Method: "GET", Pattern: "/unset", Kind: KindUnset, Handler: h},                    // want `Kind must be one of the constants`
	{Method: "GET", Pattern: "/converted", Kind: RouteKind(1), Handler: h},             // want `Kind must be one of the constants`
	{Method: "GET", Pattern: "/variable", Kind: kindVar, Handler: h},                   // want `Kind must be one of the constants`
	{Method: "GET", Pattern: "/local", Kind: localTenant, Handler: h},                  // want `Kind must be one of the constants`
	{Method: "GET", Pattern: "/noperm", Kind: KindTenant, Handler: h},                  // want `tenant route has no Permission`
	{Method: "GET", Pattern: "/emptyperm", Kind: KindTenant, Permission: ""},           // want `tenant route has an empty Permission`
	{Method: "GET", Pattern: "/noneperm", Kind: KindTenant, Permission: auth.PermNone}, // want `tenant route has an empty Permission`
	{"GET", "/unkeyed", KindPublic, "", h},                                             // want `unkeyed httpapi.Route literal: use field names`
	{},                                                                                 // want `httpapi.Route has no Kind`
}

var pointerRoutes = []*Route{
	{Method: "GET", Pattern: "/p", Kind: KindPublic},
	{Method: "GET", Pattern: "/q"}, // want `httpapi.Route has no Kind`
}

var single = &Route{Pattern: "/r"} // want `httpapi.Route has no Kind`

// tenantRoute builds a tenant route; the permission is a parameter, which
// the checker cannot evaluate and therefore accepts.
func tenantRoute(pattern string, perm auth.Permission) Route {
	return Route{Method: "GET", Pattern: pattern, Kind: KindTenant, Permission: perm, Handler: h}
}
