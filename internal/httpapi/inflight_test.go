package httpapi_test

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/auth"
	"tenantd/internal/httpapi"
)

// One tenant's requests in flight are capped, so a tenant whose requests are stuck cannot take
// every database connection: over the cap its next request waits for a place and then answers
// 429 with Retry-After, while other tenants' requests go straight through. A forged credential
// naming the busy tenant gets its 401, not the tenant's 429. When the stuck requests finish,
// the tenant is served again.
func TestTenantInFlightCap(t *testing.T) {
	e := newEnv(t)
	e.serve(t, httpapi.Config{TenantInFlight: 2, TenantInFlightWait: 300 * time.Millisecond})
	owner := e.login("owner@acme.test", "")
	staff := e.login("staff@acme.test", "")
	globex := e.login("owner@globex.test", "")
	forged := e.anon()
	forged.bearer, _, _ = auth.NewAPIToken(e.demo.Acme.ID) // well formed, never stored

	// Another transaction locks a pending acme booking; two confirmations of it wait for the
	// lock, holding both of acme's places.
	booking := e.demo.Acme.Bookings[0].String()
	holder := holdRows(t, e, 1, `SELECT 1 FROM bookings WHERE id = $1 FOR UPDATE`, booking)
	var wg sync.WaitGroup
	stuck := make([]*resp, 2)
	for i, c := range []*client{owner, staff} {
		wg.Go(func() { stuck[i] = c.do("POST", "/api/bookings/"+booking+"/confirm", nil) })
	}
	awaitLockWaiters(t, e, 2)

	cases := []struct {
		name   string
		c      *client
		status int
		code   string
	}{
		{"another tenant is served at once", globex, http.StatusOK, ""},
		{"the busy tenant's next request waits, then 429", owner, http.StatusTooManyRequests, "rate_limited"},
		{"a forged credential naming the busy tenant", forged, http.StatusUnauthorized, "unauthenticated"},
		{"the busy tenant's write waits, then 429", staff, http.StatusTooManyRequests, "rate_limited"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method, body := "GET", any(nil)
			if tc.name == "the busy tenant's write waits, then 429" {
				method, body = "POST", map[string]any{"service_id": e.demo.Acme.Services[0], "client_id": e.demo.Acme.Client,
					"starts_at": time.Now().UTC().Add(96 * time.Hour).Truncate(time.Hour)}
			}
			start := time.Now()
			r := tc.c.do(method, "/api/bookings", body)
			took := time.Since(start)
			mustStatus(t, r, tc.status, tc.code)
			if tc.status == http.StatusTooManyRequests {
				if r.Header.Get("Retry-After") == "" {
					t.Fatal("429 without Retry-After")
				}
				if took < 300*time.Millisecond {
					t.Fatalf("refused after %s, before its wait for a place was over", took)
				}
			}
		})
	}
	var n int
	contSQL(t, e, `SELECT count(*) FROM bookings WHERE tenant_id = $1 AND starts_at > now() + interval '95 hours' AND starts_at < now() + interval '97 hours'`,
		[]any{e.demo.Acme.ID}, &n)
	if n != 0 {
		t.Fatalf("the refused write was stored (%d bookings)", n)
	}

	holder.rollback()
	wg.Wait()
	for _, r := range stuck {
		mustStatus(t, r, http.StatusOK) // held, never refused: confirming twice is allowed
	}
	mustStatus(t, owner.do("GET", "/api/bookings/"+booking, nil), http.StatusOK)
	mustStatus(t, owner.do("GET", "/api/bookings/"+uuid.NewString(), nil), http.StatusNotFound, "not_found")
}

// halfSentPost opens a connection and sends a write request whose body never finishes, as a
// client on a slow line (or an attacker) would; credentials are the request's header lines.
func halfSentPost(t *testing.T, e *env, credentials string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /api/admin/expenses HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", credentials)
	return c
}

// Nothing of a tenant's is held by a credential that merely names it: requests with forged API
// tokens (a token's tenant is a prefix anyone can write) whose bodies never finish do not take
// the tenant's places in flight, and a forged credential is refused as fast when the tenant is
// at its cap as when it is idle, so its timing tells nothing of the tenant's load.
func TestTenantInFlightIgnoresUnverifiedClaims(t *testing.T) {
	t.Run("forged slow bodies hold no place", func(t *testing.T) {
		e := newEnv(t)
		e.serve(t, httpapi.Config{TenantInFlight: 2, TenantInFlightWait: 300 * time.Millisecond})
		owner := e.login("owner@acme.test", "")
		for range 2 {
			forged, _, _ := auth.NewAPIToken(e.demo.Acme.ID)
			halfSentPost(t, e, "Authorization: Bearer "+forged+"\r\n")
		}
		time.Sleep(200 * time.Millisecond)
		mustStatus(t, owner.do("GET", "/api/admin/expenses", nil), http.StatusOK)
	})
	t.Run("a member's slow body holds no place either", func(t *testing.T) {
		e := newEnv(t)
		e.serve(t, httpapi.Config{TenantInFlight: 1, TenantInFlightWait: 300 * time.Millisecond})
		owner := e.login("owner@acme.test", "")
		halfSentPost(t, e, "Cookie: tenantd_session="+owner.cookie("tenantd_session")+"; tenant_sig="+owner.cookie("tenant_sig")+"\r\n")
		time.Sleep(200 * time.Millisecond)
		mustStatus(t, owner.do("GET", "/api/admin/expenses", nil), http.StatusOK)
	})
	t.Run("a forged credential's refusal takes no longer when the tenant is busy", func(t *testing.T) {
		e := newEnv(t)
		e.serve(t, httpapi.Config{TenantInFlight: 1, TenantInFlightWait: 2 * time.Second})
		forged := e.anon()
		forged.bearer, _, _ = auth.NewAPIToken(e.demo.Acme.ID)
		probe := func() time.Duration {
			start := time.Now()
			mustStatus(t, forged.do("GET", "/api/admin/expenses", nil), http.StatusUnauthorized, "unauthenticated")
			return time.Since(start)
		}
		idle := probe()
		// acme at its cap: one of its requests waits for a booking row another transaction holds.
		booking := e.demo.Acme.Bookings[0].String()
		holder := holdRows(t, e, 1, `SELECT 1 FROM bookings WHERE id = $1 FOR UPDATE`, booking)
		owner := e.login("owner@acme.test", "")
		held := make(chan *resp, 1)
		go func() { held <- owner.do("POST", "/api/bookings/"+booking+"/confirm", nil) }()
		awaitLockWaiters(t, e, 1)
		busy := probe()
		if busy > idle+time.Second {
			t.Fatalf("refused in %s while the tenant is busy, %s while idle", busy, idle)
		}
		// acme's own caller, verified, does wait for a place and then hears 429.
		mustStatus(t, owner.do("GET", "/api/admin/expenses", nil), http.StatusTooManyRequests, "rate_limited")
		holder.rollback()
		mustStatus(t, <-held, http.StatusOK)
	})
}
