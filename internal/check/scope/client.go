package scope

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// probeRequestID is sent as X-Request-Id on every request, so that two answers that should be
// byte-for-byte the same also carry the same request_id.
const probeRequestID = "tenantd-check-scope"

// maxBody bounds what the probe reads of one response.
const maxBody = 4 << 20

// caller is whoever a request is sent as: a signed-in user (cookies), an API token, the
// operator token, or nobody.
type caller struct {
	label   string
	tenant  tenantRef
	cookies []*http.Cookie // session and tenant_sig, as the login set them
	bearer  string
	userID  string
	role    string
	perms   map[string]bool
}

func (c *caller) cookie(name string) string {
	if c == nil {
		return ""
	}
	for _, k := range c.cookies {
		if k.Name == name {
			return k.Value
		}
	}
	return ""
}

// withCookie returns a copy of c whose cookie name has value (removed when value is "").
func (c *caller) withCookie(name, value string) *caller {
	cp := *c
	cp.cookies = nil
	for _, k := range c.cookies {
		if k.Name != name {
			cp.cookies = append(cp.cookies, k)
		}
	}
	if value != "" {
		cp.cookies = append(cp.cookies, &http.Cookie{Name: name, Value: value})
	}
	return &cp
}

type tenantRef struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
}

// request is one request the probe sends.
type request struct {
	method  string
	path    string
	host    string // "" for the target's own host
	as      *caller
	body    []byte
	headers map[string]string
}

// response is what came back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// code returns the problem document's code, or "".
func (r *response) code() string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(r.body, &p)
	return p.Code
}

// normalized is the body with its request id blanked, for byte-for-byte comparisons.
func (r *response) normalized() []byte {
	b := r.body
	if rid := r.header.Get("X-Request-Id"); rid != "" {
		b = bytes.ReplaceAll(b, []byte(rid), nil)
	}
	return bytes.ReplaceAll(b, []byte(probeRequestID), nil)
}

func (r *response) summary() string {
	s := strconv.Itoa(r.status)
	if c := r.code(); c != "" {
		s += " " + c
	}
	return s
}

// client sends requests to the target, waiting out rate limits.
type client struct {
	base     string // scheme://host[:port]
	http     *http.Client
	requests int
	// maxWait bounds the total time spent waiting for rate limits.
	maxWait time.Duration
	waited  time.Duration
}

func (c *client) do(ctx context.Context, rq request) (*response, error) {
	for attempt := 0; ; attempt++ {
		res, err := c.once(ctx, rq)
		if err != nil {
			return nil, err
		}
		if res.status != http.StatusTooManyRequests || attempt >= 20 {
			return res, nil
		}
		wait := time.Second
		if s, err := strconv.Atoi(res.header.Get("Retry-After")); err == nil && s > 0 {
			wait = time.Duration(s) * time.Second
		}
		if c.waited+wait > c.maxWait {
			return nil, fmt.Errorf("%s %s: still rate limited after waiting %s", rq.method, rq.path, c.waited)
		}
		c.waited += wait
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (c *client) once(ctx context.Context, rq request) (*response, error) {
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, c.base+rq.path, body)
	if err != nil {
		return nil, err
	}
	if rq.host != "" {
		req.Host = rq.host
	}
	req.Header.Set("X-Request-Id", probeRequestID)
	req.Header.Set("Accept", "application/json")
	if rq.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if rq.as != nil {
		for _, k := range rq.as.cookies {
			req.AddCookie(&http.Cookie{Name: k.Name, Value: k.Value})
		}
		if rq.as.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+rq.as.bearer)
		}
	}
	for k, v := range rq.headers {
		req.Header.Set(k, v)
	}
	c.requests++
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", rq.method, rq.path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read body: %w", rq.method, rq.path, err)
	}
	return &response{status: res.StatusCode, header: res.Header, body: data}, nil
}

// newHTTPClient never follows redirects (a redirect is an answer to judge, not to chase) and
// keeps no cookie jar: cookies a refused request clears must not touch the callers.
func newHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

var errNoOpenAPI = errors.New("GET /api/openapi.json")

// splitHostPort splits the target's host into name and ":port" (or "").
func splitHostPort(hostport string) (string, string) {
	if i := strings.LastIndex(hostport, ":"); i >= 0 && !strings.HasSuffix(hostport, "]") {
		return hostport[:i], hostport[i:]
	}
	return hostport, ""
}
