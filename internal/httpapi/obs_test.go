package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"tenantd/internal/auth"
	"tenantd/internal/httpapi"
	"tenantd/internal/obs"
	"tenantd/internal/store"
)

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// serve replaces the env's server with one built from cfg (same database and keyring).
func (e *env) serve(t testing.TB, cfg httpapi.Config) *httpapi.Server {
	cfg.BaseDomain, cfg.Keyring, cfg.OperatorToken, cfg.StorageDir = "localhost", e.keyring, testOperator, e.files
	if cfg.LoginPerMinute == 0 {
		cfg.LoginPerMinute = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	api := httpapi.New(e.st, cfg)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	e.api, e.srv = api, srv
	return api
}

// Every line logged while serving a request carries its request_id, tenant_id and user_id.
func TestLogLinesCarryRequestIdentity(t *testing.T) {
	e := newEnv(t)
	logs := &lockedBuffer{}
	e.serve(t, httpapi.Config{Logger: obs.NewLogger(logs, slog.LevelDebug)})
	owner := e.login("owner@acme.test", "")
	acmeClient := e.login("client@acme.test", "")
	requests := []struct {
		c      *client
		method string
		path   string
		status int
		user   string
	}{
		{owner, "GET", "/api/bookings", 200, e.demo.Acme.Owner.String()},
		{acmeClient, "GET", "/api/admin/services", 403, e.demo.Acme.Client.String()},
		{owner.onHost("globex.localhost"), "GET", "/api/bookings", 403, e.demo.Acme.Owner.String()},
	}
	for _, rq := range requests {
		r := rq.c.do(rq.method, rq.path, nil)
		mustStatus(t, r, rq.status)
		rid := r.Header.Get("X-Request-Id")
		n := 0
		for _, line := range logs.lines() {
			if line["request_id"] != rid {
				continue
			}
			n++
			if line["tenant_id"] != e.demo.Acme.ID.String() || line["user_id"] != rq.user {
				t.Errorf("%s %s: line %v lacks the tenant or user", rq.method, rq.path, line)
			}
		}
		if n == 0 {
			t.Fatalf("%s %s: no log line carries request id %s", rq.method, rq.path, rid)
		}
	}
	// Every line of the run has the three keys, request or not.
	for _, line := range logs.lines() {
		if line["msg"] == "request" {
			for _, k := range []string{"request_id", "tenant_id", "user_id", "route", "status", "duration_ms"} {
				if _, ok := line[k]; !ok {
					t.Fatalf("access log line without %s: %v", k, line)
				}
			}
		}
	}
}

func metricValue(body, prefix string) string {
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			return strings.TrimSpace(strings.TrimPrefix(l, prefix))
		}
	}
	return ""
}

// /metrics is for the operator only, moves with traffic and names no tenant.
func TestMetricsMove(t *testing.T) {
	e := newEnv(t)
	e.serve(t, httpapi.Config{Metrics: obs.NewMetrics()})
	owner := e.login("owner@acme.test", "")
	operator := e.anon()
	operator.bearer = testOperator
	mustStatus(t, e.anon().do("GET", "/metrics", nil), http.StatusUnauthorized)
	mustStatus(t, owner.do("GET", "/metrics", nil), http.StatusUnauthorized)
	series := `tenantd_http_requests_total{method="GET",route="GET /api/bookings",status="200"} `
	mustStatus(t, owner.do("GET", "/api/bookings", nil), 200)
	r1 := operator.do("GET", "/metrics", nil)
	mustStatus(t, r1, 200)
	mustStatus(t, owner.do("GET", "/api/bookings", nil), 200)
	mustStatus(t, owner.withCookie("tenant_sig", "forged").do("GET", "/api/bookings", nil), 403)
	r2 := operator.do("GET", "/metrics", nil)
	v1, v2 := metricValue(string(r1.Body), series), metricValue(string(r2.Body), series)
	if v1 != "1" || v2 != "2" {
		t.Fatalf("request counter %q then %q", v1, v2)
	}
	if metricValue(string(r2.Body), `tenantd_security_events_total{kind="invalid_tenant_signature"} `) != "1" {
		t.Fatal("security event not counted")
	}
	mustStatus(t, operator.do("POST", "/api/platform/tenants/globex/suspend", nil), http.StatusOK)
	r3 := operator.do("GET", "/metrics", nil)
	if metricValue(string(r3.Body), `tenantd_security_events_total{kind="platform_action"} `) != "1" {
		t.Fatal("platform action not counted")
	}
	if !strings.Contains(string(r2.Body), `tenantd_store_scope_duration_seconds_count{kind="read"}`) {
		t.Fatal("no store scope latency")
	}
	for _, id := range []string{e.demo.Acme.ID.String(), e.demo.Globex.ID.String(), e.demo.Acme.Owner.String()} {
		if strings.Contains(string(r2.Body), id) {
			t.Fatalf("metrics name %s", id)
		}
	}
}

// With SENTRY_DSN set, an unexpected error reaches Sentry tagged with the request's identity.
func TestUnexpectedErrorsGoToSentry(t *testing.T) {
	var mu sync.Mutex
	var received []byte
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = append(received, b...)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer sink.Close()
	dsn := "http://publickey@" + strings.TrimPrefix(sink.URL, "http://") + "/42"
	reporter, err := obs.NewReporter(dsn, "test")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	boom := httpapi.Route{Method: "GET", Pattern: "/api/test/boom", Kind: httpapi.KindTenant, Permission: auth.PermSession,
		Summary: "fails", Handler: func(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
			if _, err := sc.Verify(r.Context()); err != nil {
				return err
			}
			return errors.New("boom: something unexpected")
		}}
	e.serve(t, httpapi.Config{Reporter: reporter, ExtraRoutes: []httpapi.Route{boom}})
	owner := e.login("owner@acme.test", "")
	r := owner.do("GET", "/api/test/boom", nil)
	mustStatus(t, r, http.StatusInternalServerError, "internal_error")
	if strings.Contains(string(r.Body), "something unexpected") {
		t.Fatal("the internal error leaked to the client")
	}
	reporter.Flush(5 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"boom: something unexpected", r.Header.Get("X-Request-Id"), e.demo.Acme.ID.String(), e.demo.Acme.Owner.String(), `"tenant_id"`, `"request_id"`, `"user_id"`} {
		if !bytes.Contains(received, []byte(want)) {
			t.Fatalf("sentry event lacks %s: %s", want, received)
		}
	}
}
