// Package billing declares routes from outside httpapi.
package billing

import (
	"net/http"

	"tenantd/internal/auth"
	"tenantd/internal/httpapi"
)

type R = httpapi.Route

func h(w http.ResponseWriter, r *http.Request) {}

// Routes are billing's entries in the route table.
var Routes = []httpapi.Route{
	{Method: "GET", Pattern: "/invoices", Kind: httpapi.KindTenant, Permission: auth.PermMembersRead, Handler: h},
	{Method: "GET", Pattern: "/plans", Kind: httpapi.KindPublic, Handler: h},
	{Method: "GET", Pattern: "/invoices/{id}", Kind: httpapi.KindTenant, Handler: h}, // want `tenant route has no Permission`
	{Method: "GET", Pattern: "/x", Kind: httpapi.KindUnset},                          // want `Kind must be one of the constants`
}

var aliased = R{Method: "GET"} // want `httpapi.Route has no Kind`

// notARoute has the same shape but is a different type: not checked.
type notARoute struct {
	Method string
	Kind   int
}

var other = notARoute{Method: "GET"}
