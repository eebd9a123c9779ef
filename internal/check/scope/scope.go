// Package scope is `tenantd check scope`: a black-box probe of a running deployment that tries
// to make one tenant see another tenant's data, using nothing but HTTP and the deployment's
// own OpenAPI document.
//
// It signs in to two tenants, reads each tenant's ids (and slugs) from its list routes, and
// then, as each tenant in turn, asks for the other tenant's objects on every route that takes
// an id, spoofs tenant headers, sends its cookie to the other tenant's host, forges and swaps
// tenant_sig cookies, and checks that every non-public route wants credentials. Every answer
// given to one tenant is searched for the other tenant's ids. It only discovers with GETs;
// the only bodies it sends are `{}`, to routes with another tenant's or a random id, which a
// correct server refuses with 404 and no effect; it never sends a caller's own ids to a route
// that changes data.
package scope

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"
)

// Credential signs in one user to one tenant.
type Credential struct {
	Tenant   string `json:"tenant"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Token is an API token of one tenant.
type Token struct {
	Tenant string
	Token  string
}

// DemoPassword is the password of every demo user (SPEC §7).
const DemoPassword = "demo-password"

// DemoCredentials are the demo tenants' owners and first clients.
func DemoCredentials() []Credential {
	return []Credential{
		{Tenant: "acme", Email: "owner@acme.test", Password: DemoPassword},
		{Tenant: "acme", Email: "client@acme.test", Password: DemoPassword},
		{Tenant: "globex", Email: "owner@globex.test", Password: DemoPassword},
		{Tenant: "globex", Email: "client@globex.test", Password: DemoPassword},
	}
}

// LoadCredentials reads a JSON file of [{tenant, email, password}, ...].
func LoadCredentials(path string) ([]Credential, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Credential
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i, c := range out {
		if c.Email == "" || c.Password == "" {
			return nil, fmt.Errorf("%s: entry %d needs email and password", path, i)
		}
	}
	return out, nil
}

// ParseToken reads a --token value of the form tenant=TOKEN.
func ParseToken(s string) (Token, error) {
	t, tok, ok := strings.Cut(s, "=")
	if !ok || t == "" || tok == "" {
		return Token{}, fmt.Errorf("token %q: want tenant=TOKEN", s)
	}
	return Token{Tenant: t, Token: tok}, nil
}

// Config says what to probe.
type Config struct {
	// Target is the deployment's base URL (its apex), e.g. http://127.0.0.1:8080.
	Target string
	// BaseDomain is the domain under which tenant hosts live (<slug>.<BaseDomain>). When
	// empty it is the target's host name, or "localhost" for an IP address or localhost.
	BaseDomain string
	// Credentials and Tokens are the callers. With neither, the demo users sign in.
	Credentials []Credential
	Tokens      []Token
	// OperatorToken, when set, is also tried on tenant routes (where it must not work).
	OperatorToken string
	// IDsPerRoute is how many of the other tenant's ids are tried per route and caller
	// (default 2).
	IDsPerRoute int
	// HTTPClient defaults to one with a 30 s timeout that follows no redirects.
	HTTPClient *http.Client
	// MaxRateLimitWait bounds the total time spent waiting out 429 answers (default 3 min).
	MaxRateLimitWait time.Duration
}

// Verdict is the outcome of one probe.
type Verdict string

// The verdicts. A leak is another tenant's data (or its existence) seen; a failure is an
// answer the contract forbids that showed no data.
const (
	OK   Verdict = "ok"
	Leak Verdict = "LEAK"
	Fail Verdict = "FAIL"
	Skip Verdict = "skip"
)

// Result is one row of the report: one kind of probe on one route as one caller (requests of
// the same kind are folded into one row; the worst answer is shown).
type Result struct {
	Route    string // "METHOD PATTERN"
	Probe    string
	Caller   string
	Expected string
	Got      string
	Verdict  Verdict
	Requests int
}

// Report is what the probe found.
type Report struct {
	Target   string
	Tenants  [2]string
	Routes   int
	Requests int
	Results  []Result
	// Shared lists ids that both tenants legitimately see (users with memberships in both):
	// they are not counted as the other tenant's.
	Shared int
}

// Count returns how many results have verdict v.
func (r *Report) Count(v Verdict) int {
	n := 0
	for _, x := range r.Results {
		if x.Verdict == v {
			n++
		}
	}
	return n
}

// OK reports whether nothing leaked and nothing fell short.
func (r *Report) OK() bool { return r.Count(Leak) == 0 && r.Count(Fail) == 0 }

// operation is one route of the OpenAPI document.
type operation struct {
	method     string
	path       string
	kind       string // public, tenant, platform
	permission string
	hostTenant bool
	params     []string
}

func (o operation) key() string { return o.method + " " + o.path }
func (o operation) list() bool  { return o.method == http.MethodGet && len(o.params) == 0 }

// prober holds one run's state.
type prober struct {
	cfg        Config
	c          *client
	baseDomain string
	port       string
	ops        []operation
	sides      [2]*side
	results    map[string]*Result
	order      []string
	// seen holds every answer given to a tenant's callers or on its host, for the final
	// search for the other tenant's ids.
	seen [2][]seenResponse
}

type seenResponse struct {
	route, probe, caller string
	body                 []byte
	sent                 string // ids the request itself carried, lower-cased
}

// Run probes the target.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	u, err := url.Parse(cfg.Target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("target %q: want a URL such as http://127.0.0.1:8080", cfg.Target)
	}
	if cfg.IDsPerRoute <= 0 {
		cfg.IDsPerRoute = 2
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = newHTTPClient()
	}
	if cfg.MaxRateLimitWait == 0 {
		cfg.MaxRateLimitWait = 3 * time.Minute
	}
	if len(cfg.Credentials) == 0 && len(cfg.Tokens) == 0 {
		cfg.Credentials = DemoCredentials()
	}
	name, port := splitHostPort(u.Host)
	p := &prober{cfg: cfg, c: &client{base: u.Scheme + "://" + u.Host, http: cfg.HTTPClient, maxWait: cfg.MaxRateLimitWait},
		port: port, results: map[string]*Result{}}
	p.baseDomain = cfg.BaseDomain
	if p.baseDomain == "" {
		p.baseDomain = strings.ToLower(strings.Trim(name, "[]"))
		if p.baseDomain == "localhost" || net.ParseIP(p.baseDomain) != nil {
			p.baseDomain = "localhost"
		}
	}
	if err := p.readOpenAPI(ctx); err != nil {
		return nil, err
	}
	if err := p.signIn(ctx); err != nil {
		return nil, err
	}
	for _, s := range p.sides {
		if err := p.collect(ctx, s); err != nil {
			return nil, err
		}
	}
	shared := p.foreignSets()
	for dir := 0; dir < 2; dir++ {
		if err := p.probeDirection(ctx, p.sides[dir], p.sides[1-dir]); err != nil {
			return nil, err
		}
	}
	if err := p.probeAnonymous(ctx); err != nil {
		return nil, err
	}
	for i, s := range p.sides {
		p.searchSeen(i, p.sides[1-i], s)
	}
	rep := &Report{Target: cfg.Target, Routes: len(p.ops), Requests: p.c.requests, Shared: shared,
		Tenants: [2]string{p.sides[0].tenant.Slug, p.sides[1].tenant.Slug}}
	for _, k := range p.order {
		rep.Results = append(rep.Results, *p.results[k])
	}
	return rep, nil
}

// readOpenAPI reads the route list from the deployment's own document.
func (p *prober) readOpenAPI(ctx context.Context) error {
	res, err := p.c.do(ctx, request{method: "GET", path: "/api/openapi.json"})
	if err != nil {
		return err
	}
	if res.status != http.StatusOK {
		return fmt.Errorf("%w: %s", errNoOpenAPI, res.summary())
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Kind       string `json:"x-kind"`
			Permission string `json:"x-permission"`
			TenantFrom string `json:"x-tenant-from"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(res.body, &doc); err != nil {
		return fmt.Errorf("%w: %v", errNoOpenAPI, err)
	}
	for path, item := range doc.Paths {
		for method, op := range item {
			o := operation{method: strings.ToUpper(method), path: path, kind: op.Kind, permission: op.Permission,
				hostTenant: op.TenantFrom == "host", params: pathParams(path)}
			p.ops = append(p.ops, o)
		}
	}
	sort.Slice(p.ops, func(i, j int) bool {
		if p.ops[i].path != p.ops[j].path {
			return p.ops[i].path < p.ops[j].path
		}
		return p.ops[i].method < p.ops[j].method
	})
	if len(p.ops) == 0 {
		return fmt.Errorf("%w: the document lists no routes", errNoOpenAPI)
	}
	for _, o := range p.ops {
		switch {
		case o.kind != "public" && o.kind != "tenant" && o.kind != "platform":
			p.record(o.key(), "openapi x-kind", "", "public|tenant|platform", fmt.Sprintf("%q", o.kind), Fail)
		case o.kind == "tenant" && o.permission == "":
			p.record(o.key(), "openapi x-permission", "", "a permission", "none", Fail)
		}
	}
	return nil
}

