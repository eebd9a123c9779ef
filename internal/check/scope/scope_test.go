package scope_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tenantd/internal/auth"
	"tenantd/internal/check/scope"
	"tenantd/internal/httpapi"
	"tenantd/internal/pgtest"
	"tenantd/internal/seed"
	"tenantd/internal/store"
	"tenantd/internal/tenancy"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const (
	testSecret   = "check-scope-secret-0123456789-abcdefghij"
	testOperator = "check-scope-operator-0123456789-abcdefghij"
)

// newServer starts the real API on a fresh database with the demo data, plus any extra
// routes. The tenants' request budgets are lifted so that the probe's burst is not throttled.
func newServer(t *testing.T, extra func(db *pgtest.DB) []httpapi.Route) *httptest.Server {
	return newServerWith(t, extra, nil)
}

// newServerWith is newServer with a middleware in front of the API (nil for none).
func newServerWith(t *testing.T, extra func(db *pgtest.DB) []httpapi.Route, front func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	ctx := context.Background()
	st, db := pgtest.Store(t)
	if _, err := seed.Demo(ctx, st); err != nil {
		t.Fatalf("seed: %v", err)
	}
	conn, err := pgx.Connect(ctx, db.SuperURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE thresholds SET requests_per_minute = 1000000`); err != nil {
		t.Fatal(err)
	}
	kr, err := tenancy.NewKeyring(testSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := httpapi.Config{BaseDomain: "localhost", Keyring: kr, OperatorToken: testOperator,
		StorageDir: t.TempDir(), LoginPerMinute: 1000, TenantMaxRPM: 1000000,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if extra != nil {
		cfg.ExtraRoutes = extra(db)
	}
	var h http.Handler = httpapi.New(st, cfg)
	if front != nil {
		h = front(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func run(t *testing.T, cfg scope.Config) (*scope.Report, string) {
	t.Helper()
	rep, err := scope.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("scope.Run: %v", err)
	}
	var out bytes.Buffer
	if err := scope.Print(&out, rep, false); err != nil {
		t.Fatal(err)
	}
	return rep, out.String()
}

func TestScopeFindsNothingOnTheRealServer(t *testing.T) {
	srv := newServer(t, nil)
	rep, out := run(t, scope.Config{Target: srv.URL, OperatorToken: testOperator})
	if !rep.OK() {
		var bad bytes.Buffer
		_ = scope.Print(&bad, rep, true)
		t.Fatalf("the probe reports problems on the real server:\n%s", bad.String())
	}
	if rep.Count(scope.OK) < 100 {
		t.Errorf("only %d probes ran:\n%s", rep.Count(scope.OK), out)
	}
	for _, want := range []string{
		"GET /api/bookings/{id}", "other tenant's id", "headers naming globex", "on acme.localhost",
		"tampered tenant_sig", "acme's tenant_sig", "expired tenant_sig", "no credentials", "no leaks",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// Every route with an id was tried with the other tenant's ids, in both directions.
	tried := map[string]bool{}
	for _, r := range rep.Results {
		if r.Probe == "other tenant's id" && r.Verdict == scope.OK {
			tried[r.Route] = true
		}
	}
	for _, route := range []string{"GET /api/bookings/{id}", "PUT /api/bookings/{id}", "DELETE /api/bookings/{id}",
		"PATCH /api/admin/services/{id}", "GET /api/admin/invoices/{id}"} {
		if !tried[route] {
			t.Errorf("%s was not probed with foreign ids", route)
		}
	}
}

func TestScopeWithAPITokens(t *testing.T) {
	srv := newServer(t, nil)
	var tokens []scope.Token
	for _, tenant := range []string{"acme", "globex"} {
		tok := createToken(t, srv.URL, "owner@"+tenant+".test", tenant)
		tokens = append(tokens, scope.Token{Tenant: tenant, Token: tok})
	}
	rep, _ := run(t, scope.Config{Target: srv.URL, Tokens: tokens})
	if !rep.OK() {
		var bad bytes.Buffer
		_ = scope.Print(&bad, rep, true)
		t.Fatalf("the probe with API tokens reports problems:\n%s", bad.String())
	}
}

// createToken signs in and creates an OWNER API token.
func createToken(t *testing.T, base, email, tenant string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": seed.Password, "tenant": tenant})
	res, err := http.Post(base+"/api/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	req, _ := http.NewRequest("POST", base+"/api/admin/api-tokens", strings.NewReader(`{"name":"probe","role":"OWNER"}`))
	req.Header.Set("Content-Type", "application/json")
	for _, c := range res.Cookies() {
		req.AddCookie(c)
	}
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated || json.Unmarshal(data, &out) != nil {
		t.Fatalf("create token: %d %s", res.StatusCode, data)
	}
	tok, _ := out["token"].(string)
	if tok == "" {
		t.Fatalf("create token: no token in %s", data)
	}
	return tok
}

// leakyRoutes are handlers that forget their scope: they read bookings through their own
// superuser pool, so any tenant's bookings are served to any caller.
func leakyRoutes(t *testing.T, db *pgtest.DB) []httpapi.Route {
	pool, err := pgxpool.New(context.Background(), db.SuperURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	type booking struct {
		ID       string `json:"id"`
		ClientID string `json:"client_id"`
		Status   string `json:"status"`
	}
	read := func(r *http.Request, where string, args ...any) ([]booking, error) {
		rows, err := pool.Query(r.Context(), `SELECT id::text, client_id::text, status FROM bookings `+where+` ORDER BY id DESC`, args...)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowToStructByPos[booking])
	}
	writeJSON := func(w http.ResponseWriter, v any) error {
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(v)
	}
	return []httpapi.Route{{
		Method: "GET", Pattern: "/api/chk-leak/bookings", Kind: httpapi.KindTenant, Permission: auth.PermBookingsAll,
		Summary: "Every booking, read without the tenant scope (test fixture)",
		Handler: func(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
			items, err := read(r, "")
			if err != nil {
				return err
			}
			return writeJSON(w, map[string]any{"items": items, "next_cursor": ""})
		},
	}, {
		Method: "GET", Pattern: "/api/chk-leak/bookings/{id}", Kind: httpapi.KindTenant, Permission: auth.PermBookingsUse,
		Summary: "A booking, read without the tenant scope (test fixture)",
		Handler: func(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
			items, err := read(r, "WHERE id::text = $1", r.PathValue("id"))
			if err != nil {
				return err
			}
			if len(items) == 0 {
				return store.ErrNotFound
			}
			return writeJSON(w, items[0])
		},
	}}
}

func TestScopeCatchesAnUnscopedHandler(t *testing.T) {
	srv := newServer(t, func(db *pgtest.DB) []httpapi.Route { return leakyRoutes(t, db) })
	rep, out := run(t, scope.Config{Target: srv.URL})
	if rep.OK() {
		t.Fatalf("the probe passed a server with an unscoped handler:\n%s", out)
	}
	leaks := map[string]bool{}
	for _, r := range rep.Results {
		if r.Verdict == scope.Leak {
			leaks[r.Route] = true
		} else if r.Verdict == scope.Fail {
			t.Errorf("unexpected failure: %+v", r)
		}
	}
	for _, route := range []string{"GET /api/chk-leak/bookings", "GET /api/chk-leak/bookings/{id}"} {
		if !leaks[route] {
			t.Errorf("the leaky route %s is not reported:\n%s", route, out)
		}
	}
	for route := range leaks {
		if !strings.HasPrefix(route, "GET /api/chk-leak/") {
			t.Errorf("leak reported on a sound route %s", route)
		}
	}
	if !strings.Contains(out, "ISOLATION FALLS SHORT") {
		t.Errorf("summary does not say it failed:\n%s", out)
	}
}

// TestScopeCatchesALostHost puts the API behind a front end that loses the Host header (as a
// misconfigured proxy would): the host cross-check can then never fire, and the probe must say
// that one tenant's credentials work on the other tenant's host.
func TestScopeCatchesALostHost(t *testing.T) {
	srv := newServerWith(t, nil, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Host = "127.0.0.1"
			next.ServeHTTP(w, r)
		})
	})
	rep, out := run(t, scope.Config{Target: srv.URL})
	if rep.OK() {
		t.Fatalf("the probe passed a deployment that ignores the host:\n%s", out)
	}
	hostLeak := false
	for _, r := range rep.Results {
		if r.Verdict == scope.Leak && strings.HasPrefix(r.Probe, "on globex.localhost") && r.Route == "GET /api/bookings" {
			hostLeak = true
		}
	}
	if !hostLeak {
		t.Errorf("acme's cookie on globex's host is not reported:\n%s", out)
	}
}

func TestCredentialsAndTokens(t *testing.T) {
	path := t.TempDir() + "/creds.json"
	if err := os.WriteFile(path, []byte(`[{"tenant":"acme","email":"a@x.test","password":"p"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	creds, err := scope.LoadCredentials(path)
	if err != nil || len(creds) != 1 || creds[0].Tenant != "acme" || creds[0].Email != "a@x.test" {
		t.Errorf("LoadCredentials = %+v, %v", creds, err)
	}
	if err := os.WriteFile(path, []byte(`[{"tenant":"acme"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := scope.LoadCredentials(path); err == nil {
		t.Errorf("a sign-in without email and password was accepted")
	}
	if tok, err := scope.ParseToken("globex=td_abc=def"); err != nil || tok.Tenant != "globex" || tok.Token != "td_abc=def" {
		t.Errorf("ParseToken = %+v, %v", tok, err)
	}
	for _, bad := range []string{"", "globex", "=tok", "globex="} {
		if _, err := scope.ParseToken(bad); err == nil {
			t.Errorf("ParseToken(%q) accepted", bad)
		}
	}
	if _, err := scope.Run(context.Background(), scope.Config{Target: "not a url"}); err == nil {
		t.Errorf("Run accepted a bad target")
	}
}
