package scope

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/tenancy"
)

// emptyBody is the only body the probe ever sends to a route that changes data, and only
// together with an id that is not the caller's own.
var emptyBody = []byte("{}")

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomSlug() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "chk-" + hex.EncodeToString(b)
}

// fill puts values into the path parameters: a value per parameter (ids or slugs as the
// parameter's name says).
func fill(path string, value func(param string) string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs[i] = value(strings.TrimSuffix(strings.Trim(s, "{}"), "..."))
		}
	}
	return strings.Join(segs, "/")
}

func isSlugParam(name string) bool { return strings.Contains(strings.ToLower(name), "slug") }

func randomFor(param string) string {
	if isSlugParam(param) {
		return randomSlug()
	}
	return randomID()
}

func bodyFor(method string) []byte {
	if method == http.MethodGet || method == http.MethodHead || method == http.MethodDelete {
		return nil
	}
	return emptyBody
}

// probeDirection runs every probe in which att's callers try to reach vic's data.
func (p *prober) probeDirection(ctx context.Context, att, vic *side) error {
	for _, step := range []func(context.Context, *side, *side) error{
		p.probeForeignIDs, p.probeSpoofedHeaders, p.probeHosts, p.probeSignatures, p.probePlatform,
	} {
		if err := step(ctx, att, vic); err != nil {
			return err
		}
	}
	return nil
}

// probeForeignIDs asks for vic's objects on every route with a path parameter: the answer must
// be 404 and byte-for-byte the answer for a random id.
func (p *prober) probeForeignIDs(ctx context.Context, att, vic *side) error {
	idx := p.sideIndex(att)
	for _, o := range p.ops {
		if len(o.params) == 0 || !(o.kind == "tenant" || o.kind == "public" && o.hostTenant) {
			continue
		}
		type as struct {
			c    *caller
			host string
			name string
		}
		var callers []as
		if o.kind == "tenant" {
			for _, c := range att.callers {
				if c.perms[o.permission] {
					callers = append(callers, as{c: c, name: c.label})
				}
			}
			if len(callers) == 0 {
				p.record(o.key(), "other tenant's id", "("+att.tenant.Slug+")", "a caller with "+o.permission, "none", Skip)
				continue
			}
		} else {
			callers = []as{{host: att.host, name: "anonymous on " + att.host}, {c: att.callers[0], host: att.host, name: att.callers[0].label}}
		}
		param := o.params[len(o.params)-1]
		probe := "other tenant's id"
		if isSlugParam(param) {
			probe = "other tenant's slug"
		}
		values := p.candidates(att, vic, o.path, param, p.cfg.IDsPerRoute, o.method != http.MethodGet && o.method != http.MethodHead)
		if len(values) == 0 {
			p.record(o.key(), probe, "("+att.tenant.Slug+")", "an id of "+vic.tenant.Slug, "none found in its lists", Skip)
			continue
		}
		for _, who := range callers {
			base, err := p.c.do(ctx, request{method: o.method, path: fill(o.path, randomFor), host: who.host, as: who.c, body: bodyFor(o.method)})
			if err != nil {
				return err
			}
			p.keep(idx, o.key(), "random id", who.name, base)
			for _, v := range values {
				path := fill(o.path, func(name string) string {
					if name == param {
						return v
					}
					return randomFor(name)
				})
				res, err := p.c.do(ctx, request{method: o.method, path: path, host: who.host, as: who.c, body: bodyFor(o.method)})
				if err != nil {
					return err
				}
				p.keepSent(idx, o.key(), probe, who.name, res, path)
				exp := "404 = random id's"
				switch {
				case res.status < 400:
					p.record(o.key(), probe, who.name, exp, res.summary()+" for "+v, Leak)
				case res.status != base.status || !bytes.Equal(res.normalized(), base.normalized()):
					p.record(o.key(), probe, who.name, exp, fmt.Sprintf("%s for %s, %s for a random id: tells them apart", res.summary(), v, base.summary()), Leak)
				case res.status != http.StatusNotFound:
					p.record(o.key(), probe, who.name, exp, res.summary()+" (a random id too)", Fail)
				default:
					p.record(o.key(), probe, who.name, exp, "404, same as a random id", OK)
				}
			}
		}
	}
	return nil
}

