// Package httpapi is tenantd's HTTP surface: the edge middleware, the one route table from
// which the mux and the OpenAPI document are built, the tenant wrapper that every tenant route
// passes, and the handlers.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"tenantd/internal/obs"
	"tenantd/internal/ratelimit"
	"tenantd/internal/store"
	"tenantd/internal/tenancy"
)

// Config is what the server needs beyond the store.
type Config struct {
	BaseDomain     string
	SecureCookies  bool
	Keyring        *tenancy.Keyring
	OperatorToken  string
	StorageDir     string
	SessionTTL     time.Duration
	Logger         *slog.Logger
	LoginPerMinute int // per IP and per email; 0 means the default
	// Metrics, when set, receives request, scope, security and job measurements.
	Metrics *obs.Metrics
	// Reporter, when set, receives unexpected errors and panics (Sentry).
	Reporter *obs.Reporter
	// TenantMaxRPM caps every tenant's request rate (its thresholds may set a lower one).
	TenantMaxRPM int
	// TenantInFlight caps how many of one tenant's requests run at once; 0 means half the
	// store's connection pool. TenantInFlightWait is how long a request over the cap waits for
	// a place before its 429 (0 means 5 seconds).
	TenantInFlight     int
	TenantInFlightWait time.Duration
	// ExtraRoutes are appended to the route table (and pass the same wrappers); the shipped
	// binary sets none. Tests use them to plant fixtures the proofs must catch.
	ExtraRoutes []Route
}

// Server serves the API.
type Server struct {
	cfg     Config
	store   *store.Store
	log     *slog.Logger
	routes  []Route
	handler http.Handler
	mux     *http.ServeMux

	limits       *tenantLimits
	inFlight     *tenantInFlight
	loginByIP    *ratelimit.Limiter
	loginByEmail *ratelimit.Limiter
	probeRecords *ratelimit.Limiter // per (probing tenant, probed tenant): records kept of cross-tenant probes
	now          func() time.Time
}

// New builds the server and its route table.
func New(st *store.Store, cfg Config) *Server {
	if cfg.BaseDomain == "" {
		cfg.BaseDomain = "localhost"
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LoginPerMinute == 0 {
		cfg.LoginPerMinute = 20
	}
	s := &Server{cfg: cfg, store: st, log: cfg.Logger, now: time.Now,
		loginByIP:    ratelimit.New(cfg.LoginPerMinute*3, cfg.LoginPerMinute*3),
		loginByEmail: ratelimit.New(cfg.LoginPerMinute, cfg.LoginPerMinute),
		limits:       newTenantLimits(cfg.TenantMaxRPM),
		// A probing tenant may put 20 records of its probes into one other tenant's audit log
		// (and the platform log), then one a minute: enough to tell that it probes, too few to
		// bury the log. Every probe still counts in the metrics.
		probeRecords: ratelimit.New(1, 20),
	}
	if cfg.TenantInFlight == 0 && st != nil {
		cfg.TenantInFlight = st.MaxConns() / 2
		s.cfg.TenantInFlight = cfg.TenantInFlight
	}
	s.inFlight = newTenantInFlight(cfg.TenantInFlight, cfg.TenantInFlightWait)
	if cfg.Metrics != nil && st != nil {
		st.SetObserver(cfg.Metrics.Scope)
	}
	s.routes = append(s.routeTable(), cfg.ExtraRoutes...)
	s.mux = buildMux(s, s.routes)
	// Cookie-authenticated unsafe requests from another origin are refused (CSRF). Requests
	// without browser fetch metadata (API clients, payment providers) are unaffected.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, errForbidden("Cross-origin requests that change data are refused."))
	}))
	s.handler = s.edge(csrf.Handler(s.mux))
	return s
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Routes returns the route table (for the OpenAPI document, coverage and tests).
func (s *Server) Routes() []Route { return s.routes }

