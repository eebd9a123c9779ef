package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"tenantd/internal/httpapi"
	"tenantd/internal/pgtest"
	"tenantd/internal/seed"
	"tenantd/internal/store"
	"tenantd/internal/tenancy"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const (
	testSecret   = "test-secret-0123456789-abcdefghijklmnop"
	testOperator = "operator-token-0123456789-abcdefghijklmnop"
)

// env is one test's whole system: a fresh database with the demo data, the API server on a
// real loopback listener, and helpers to act as any demo user.
type env struct {
	t       testing.TB
	st      *store.Store
	db      *pgtest.DB
	api     *httpapi.Server
	srv     *httptest.Server
	demo    *seed.Result
	keyring *tenancy.Keyring
	files   string // the storage directory the seed wrote attachments to

	documented    map[string]map[int]string // documentedSuccesses of documentedFor
	documentedFor *httpapi.Server
}

func newEnv(t testing.TB) *env {
	return newEnvWith(t, testSecret, nil)
}

func newEnvWith(t testing.TB, secret string, previous []string) *env {
	t.Helper()
	st, db := pgtest.Store(t)
	files := t.TempDir()
	demo, err := seed.DemoWithFiles(context.Background(), st, files)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	kr, err := tenancy.NewKeyring(secret, previous)
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(st, httpapi.Config{BaseDomain: "localhost", Keyring: kr, OperatorToken: testOperator,
		StorageDir: files, LoginPerMinute: 1000,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &env{t: t, st: st, db: db, api: api, srv: srv, demo: demo, keyring: kr, files: files}
}

// client is a caller: cookies from a login, or a bearer token, and the Host it talks to.
type client struct {
	e       *env
	cookies map[string]*http.Cookie
	host    string
	bearer  string
}

// anon returns a caller with no credentials.
func (e *env) anon() *client { return &client{e: e, cookies: map[string]*http.Cookie{}} }

// login signs in as email (demo password) at the apex, optionally naming a tenant.
func (e *env) login(email, tenant string) *client {
	e.t.Helper()
	c := e.anon()
	body := map[string]string{"email": email, "password": seed.Password}
	if tenant != "" {
		body["tenant"] = tenant
	}
	r := c.do("POST", "/api/auth/login", body)
	if r.Status != http.StatusOK {
		e.t.Fatalf("login %s: %d %s", email, r.Status, r.Body)
	}
	return c
}

// onHost returns a copy of c that sends Host: host.
func (c *client) onHost(host string) *client {
	cp := *c
	cp.host = host
	cp.cookies = map[string]*http.Cookie{}
	for k, v := range c.cookies {
		cp.cookies[k] = v
	}
	return &cp
}

// withCookie returns a copy of c with one cookie replaced (value "" removes it).
func (c *client) withCookie(name, value string) *client {
	cp := c.onHost(c.host)
	if value == "" {
		delete(cp.cookies, name)
	} else {
		cp.cookies[name] = &http.Cookie{Name: name, Value: value}
	}
	return cp
}

func (c *client) cookie(name string) string {
	if k := c.cookies[name]; k != nil {
		return k.Value
	}
	return ""
}

type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *resp) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// code is the problem document's code, or "".
func (r *resp) code() string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(r.Body, &p)
	return p.Code
}

// namesField reports whether the problem document lists an error for field.
func (r *resp) namesField(field string) bool {
	var p struct {
		Errors []struct {
			Field string `json:"field"`
		} `json:"errors"`
	}
	_ = json.Unmarshal(r.Body, &p)
	for _, e := range p.Errors {
		if e.Field == field {
			return true
		}
	}
	return false
}

// do sends a request; body is JSON-encoded unless it is a string or []byte. Extra headers come
// in pairs.
func (c *client) do(method, path string, body any, headers ...string) *resp {
	c.e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.e.srv.URL+path, rd)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.host != "" {
		req.Host = c.host
	}
	for _, k := range c.cookies {
		req.AddCookie(k)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.e.srv.Client().Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	for _, k := range res.Cookies() {
		if k.MaxAge < 0 {
			delete(c.cookies, k.Name)
		} else {
			c.cookies[k.Name] = k
		}
	}
	c.e.checkDocumented(req, res, data)
	return &resp{Status: res.StatusCode, Header: res.Header, Body: data}
}

// documentedSuccesses reads, from the served OpenAPI document, every route's success answers:
// "METHOD pattern" to status to media type ("" for an answer without a body).
func documentedSuccesses(api *httpapi.Server) (map[string]map[int]string, error) {
	raw, err := json.Marshal(api.OpenAPI())
	if err != nil {
		return nil, err
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]any `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	out := map[string]map[int]string{}
	for pattern, ops := range doc.Paths {
		for method, op := range ops {
			answers := map[int]string{}
			for code, r := range op.Responses {
				status, err := strconv.Atoi(code)
				if err != nil {
					continue // "default": the problem documents
				}
				answers[status] = ""
				for mt := range r.Content {
					answers[status] = mt
				}
			}
			out[strings.ToUpper(method)+" "+pattern] = answers
		}
	}
	return out, nil
}

// checkDocumented fails the test when a success answer is not one the OpenAPI document lists
// for its route, with the media type it lists. Every request a test makes through a client
// is checked, so the document's success answers are as tested as the routes themselves.
func (e *env) checkDocumented(req *http.Request, res *http.Response, body []byte) {
	e.t.Helper()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return
	}
	route := e.api.Pattern(req) // "METHOD pattern", as the mux registered it
	if route == "" {
		return
	}
	if e.documented == nil || e.documentedFor != e.api {
		docs, err := documentedSuccesses(e.api)
		if err != nil {
			e.t.Fatalf("read the OpenAPI document: %v", err)
		}
		e.documented, e.documentedFor = docs, e.api
	}
	answers := e.documented[route]
	want, ok := answers[res.StatusCode]
	if !ok {
		e.t.Errorf("%s answered %d; its OpenAPI entry documents only %v", route, res.StatusCode, answers)
		return
	}
	got, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	switch {
	case want == "" && len(body) > 0:
		e.t.Errorf("%s answered %d with a %q body; its OpenAPI entry documents none", route, res.StatusCode, got)
	case want != "" && want != "*/*" && want != got:
		e.t.Errorf("%s answered %d with %q; its OpenAPI entry documents %q", route, res.StatusCode, got, want)
	}
}

// mustStatus fails the test unless r has the status (and, if given, the problem code).
func mustStatus(t testing.TB, r *resp, status int, code ...string) {
	t.Helper()
	if r.Status != status || (len(code) > 0 && r.code() != code[0]) {
		t.Fatalf("got %d %s, want %d %v", r.Status, r.Body, status, code)
	}
}