// probeSpoofedHeaders sends headers that name vic: they must change nothing.
func (p *prober) probeSpoofedHeaders(ctx context.Context, att, vic *side) error {
	idx := p.sideIndex(att)
	spoof := map[string]string{"X-Tenant-Id": vic.tenant.ID, "X-Tenant-Slug": vic.tenant.Slug, "X-Forwarded-Host": vic.host}
	probe := "headers naming " + vic.tenant.Slug
	for _, o := range p.ops {
		if !o.list() {
			continue
		}
		switch {
		case o.kind == "tenant":
			c := firstWith(att, o.permission)
			if c == nil {
				continue
			}
			want := att.listStatus[o.path+"\x00"+c.label]
			res, err := p.c.do(ctx, request{method: "GET", path: o.path, as: c, headers: spoof})
			if err != nil {
				return err
			}
			p.keepSent(idx, o.key(), probe, c.label, res, vic.tenant.ID+vic.host)
			exp := fmt.Sprintf("%d, as without them", want)
			if res.status == want {
				p.record(o.key(), probe, c.label, exp, fmt.Sprintf("%d", res.status), OK)
			} else {
				p.record(o.key(), probe, c.label, exp, res.summary(), Fail)
			}
		case o.kind == "public" && o.hostTenant:
			// On this tenant's host the headers must not switch the tenant.
			want := att.listStatus[o.path+"\x00"]
			res, err := p.c.do(ctx, request{method: "GET", path: o.path, host: att.host, headers: spoof})
			if err != nil {
				return err
			}
			p.keepSent(idx, o.key(), probe, "anonymous on "+att.host, res, vic.tenant.ID+vic.host)
			exp := fmt.Sprintf("%d, as without them", want)
			v := OK
			if res.status != want {
				v = Fail
			}
			p.record(o.key(), probe, "anonymous on "+att.host, exp, res.summary(), v)
			// At the apex, with no caller, they must not name a tenant at all.
			res, err = p.c.do(ctx, request{method: "GET", path: o.path, headers: spoof})
			if err != nil {
				return err
			}
			exp = "404 tenant_not_found"
			switch {
			case res.status < 400:
				p.record(o.key(), probe, "anonymous at the apex", exp, res.summary()+": the header chose the tenant", Leak)
			case res.status == http.StatusNotFound && res.code() == "tenant_not_found":
				p.record(o.key(), probe, "anonymous at the apex", exp, res.summary(), OK)
			default:
				p.record(o.key(), probe, "anonymous at the apex", exp, res.summary(), Fail)
			}
		}
	}
	// One header at a time, on the caller's own session.
	if sess := p.sessionOp(); sess != nil {
		for _, c := range att.callers {
			for h, v := range spoof {
				res, err := p.c.do(ctx, request{method: "GET", path: sess.path, as: c, headers: map[string]string{h: v}})
				if err != nil {
					return err
				}
				p.keepSent(idx, sess.key(), h+": "+vic.tenant.Slug, c.label, res, v)
				exp := "200, own tenant " + att.tenant.Slug
				var s struct {
					Tenant tenantRef `json:"tenant"`
				}
				_ = json.Unmarshal(res.body, &s)
				switch {
				case res.status == http.StatusOK && s.Tenant.ID == att.tenant.ID:
					p.record(sess.key(), h+": "+vic.tenant.Slug, c.label, exp, "200, own tenant", OK)
				case res.status == http.StatusOK && strings.EqualFold(s.Tenant.ID, vic.tenant.ID):
					p.record(sess.key(), h+": "+vic.tenant.Slug, c.label, exp, "200 in "+vic.tenant.Slug, Leak)
				default:
					p.record(sess.key(), h+": "+vic.tenant.Slug, c.label, exp, res.summary(), Fail)
				}
			}
		}
	}
	return nil
}

// probeHosts sends att's credentials to vic's host (403 tenant_mismatch) and to a host that
// names no tenant (404 tenant_not_found).
func (p *prober) probeHosts(ctx context.Context, att, vic *side) error {
	idx := p.sideIndex(att)
	probe := "on " + vic.host
	for _, o := range p.ops {
		if !o.list() || o.kind != "tenant" {
			continue
		}
		for _, c := range att.callers {
			if !c.perms[o.permission] {
				continue
			}
			res, err := p.c.do(ctx, request{method: "GET", path: o.path, host: vic.host, as: c})
			if err != nil {
				return err
			}
			p.keep(idx, o.key(), probe, c.label, res)
			p.judgeRefusal(o.key(), probe, c.label, res, http.StatusForbidden, "tenant_mismatch")
		}
	}
	if sess := p.sessionOp(); sess != nil {
		unknown := p.tenantHost(randomSlug())
		for _, c := range att.callers {
			res, err := p.c.do(ctx, request{method: "GET", path: sess.path, host: unknown, as: c})
			if err != nil {
				return err
			}
			p.keep(idx, sess.key(), "on a host of no tenant", c.label, res)
			p.judgeRefusal(sess.key(), "on a host of no tenant", c.label, res, http.StatusNotFound, "tenant_not_found")
		}
	}
	return nil
}