// buildMux registers every route of the table, each behind the wrapper its kind demands. It
// is the only place in the program that registers handlers.
func buildMux(s *Server, routes []Route) *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.Method+" "+rt.Pattern, s.wrap(rt))
	}
	var methods []string
	for _, rt := range routes {
		if !slices.Contains(methods, rt.Method) {
			methods = append(methods, rt.Method)
		}
	}
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allowed := allowedMethods(mux, methods, r); len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeProblem(w, r, problem(http.StatusMethodNotAllowed, CodeMethodNotAllowed,
				"This path does not serve "+r.Method+"; it serves "+strings.Join(allowed, ", ")+"."))
			return
		}
		writeProblem(w, r, errNotFound())
	}))
	return mux
}

// allowedMethods lists the methods the route table serves on r's path, for the 405 of a
// request whose path exists but not with its method. It says nothing about objects: a path
// is served or not whatever its ids name, as the public OpenAPI document says too.
func allowedMethods(mux *http.ServeMux, methods []string, r *http.Request) []string {
	var allowed []string
	for _, m := range methods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
			allowed = append(allowed, m)
		}
	}
	if slices.Contains(allowed, http.MethodGet) {
		allowed = append(allowed, http.MethodHead)
	}
	return allowed
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// edge is the outermost layer: request id, removal of client-supplied identity headers, panic
// recovery, body limit and the access log.
func (s *Server) edge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := r.Header.Get("X-Request-Id")
		if !requestIDPattern.MatchString(rid) {
			rid = newRequestID()
		}
		w.Header().Set("X-Request-Id", rid)
		stripIdentityHeaders(r.Header)
		ri := &obs.RequestInfo{RequestID: rid}
		r = r.WithContext(obs.WithRequest(r.Context(), ri))
		rec := &statusRecorder{ResponseWriter: w}
		limit := int64(1 << 20)
		if r.URL.Path == "/api/uploads" {
			limit = 10 << 20
		}
		r.Body = http.MaxBytesReader(rec, r.Body, limit)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(r.Context(), "panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				s.cfg.Reporter.Report(r.Context(), fmt.Errorf("panic: %v", p))
				if !rec.wrote {
					writeProblem(rec, r, fmt.Errorf("panic: %v", p))
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			ri.Route = route
			s.cfg.Metrics.Request(route, r.Method, rec.status(), time.Since(start))
			s.log.InfoContext(r.Context(), "request", "method", r.Method, "route", route, "status", rec.status(),
				"duration_ms", float64(time.Since(start).Microseconds())/1000)
		}()
		if name, bad := unstorableQuery(r); bad {
			writeProblem(rec, r, errField(name, unstorableTextMsg))
			return
		}
		next.ServeHTTP(rec, r)
	})
}

// stripIdentityHeaders removes every header through which a client might try to name a tenant
// or a user. Nothing downstream reads them; removing them also keeps them out of logs and of
// anything proxied on.
func stripIdentityHeaders(h http.Header) {
	for k := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-tenant") || lk == "x-user-id" {
			delete(h, k)
		}
	}
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type statusRecorder struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.code, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if !s.wrote {
		s.code, s.wrote = http.StatusOK, true
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) status() int {
	if !s.wrote {
		return http.StatusOK
	}
	return s.code
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logError records an unexpected error with the request's identity.
func (s *Server) logError(ctx context.Context, msg string, err error) {
	s.log.ErrorContext(ctx, msg, "error", err.Error())
	s.cfg.Reporter.Report(ctx, err)
}

// unstorableQuery finds a query parameter (name or value) that no route could use: text that
// is not valid UTF-8 or holds a NUL character, which PostgreSQL text cannot store or compare.
// It is refused at the edge, naming the parameter, instead of failing inside a handler.
func unstorableQuery(r *http.Request) (string, bool) {
	if r.URL.RawQuery == "" {
		return "", false
	}
	for name, values := range r.URL.Query() {
		if !storableText(name) {
			return "query", true
		}
		for _, v := range values {
			if !storableText(v) {
				return name, true
			}
		}
	}
	return "", false
}
