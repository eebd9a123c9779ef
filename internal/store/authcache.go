package store

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// authCache remembers verified claims so that a request whose claim was verified before needs
// no verification query: it is enough that the tenant's authorization generation, read in the
// same statement that sets the request's tenant, is still the one the claim was verified at.
// Every change that could alter a verification outcome (memberships, API tokens, sessions,
// thresholds, the tenant's slug, domain or status) bumps that generation in its own
// transaction, on whichever server or tool made it, so a cached verification never outlives
// what it stands for: the next request after such a change verifies afresh.
type authCache struct {
	mu      sync.Mutex
	entries map[authKey]authEntry
}

// authKey is the whole claim: a cached verification applies only to exactly the same
// credential, tenant, user, session and host.
type authKey struct {
	credential [32]byte // SHA-256 of the session or token secret
	token      bool
	tenant     uuid.UUID
	user       uuid.UUID
	session    uuid.UUID
	hostSlug   string
	hostDomain string
}

type authEntry struct {
	access    Access
	gen       int64
	expiresAt time.Time // the credential's own expiry
	cachedAt  time.Time
}

const (
	authCacheMax = 100_000
	authCacheTTL = 10 * time.Minute
)

func newAuthCache() *authCache { return &authCache{entries: map[authKey]authEntry{}} }

func keyOf(c Claim) authKey {
	k := authKey{tenant: c.TenantID, user: c.UserID, session: c.SessionID, hostSlug: c.HostSlug, hostDomain: c.HostDomain}
	if c.TokenHash != nil {
		copy(k.credential[:], c.TokenHash)
		k.token = true
	} else {
		copy(k.credential[:], c.SessionHash)
	}
	return k
}

func (a *authCache) get(k authKey, now time.Time) (authEntry, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.entries[k]
	if !ok {
		return e, false
	}
	if !now.Before(e.expiresAt) || now.Sub(e.cachedAt) > authCacheTTL {
		delete(a.entries, k)
		return e, false
	}
	return e, true
}

func (a *authCache) put(k authKey, e authEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.entries) >= authCacheMax {
		// Dropping everything is crude but bounded; the next requests verify afresh.
		a.entries = map[authKey]authEntry{}
	}
	a.entries[k] = e
}

func (a *authCache) drop(k authKey) {
	a.mu.Lock()
	delete(a.entries, k)
	a.mu.Unlock()
}
