package httpapi

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/ratelimit"
	"tenantd/internal/store"
)

// tenantLimits keeps one tenant's traffic from starving the others: each tenant has its own
// token bucket, and requests over its rate are answered 429, once their claim verified: a
// request takes its token when it is admitted (admit), and one arriving while the bucket is
// already empty is refused before any of its work (overLimit). It also counts each tenant's
// requests and errors for the platform's usage report.
type tenantLimits struct {
	bucket *ratelimit.Limiter
	maxRPM int
	mu     sync.RWMutex
	rates  map[uuid.UUID]int
	counts sync.Map // uuid.UUID → *Usage
}

// Usage is one tenant's traffic since the server started.
type Usage struct {
	Requests     atomic.Int64 `json:"-"`
	ClientErrors atomic.Int64 `json:"-"`
	ServerErrors atomic.Int64 `json:"-"`
	RateLimited  atomic.Int64 `json:"-"`
}

// UsageSnapshot is Usage as numbers.
type UsageSnapshot struct {
	Requests          int64 `json:"requests"`
	ClientErrors      int64 `json:"client_errors"`
	ServerErrors      int64 `json:"server_errors"`
	RateLimited       int64 `json:"rate_limited"`
	RequestsPerMinute int   `json:"requests_per_minute"`
}

func newTenantLimits(maxRPM int) *tenantLimits {
	if maxRPM <= 0 {
		maxRPM = 1200
	}
	return &tenantLimits{bucket: ratelimit.New(maxRPM, maxRPM/6), maxRPM: maxRPM, rates: map[uuid.UUID]int{}}
}

// rate is the tenant's effective rate: its configured one, capped by the server's maximum, so
// a tenant can lower its own limit but not lift it above what the platform allows.
func (l *tenantLimits) rate(t uuid.UUID) int {
	l.mu.RLock()
	r, ok := l.rates[t]
	l.mu.RUnlock()
	if !ok || r <= 0 || r > l.maxRPM {
		return l.maxRPM
	}
	return r
}

// over reports, without taking from the budget or counting anything, whether the claimed
// tenant has used up its budget and how long until it has not. The tenant is only claimed
// here: a credential names it before the database has confirmed anything (an API token's
// tenant is a prefix anyone can write), so nothing may be told or charged on this alone.
func (l *tenantLimits) over(t uuid.UUID) (bool, time.Duration) {
	if t == uuid.Nil {
		return false, 0
	}
	return l.bucket.Exhausted(t.String(), l.rate(t))
}

// limited counts a verified request that its tenant's budget refused and returns its 429.
func (l *tenantLimits) limited(a *store.Access, wait time.Duration) error {
	l.usage(a.TenantID).RateLimited.Add(1)
	return &apiError{status: http.StatusTooManyRequests, code: CodeRateLimited,
		detail: "This tenant is sending requests faster than its limit allows.", retryAfter: wait}
}

// overLimit answers a request whose claimed tenant has used up its budget. Only a caller whose
// claim verifies is told the tenant is busy (429) and counted against it; any other gets the
// refusal it would get at any other time (401 for a forged or revoked credential), so the
// limit is neither an oracle on another tenant's traffic nor a way to inflate its usage.
//
// The claim is verified without the route's permission check (a member over the limit is
// answered 429 whatever the route) and without running the handler: for a claim verified
// before, as the requests that used the budget up were, that is the one primary-key lookup of
// a remembered verification; a claim never seen (a forged token) costs the same verification
// it costs when the tenant is not busy. Answering from the remembered verification alone,
// without the database, would not do: it is only trusted together with the tenant's
// authorization generation read there, and without it a revoked token or a signed-out session
// would go on being told that its tenant is busy.
func (s *Server) overLimit(w http.ResponseWriter, r *http.Request, c store.Claim, wait time.Duration) {
	a, err := s.store.RequestScope(c, true, nil).Verify(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	noteAccess(w, r, a)
	writeProblem(w, r, s.limits.limited(a, wait))
}

// admit charges a request whose claim just verified to its tenant's budget, before its
// handler's work is let through: a request the budget cannot pay for is refused with 429 (and
// counted). Charging at admission, not after the handler ran, is what holds the limit for
// requests sent all at once: each one in flight takes its own token, so no wave of them gets
// through on one token's worth of budget.
func (l *tenantLimits) admit(a *store.Access) error {
	if a.RequestsPerMinute > 0 {
		l.mu.Lock()
		l.rates[a.TenantID] = a.RequestsPerMinute
		l.mu.Unlock()
	}
	key := a.TenantKey
	if key == "" {
		key = a.TenantID.String()
	}
	if ok, wait := l.bucket.AllowN(key, 1, l.rate(a.TenantID)); !ok {
		return l.limited(a, wait)
	}
	return nil
}

// record counts the outcome of a request that was admitted.
func (l *tenantLimits) record(a *store.Access, status int) {
	if a == nil {
		return
	}
	u := l.usage(a.TenantID)
	u.Requests.Add(1)
	switch {
	case status >= 500:
		u.ServerErrors.Add(1)
	case status >= 400:
		u.ClientErrors.Add(1)
	}
}

func (l *tenantLimits) usage(t uuid.UUID) *Usage {
	if u, ok := l.counts.Load(t); ok {
		return u.(*Usage)
	}
	u, _ := l.counts.LoadOrStore(t, &Usage{})
	return u.(*Usage)
}

// TenantUsage reports a tenant's traffic since the server started.
func (s *Server) TenantUsage(t uuid.UUID) UsageSnapshot {
	u := s.limits.usage(t)
	return UsageSnapshot{Requests: u.Requests.Load(), ClientErrors: u.ClientErrors.Load(), ServerErrors: u.ServerErrors.Load(),
		RateLimited: u.RateLimited.Load(), RequestsPerMinute: s.limits.rate(t)}
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
