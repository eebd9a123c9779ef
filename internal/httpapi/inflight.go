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
// The bound is per claimed tenant, taken before the claim is verified (verifying needs the
// database too). A caller with forged credentials naming a tenant holds a slot only for the one
// round trip that refuses it, and is refused with 401, never with the tenant's 429.
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

// acquire takes a place for a request of tenant t, waiting at most f.wait for one. ok false
// means none came free in time (or the caller went away); release must then not be called.
func (f *tenantInFlight) acquire(ctx context.Context, t uuid.UUID) (release func(), ok bool) {
	if t == uuid.Nil {
		return func() {}, true // no tenant claimed: the claim is refused without the database
	}
	f.mu.Lock()
	s := f.slots[t]
	if s == nil {
		s = &tenantSlots{sem: make(chan struct{}, f.limit)}
		f.slots[t] = s
	}
	s.users++
	f.mu.Unlock()
	release = func() {
		<-s.sem
		f.leave(t, s)
	}
	select {
	case s.sem <- struct{}{}:
		return release, true
	default:
	}
	timer := time.NewTimer(f.wait)
	defer timer.Stop()
	select {
	case s.sem <- struct{}{}:
		return release, true
	case <-timer.C:
	case <-ctx.Done():
	}
	f.leave(t, s)
	return nil, false
}

func (f *tenantInFlight) leave(t uuid.UUID, s *tenantSlots) {
	f.mu.Lock()
	if s.users--; s.users == 0 {
		delete(f.slots, t)
	}
	f.mu.Unlock()
}

// tooBusy answers a request that found no place among its tenant's requests in flight: 429 once
// its claim verified (the tenant is told to slow down), else the claim's own refusal, so that a
// forged credential learns nothing about the tenant's load.
func (s *Server) tooBusy(w http.ResponseWriter, r *http.Request, c store.Claim) {
	if r.Context().Err() != nil {
		return // the caller is gone
	}
	a, err := s.store.RequestScope(c, true, nil).Verify(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	noteAccess(w, r, a)
	s.limits.usage(a.TenantID).RateLimited.Add(1)
	writeProblem(w, r, &apiError{status: http.StatusTooManyRequests, code: CodeRateLimited,
		detail: "This tenant has too many requests in progress; retry when some have finished.", retryAfter: time.Second})
}