func pathParams(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, strings.TrimSuffix(strings.Trim(seg, "{}"), "..."))
		}
	}
	return out
}

// record folds one probe outcome into its row: the worst verdict wins and is what the row
// shows.
func (p *prober) record(route, probe, who, expected, got string, v Verdict) {
	k := route + "\x00" + probe + "\x00" + who
	r := p.results[k]
	if r == nil {
		r = &Result{Route: route, Probe: probe, Caller: who, Expected: expected, Got: got, Verdict: v}
		p.results[k] = r
		p.order = append(p.order, k)
	} else if rank(v) > rank(r.Verdict) {
		r.Expected, r.Got, r.Verdict = expected, got, v
	}
	r.Requests++
}

func rank(v Verdict) int {
	switch v {
	case Leak:
		return 3
	case Fail:
		return 2
	case OK:
		return 1
	}
	return 0
}

// tenantHost is the Host header that names a tenant.
func (p *prober) tenantHost(slug string) string { return slug + "." + p.baseDomain + p.port }

// signIn signs every caller in and sorts them by tenant; the first two tenants are probed.
func (p *prober) signIn(ctx context.Context) error {
	var callers []*caller
	for _, cr := range p.cfg.Credentials {
		body, _ := json.Marshal(map[string]string{"email": cr.Email, "password": cr.Password, "tenant": cr.Tenant})
		res, err := p.c.do(ctx, request{method: "POST", path: "/api/auth/login", body: body})
		if err != nil {
			return err
		}
		if res.status != http.StatusOK {
			return fmt.Errorf("sign in as %s (tenant %s): %s", cr.Email, cr.Tenant, res.summary())
		}
		c := &caller{label: cr.Email}
		for _, k := range (&http.Response{Header: res.header}).Cookies() {
			if k.Value != "" {
				c.cookies = append(c.cookies, &http.Cookie{Name: k.Name, Value: k.Value})
			}
		}
		if c.cookie(sigCookie) == "" {
			return fmt.Errorf("sign in as %s: the answer set no %s cookie", cr.Email, sigCookie)
		}
		if err := c.readSession(res.body); err != nil {
			return fmt.Errorf("sign in as %s: %w", cr.Email, err)
		}
		callers = append(callers, c)
	}
	for _, t := range p.cfg.Tokens {
		c := &caller{label: "token:" + t.Tenant, bearer: t.Token}
		res, err := p.c.do(ctx, request{method: "GET", path: "/api/auth/session", as: c})
		if err != nil {
			return err
		}
		if res.status != http.StatusOK {
			return fmt.Errorf("token for %s: GET /api/auth/session: %s", t.Tenant, res.summary())
		}
		if err := c.readSession(res.body); err != nil {
			return fmt.Errorf("token for %s: %w", t.Tenant, err)
		}
		callers = append(callers, c)
	}
	for _, c := range callers {
		var s *side
		for _, x := range p.sides {
			if x != nil && x.tenant.ID == c.tenant.ID {
				s = x
			}
		}
		if s == nil {
			if p.sides[1] != nil {
				continue // a third tenant: two are enough
			}
			s = newSide(c.tenant)
			s.host = p.tenantHost(c.tenant.Slug)
			if p.sides[0] == nil {
				p.sides[0] = s
			} else {
				p.sides[1] = s
			}
		}
		s.callers = append(s.callers, c)
	}
	if p.sides[1] == nil {
		return errors.New("the callers belong to fewer than two tenants; the probe needs two")
	}
	return nil
}

func (c *caller) readSession(body []byte) error {
	var s struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		Tenant      tenantRef `json:"tenant"`
		Role        string    `json:"role"`
		Permissions []string  `json:"permissions"`
	}
	if err := json.Unmarshal(body, &s); err != nil || s.Tenant.ID == "" || s.Tenant.Slug == "" {
		return fmt.Errorf("the session answer names no tenant: %.200s", body)
	}
	c.tenant, c.userID, c.role = s.Tenant, s.User.ID, s.Role
	c.perms = map[string]bool{}
	for _, x := range s.Permissions {
		c.perms[x] = true
	}
	if c.bearer != "" {
		c.label = "token@" + s.Tenant.Slug
	}
	return nil
}

// sigCookie is the tenant_sig cookie (SPEC §2).
const sigCookie = "tenant_sig"
