package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"tenantd/internal/httpapi"
)

// A tenant that floods past its limit gets 429 with Retry-After, while another tenant's
// requests in the same period all succeed.
func TestNoisyTenantDoesNotStarveOthers(t *testing.T) {
	e := newEnv(t)
	// The same database, served with a low per-tenant limit: 60 a minute, a burst of 10.
	api := httpapi.New(e.st, httpapi.Config{BaseDomain: "localhost", Keyring: e.keyring, OperatorToken: testOperator,
		StorageDir: t.TempDir(), LoginPerMinute: 1000, TenantMaxRPM: 60, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(api)
	defer srv.Close()
	e.srv = srv
	acme := e.login("owner@acme.test", "")
	globex := e.login("owner@globex.test", "")

	var wg sync.WaitGroup
	var limited, acmeOK atomic.Int64
	retryAfter := make(chan string, 1)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				r := acme.do("GET", "/api/bookings", nil)
				switch r.Status {
				case http.StatusTooManyRequests:
					limited.Add(1)
					select {
					case retryAfter <- r.Header.Get("Retry-After"):
					default:
					}
				case http.StatusOK:
					acmeOK.Add(1)
				}
			}
		}()
	}
	globexFailures := 0
	for i := 0; i < 8; i++ {
		if r := globex.do("GET", "/api/bookings", nil); r.Status != http.StatusOK {
			globexFailures++
			t.Errorf("globex request %d: %d %s", i, r.Status, r.Body)
		}
	}
	wg.Wait()
	if limited.Load() == 0 {
		t.Fatalf("acme sent 100 requests at a 60/min limit and none was limited (%d ok)", acmeOK.Load())
	}
	if ra := <-retryAfter; ra == "" || ra == "0" {
		t.Fatalf("429 without a Retry-After (%q)", ra)
	}
	if globexFailures != 0 {
		t.Fatalf("globex was starved: %d failures", globexFailures)
	}
	u := api.TenantUsage(e.demo.Acme.ID)
	if u.RateLimited != limited.Load() || u.Requests == 0 {
		t.Fatalf("usage %+v, limited %d", u, limited.Load())
	}
}

// A tenant's budget holds however its requests are sent: 50 requests at a limit of 60 a minute
// (a burst of 10) get about 10 answers, whether they come one after another or all at once.
// Each request is charged when its claim verifies, before its handler's work is let through.
func TestTenantLimitHoldsForConcurrentRequests(t *testing.T) {
	for _, tc := range []struct {
		name     string
		parallel int
	}{
		{"one after another", 1},
		{"all at once", 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.serve(t, httpapi.Config{TenantMaxRPM: 60, TenantInFlight: 64})
			acme := e.login("owner@acme.test", "")
			const total = 50
			var served, limited atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range tc.parallel {
				c := acme.onHost("")
				wg.Go(func() {
					<-start
					for range total / tc.parallel {
						switch r := c.do("GET", "/api/admin/invoices", nil); r.Status {
						case http.StatusOK:
							served.Add(1)
						case http.StatusTooManyRequests:
							limited.Add(1)
						default:
							t.Errorf("answered %d %s", r.Status, r.Body)
						}
					}
				})
			}
			close(start)
			wg.Wait()
			// The burst, plus what a minute's rate refills while the requests run.
			if n := served.Load(); n > 12 || n < 10 {
				t.Errorf("%d of %d requests served at a limit of 60 a minute with a burst of 10", n, total)
			}
			if served.Load()+limited.Load() != total {
				t.Errorf("%d served and %d limited of %d", served.Load(), limited.Load(), total)
			}
		})
	}
}
