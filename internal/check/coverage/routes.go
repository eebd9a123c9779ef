package coverage

import (
	"strings"

	"tenantd/internal/httpapi"
)

// RouteException accepts one route that would otherwise be flagged, with the reason.
type RouteException struct {
	Method, Pattern string
	Reason          string
}

// DefaultRouteExceptions are the flagged shapes SPEC.md itself asks for: the admin alias of
// logout is public because ending a session must not need a valid one.
var DefaultRouteExceptions = []RouteException{{
	Method: "POST", Pattern: "/api/admin/auth/logout",
	Reason: "SPEC §4 alias of the public logout: ending a session needs no valid one",
}}

// RouteFinding is one route that is not declared the way its place in the API demands.
type RouteFinding struct {
	Route   string // "METHOD PATTERN"
	Problem string
}

// RouteReport counts the route table by wrapper.
type RouteReport struct {
	Total    int
	Tenant   int // behind the tenant wrapper, with a permission
	Public   int
	Platform int
	Findings []RouteFinding
	Excepted []RouteFinding // accepted by a RouteException; Problem holds the reason
}

// Sound counts the routes without findings.
func (r *RouteReport) Sound() int {
	bad := map[string]bool{}
	for _, f := range r.Findings {
		bad[f.Route] = true
	}
	return r.Total - len(bad)
}

// CheckRoutes reads the route table: every route must pass the tenant wrapper with a
// permission, or be declared public or platform; public routes must not live under the staff
// (/api/admin), client (/api/portal) or operator (/api/platform) trees, whose every route
// needs a caller.
func CheckRoutes(routes []httpapi.Route, exceptions []RouteException) *RouteReport {
	r := &RouteReport{Total: len(routes)}
	for _, rt := range routes {
		key := rt.Method + " " + rt.Pattern
		var problems []string
		switch rt.Kind {
		case httpapi.KindTenant:
			r.Tenant++
			if rt.Permission == "" {
				problems = append(problems, "tenant route without a permission")
			}
		case httpapi.KindPublic:
			r.Public++
			for _, tree := range []string{"/api/admin/", "/api/portal/", "/api/platform/"} {
				if strings.HasPrefix(rt.Pattern, tree) {
					problems = append(problems, "public route under "+strings.TrimSuffix(tree, "/"))
				}
			}
		case httpapi.KindPlatform:
			r.Platform++
		default:
			problems = append(problems, "route declares no kind")
		}
		if rt.Handler == nil {
			problems = append(problems, "route without a handler")
		}
		for _, p := range problems {
			if ex := findRouteException(exceptions, rt); ex != nil {
				r.Excepted = append(r.Excepted, RouteFinding{Route: key, Problem: p + " (" + ex.Reason + ")"})
				continue
			}
			r.Findings = append(r.Findings, RouteFinding{Route: key, Problem: p})
		}
	}
	return r
}

func findRouteException(exs []RouteException, rt httpapi.Route) *RouteException {
	for i := range exs {
		if exs[i].Method == rt.Method && exs[i].Pattern == rt.Pattern {
			return &exs[i]
		}
	}
	return nil
}