// judgeRefusal records a probe that must be refused with status and code: a success is a
// leak, any other refusal a failure.
func (p *prober) judgeRefusal(route, probe, who string, res *response, status int, code string) {
	exp := fmt.Sprintf("%d %s", status, code)
	switch {
	case res.status < 400:
		p.record(route, probe, who, exp, res.summary(), Leak)
	case res.status == status && (code == "" || res.code() == code):
		p.record(route, probe, who, exp, res.summary(), OK)
	default:
		p.record(route, probe, who, exp, res.summary(), Fail)
	}
}

// probeSignatures forges, swaps and removes tenant_sig cookies on att's sessions.
func (p *prober) probeSignatures(ctx context.Context, att, vic *side) error {
	idx := p.sideIndex(att)
	var c *caller
	for _, x := range att.callers {
		if x.cookie(sigCookie) != "" {
			c = x
			break
		}
	}
	if c == nil {
		p.record("*", "tenant_sig probes", "("+att.tenant.Slug+")", "a signed-in caller", "API tokens only", Skip)
		return nil
	}
	var foreign string
	for _, x := range vic.callers {
		if v := x.cookie(sigCookie); v != "" {
			foreign = v
			break
		}
	}
	sig := c.cookie(sigCookie)
	forged := []struct{ name, value string }{
		{"no tenant_sig", ""},
		{"tampered tenant_sig", tamper(sig)},
		{"garbled tenant_sig", "not-a-signature"},
	}
	if foreign != "" {
		forged = append(forged, struct{ name, value string }{vic.tenant.Slug + "'s tenant_sig", foreign})
	}
	if v, ok := rewritePayload(sig, func(c *tenancy.Claims) {
		c.ExpiresAt = time.Now().Add(-time.Hour).Unix()
		c.IssuedAt = time.Now().Add(-2 * time.Hour).Unix()
	}); ok {
		forged = append(forged, struct{ name, value string }{"expired tenant_sig", v})
	}
	if v, ok := rewritePayload(sig, func(c *tenancy.Claims) { c.TenantID, _ = uuid.Parse(vic.tenant.ID) }); ok {
		forged = append(forged, struct{ name, value string }{"tenant_sig re-signed for " + vic.tenant.Slug, v})
	}
	var targets []operation
	if sess := p.sessionOp(); sess != nil {
		targets = append(targets, *sess)
	}
	for _, o := range p.ops {
		if o.kind == "tenant" && o.method != http.MethodGet && len(o.params) > 0 && c.perms[o.permission] {
			targets = append(targets, o) // a write route, with a random id and {}
			break
		}
	}
	for _, o := range targets {
		for _, f := range forged {
			who := c.withCookie(sigCookie, f.value)
			res, err := p.c.do(ctx, request{method: o.method, path: fill(o.path, randomFor), as: who, body: bodyFor(o.method)})
			if err != nil {
				return err
			}
			p.keep(idx, o.key(), f.name, c.label, res)
			p.judgeRefusal(o.key(), f.name, c.label, res, http.StatusForbidden, "invalid_tenant_signature")
		}
	}
	return nil
}

// tamper changes one character in the middle of the signature part (the last character may
// carry only padding bits, which a lenient decoder ignores).
func tamper(sig string) string {
	i := strings.LastIndex(sig, ".")
	if i < 0 || len(sig)-i < 4 {
		return sig + "x"
	}
	j := i + (len(sig)-i)/2
	b := []byte(sig)
	if b[j] == 'A' {
		b[j] = 'B'
	} else {
		b[j] = 'A'
	}
	return string(b)
}

// rewritePayload changes the claims of a signature of the documented form
// base64url(json) "." base64url(mac) and keeps the old MAC: a cookie that looks right and is
// not.
func rewritePayload(sig string, change func(*tenancy.Claims)) (string, bool) {
	c, ok := tenancy.DecodeClaims(sig)
	if !ok {
		return "", false
	}
	change(&c)
	return tenancy.ReplacePayload(sig, c)
}

