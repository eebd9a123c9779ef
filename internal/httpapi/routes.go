package httpapi

import (
	"net/http"

	"github.com/google/uuid"

	"tenantd/internal/auth"
	"tenantd/internal/store"
)

// RouteKind says which wrapper a route passes.
type RouteKind int

// Route kinds. The zero value is invalid, so that a route that forgets to say is refused.
const (
	KindUnset    RouteKind = iota
	KindPublic             // no caller needed; may still take its tenant from the host
	KindTenant             // the tenant wrapper: verified caller, tenant, membership, permission
	KindPlatform           // the operator token; never a tenant credential
)

func (k RouteKind) String() string {
	switch k {
	case KindPublic:
		return "public"
	case KindTenant:
		return "tenant"
	case KindPlatform:
		return "platform"
	}
	return "unset"
}

// Handler serves one route. sc is the request's tenant scope: for tenant routes the caller's
// (verified before any result or byte leaves), for public routes that belong to a tenant the
// host's (or the signed-in caller's at the apex), and nil otherwise. Handlers return errors;
// the wrapper renders them.
type Handler func(w http.ResponseWriter, r *http.Request, sc *store.Scope) error

// Route is one entry of the route table: the single declaration from which the mux, the
// OpenAPI document, the coverage report and the cross-tenant test matrix are derived.
type Route struct {
	Method     string
	Pattern    string
	Kind       RouteKind
	Permission auth.Permission // tenant routes: the permission the caller's role must hold
	HostTenant bool            // public routes that belong to a tenant
	Summary    string
	Handler    Handler
	// Creates marks POST routes that create things and so honour Idempotency-Key.
	Creates bool
	// ReplayBody, for Creates routes whose first answer holds a secret that must be shown only
	// once, turns that answer into the body that is stored (and exported) with the
	// Idempotency-Key and returned by a replay. nil stores the answer as it is.
	ReplayBody func(body []byte) ([]byte, error)
	// Responses documents the route's success answers (status: description) in the OpenAPI
	// document, for routes whose answers are not the ones its method implies (see
	// successResponses).
	Responses map[int]string
	// MediaType is the media type of the route's success answers when it is not JSON.
	MediaType string
	// RespondAsync marks routes that honour Prefer: respond-async (RFC 7240) with 202 and a
	// background job.
	RespondAsync bool
	// Leave, on a tenant write route, runs instead of the refusal when a signed-in session
	// verified (session live, tenant_sig bound to it) but its current tenant no longer admits
	// it: the tenant is suspended or the membership ended. It gets the session's user and id
	// and no tenant scope. Only the tenant switch has one, so that such a session can move on.
	Leave func(w http.ResponseWriter, r *http.Request, user, session uuid.UUID) error

	takesID bool // derived: the pattern has an {id} (for cross-tenant probe detection)
}

// routeTable is every route the server serves.
func (s *Server) routeTable() []Route {
	var rs []Route
	for _, area := range [][]Route{
		s.healthRoutes(),
		s.authRoutes(),
		s.serviceRoutes(),
		s.bookingRoutes(),
		s.serviceRequestRoutes(),
		s.workOrderRoutes(),
		s.teamRoutes(),
		s.userRoutes(),
		s.invoiceRoutes(),
		s.expenseRoutes(),
		s.paymentRoutes(),
		s.emailRoutes(),
		s.auditRoutes(),
		s.attachmentRoutes(),
		s.reminderRoutes(),
		s.calendarRoutes(),
		s.chatRoutes(),
		s.settingsRoutes(),
		s.postRoutes(),
		s.platformRoutes(),
	} {
		rs = append(rs, area...)
	}
	return rs
}

func (s *Server) healthRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/healthz", Kind: KindPublic, Summary: "Process liveness", Handler: s.healthz},
		{Method: "GET", Pattern: "/readyz", Kind: KindPublic, Summary: "Database reachable and migrations current", Handler: s.readyz},
		{Method: "GET", Pattern: "/api/openapi.json", Kind: KindPublic, Summary: "This API's OpenAPI 3 document", Handler: s.openapi},
		{Method: "GET", Pattern: "/metrics", Kind: KindPlatform, Summary: "Prometheus metrics (operator token)", Handler: s.metrics,
			MediaType: "text/plain"},
	}
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
	if s.cfg.Metrics == nil {
		return errNotFound()
	}
	s.cfg.Metrics.Handler().ServeHTTP(w, r)
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
	if err := s.store.Ping(r.Context()); err != nil {
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, detail: "The database is not reachable.", cause: err}
	}
	ok, err := s.store.SchemaCurrent(r.Context())
	if err != nil || !ok {
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, detail: "Database migrations are not current.", cause: err}
	}
	if t, u, err := s.store.PoolSettings(r.Context()); err != nil || t != "" || u != "" {
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, detail: "A pooled connection carries a tenant setting.", cause: err}
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
