package httpapi

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/store"
)

// tenantInFlight bounds how many requests of one tenant run at once, so that a tenant whose
// requests are slow (or many, within its rate) cannot hold every database connection while the
// other tenants wait: each tenant may use part of the pool, never all of it. A request over the
// bound waits for one of its own tenant's requests to finish; other tenants do not wait at all.
//
// Only a verified caller ever waits (see admitInFlight), and a request holds its place only
// once its body has been received: a credential that merely names a tenant (an API token's
// tenant is a prefix anyone can write) can neither queue behind the tenant nor keep its places
// busy by sending a body slowly, nor learn from its answer's timing whether the tenant is busy.
type tenantInFlight struct {
	limit int
	wait  time.Duration
	mu    sync.Mutex
	slots map[uuid.UUID]*tenantSlots
}

// tenantSlots are one tenant's places: sem holds a token per running request; users counts the
// requests holding or waiting for one, so the entry goes when the tenant is idle and the map
// never outgrows the requests in flight (claimed tenant ids are anyone's to make up).
type tenantSlots struct {
	sem   chan struct{}
	users int
}

func newTenantInFlight(limit int, wait time.Duration) *tenantInFlight {
	if limit < 1 {
		limit = 1
	}
	if wait <= 0 {
		wait = 5 * time.Second
	}
	return &tenantInFlight{limit: limit, wait: wait, slots: map[uuid.UUID]*tenantSlots{}}
}

// tryAcquire takes a free place for a request of tenant t, without waiting. ok false: all of
// the tenant's places are taken.
func (f *tenantInFlight) tryAcquire(t uuid.UUID) (release func(), ok bool) {
	if t == uuid.Nil {
		return func() {}, true // no tenant claimed: the claim is refused without the database
	}
	s := f.join(t)
	select {
	case s.sem <- struct{}{}:
		return f.releaser(t, s), true
	default:
		f.leave(t, s)
		return nil, false
	}
}

// acquire takes a place for a request of tenant t, waiting at most f.wait for one. ok false
// means none came free in time (or the caller went away); release must then not be called.
func (f *tenantInFlight) acquire(ctx context.Context, t uuid.UUID) (release func(), ok bool) {
	if t == uuid.Nil {
		return func() {}, true
	}
	s := f.join(t)
	timer := time.NewTimer(f.wait)
	defer timer.Stop()
	select {
	case s.sem <- struct{}{}:
		return f.releaser(t, s), true
	case <-timer.C:
	case <-ctx.Done():
	}
	f.leave(t, s)
	return nil, false
}

// join counts a request holding or waiting for one of t's places, making t's entry if needed.
func (f *tenantInFlight) join(t uuid.UUID) *tenantSlots {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.slots[t]
	if s == nil {
		s = &tenantSlots{sem: make(chan struct{}, f.limit)}
		f.slots[t] = s
	}
	s.users++
	return s
}

func (f *tenantInFlight) releaser(t uuid.UUID, s *tenantSlots) func() {
	return func() {
		<-s.sem
		f.leave(t, s)
	}
}

func (f *tenantInFlight) leave(t uuid.UUID, s *tenantSlots) {
	f.mu.Lock()
	if s.users--; s.users == 0 {
		delete(f.slots, t)
	}
	f.mu.Unlock()
}

// admitInFlight takes a place among the claimed tenant's requests in flight. When none is free
// it verifies the claim before waiting for one, so that only the tenant's own callers wait (and
// are answered 429, with Retry-After, if none comes free in time), while a claim that does not
// verify gets its refusal at once, as it would from an idle tenant. ok false: the answer has
// been written (or the caller went away).
func (s *Server) admitInFlight(w http.ResponseWriter, r *http.Request, c store.Claim) (release func(), ok bool) {
	if release, ok := s.inFlight.tryAcquire(c.TenantID); ok {
		return release, true
	}
	a, err := s.store.RequestScope(c, true, nil).Verify(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	if release, ok := s.inFlight.acquire(r.Context(), c.TenantID); ok {
		return release, true
	}
	if r.Context().Err() != nil {
		return nil, false // the caller is gone
	}
	noteAccess(w, r, a)
	s.limits.usage(a.TenantID).RateLimited.Add(1)
	writeProblem(w, r, &apiError{status: http.StatusTooManyRequests, code: CodeRateLimited,
		detail: "This tenant has too many requests in progress; retry when some have finished.", retryAfter: time.Second})
	return nil, false
}