// probePlatform sends att's credentials to the platform routes: never a tenant credential.
func (p *prober) probePlatform(ctx context.Context, att, _ *side) error {
	idx := p.sideIndex(att)
	for _, o := range p.ops {
		if o.kind != "platform" {
			continue
		}
		c := att.callers[0]
		res, err := p.c.do(ctx, request{method: o.method, path: fill(o.path, randomFor), as: c, body: bodyFor(o.method)})
		if err != nil {
			return err
		}
		p.keep(idx, o.key(), "tenant credentials", c.label, res)
		p.judgeRefusal(o.key(), "tenant credentials", c.label, res, http.StatusUnauthorized, "unauthenticated")
	}
	return nil
}

// probeAnonymous checks that every non-public route wants credentials, that a host naming
// no tenant is refused, and that the operator token is no tenant credential.
func (p *prober) probeAnonymous(ctx context.Context) error {
	for _, o := range p.ops {
		if o.kind == "public" {
			continue
		}
		res, err := p.c.do(ctx, request{method: o.method, path: fill(o.path, randomFor), body: bodyFor(o.method)})
		if err != nil {
			return err
		}
		p.judgeRefusal(o.key(), "no credentials", "anonymous", res, http.StatusUnauthorized, "unauthenticated")
	}
	unknown := p.tenantHost(randomSlug())
	for _, o := range p.ops {
		if o.list() && o.kind == "public" && o.hostTenant {
			res, err := p.c.do(ctx, request{method: "GET", path: o.path, host: unknown})
			if err != nil {
				return err
			}
			p.judgeRefusal(o.key(), "on a host of no tenant", "anonymous", res, http.StatusNotFound, "tenant_not_found")
		}
	}
	if p.cfg.OperatorToken != "" {
		op := &caller{label: "operator token", bearer: p.cfg.OperatorToken}
		for _, o := range p.ops {
			if o.list() && o.kind == "tenant" {
				res, err := p.c.do(ctx, request{method: "GET", path: o.path, as: op})
				if err != nil {
					return err
				}
				p.judgeRefusal(o.key(), "operator token", op.label, res, http.StatusUnauthorized, "unauthenticated")
			}
		}
	}
	return nil
}

// sessionOp is GET /api/auth/session when the document lists it.
func (p *prober) sessionOp() *operation {
	for i, o := range p.ops {
		if o.method == http.MethodGet && o.path == "/api/auth/session" && o.kind == "tenant" {
			return &p.ops[i]
		}
	}
	return nil
}

func firstWith(s *side, perm string) *caller {
	for _, c := range s.callers {
		if c.perms[perm] {
			return c
		}
	}
	return nil
}

// keepSent is keep for an answer to a request that itself carried some of the other tenant's
// ids (in its path or headers): an answer that merely repeats them reveals nothing.
func (p *prober) keepSent(idx int, route, probe, who string, res *response, sent string) {
	p.seen[idx] = append(p.seen[idx], seenResponse{route: route, probe: probe, caller: who, body: res.body, sent: strings.ToLower(sent)})
}

// searchSeen searches every answer given to tenant idx for the other tenant's ids.
func (p *prober) searchSeen(idx int, vic, att *side) {
	clean := 0
	for _, s := range p.seen[idx] {
		var found []string
		for _, m := range uuidPattern.FindAll(s.body, -1) {
			id := strings.ToLower(string(m))
			if att.foreign[id] && !strings.Contains(s.sent, id) && !contains(found, id) {
				found = append(found, id)
			}
		}
		if len(found) == 0 {
			clean++
			continue
		}
		got := fmt.Sprintf("%d of %s's ids, e.g. %s", len(found), vic.tenant.Slug, found[0])
		p.record(s.route, s.probe+": answer searched", s.caller, "none of "+vic.tenant.Slug+"'s ids", got, Leak)
	}
	key := "* answers to " + att.tenant.Slug
	p.record(key, "searched for "+vic.tenant.Slug+"'s ids", "", fmt.Sprintf("none of %d ids", len(att.foreign)),
		fmt.Sprintf("%d clean answers", clean), OK)
	p.results[key+"\x00searched for "+vic.tenant.Slug+"'s ids\x00"].Requests = len(p.seen[idx])
}
