package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"tenantd/internal/auth"
	"tenantd/internal/httpapi"
	"tenantd/internal/tenancy"
)

var paramPattern = regexp.MustCompile(`\{([A-Za-z_]+)\}`)

// fill replaces every {param} of a route pattern with v.
func fill(pattern, v string) string { return paramPattern.ReplaceAllString(pattern, v) }

// withoutRequestID drops the request_id so that two problem bodies can be compared byte for byte.
func withoutRequestID(b []byte) string {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return string(b)
	}
	delete(m, "request_id")
	out, _ := json.Marshal(m)
	return string(out)
}

// snapshot fingerprints every tenant-owned row of both demo tenants (as the superuser, so that
// nothing is hidden), to prove that a request changed nothing.
func (e *env) snapshot() string {
	e.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.db.SuperURL)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attname = 'tenant_id' ORDER BY 1`)
	if err != nil {
		e.t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		e.t.Fatal(err)
	}
	var b strings.Builder
	for _, t := range tables {
		if t == "audit_events" {
			// The audit log records attempts by design (a probe of another tenant's id is
			// written to that tenant's log); everything else must stay as it was.
			continue
		}
		var sum *string
		q := `SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) FROM ` + pgx.Identifier{t}.Sanitize() + ` x`
		if err := conn.QueryRow(ctx, q).Scan(&sum); err != nil {
			e.t.Fatal(err)
		}
		if sum != nil {
			b.WriteString(t + "=" + *sum + ";")
		}
	}
	return b.String()
}

// globexIDs lists the id of every globex row of every tenant-owned table, and globex's tenant id.
func (e *env) globexIDs() []string {
	e.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.db.SuperURL)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attname = 'tenant_id' ORDER BY 1`)
	if err != nil {
		e.t.Fatal(err)
	}
	tables, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	ids := []string{e.demo.Globex.ID.String()}
	for _, t := range tables {
		r, err := conn.Query(ctx, `SELECT id::text FROM `+pgx.Identifier{t}.Sanitize()+` WHERE tenant_id = $1`, e.demo.Globex.ID)
		if err != nil {
			e.t.Fatal(err)
		}
		got, _ := pgx.CollectRows(r, pgx.RowTo[string])
		ids = append(ids, got...)
	}
	return ids
}

// listPathFor names the list route whose items carry the ids a {param} route takes.
var listPathFor = map[string]string{
	"/api/attachments/{id}":             "/api/admin/attachments",
	"/api/admin/permissions/{userId}":   "/api/admin/users",
	"/api/admin/reminders/{id}":         "/api/admin/reminders",
	"/api/admin/communication-settings": "",
}

// sampleID fetches, as globex's owner (or a globex client for portal routes), an id (or slug)
// that the route's {param} can take.
func (e *env) sampleID(t *testing.T, rt httpapi.Route, globexStaff, globexClient *client) string {
	t.Helper()
	list := listPathFor[rt.Pattern]
	if list == "" {
		list = rt.Pattern[:strings.Index(rt.Pattern, "/{")]
	}
	field := "id"
	if strings.Contains(rt.Pattern, "{slug}") {
		field = "slug"
	}
	c := globexStaff
	if strings.HasPrefix(list, "/api/portal/") {
		c = globexClient
	}
	if rt.HostTenant || strings.Contains(rt.Pattern, "{slug}") {
		c = c.onHost("globex.localhost")
	}
	r := c.do("GET", list, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("no list route %s to find a globex id for %s %s: %d %s", list, rt.Method, rt.Pattern, r.Status, r.Body)
	}
	var out struct {
		Items []map[string]any `json:"items"`
	}
	r.decode(t, &out)
	// Some objects are shared by design (a user who belongs to both tenants) or have the same
	// slug in both tenants: prefer an item that names globex, which acme cannot have.
	for _, pass := range []int{0, 1} {
		for _, it := range out.Items {
			v, ok := it[field].(string)
			raw, _ := json.Marshal(it)
			if !ok || v == "" {
				continue
			}
			if pass == 0 && strings.Contains(string(raw), "globex") {
				return v
			}
			if pass == 1 && field == "id" && !strings.Contains(string(raw), "demo.test") {
				return v
			}
		}
	}
	t.Fatalf("list %s has no item with %q to use for %s %s", list, field, rt.Method, rt.Pattern)
	return ""
}

// (e) For every route of the table with a path parameter, acme's credentials with a globex id
// get the same 404 body as with a random id, and nothing changes anywhere.
func TestCrossTenantIDsAreNotFound(t *testing.T) {
	e := newEnv(t)
	globexStaff := e.login("owner@globex.test", "")
	globexClient := e.login("client@globex.test", "")
	acmeOwner := e.login("owner@acme.test", "")
	acmeClient := e.login("client@acme.test", "")
	before := e.snapshot()
	tested := 0
	for _, rt := range e.api.Routes() {
		if !strings.Contains(rt.Pattern, "{") || rt.Kind == httpapi.KindPlatform {
			continue
		}
		t.Run(rt.Method+" "+rt.Pattern, func(t *testing.T) {
			foreign := e.sampleID(t, rt, globexStaff, globexClient)
			random := uuid.NewString()
			if strings.Contains(rt.Pattern, "{slug}") {
				random = "no-such-slug-" + strings.ToLower(uuid.NewString()[:8])
			}
			caller := acmeOwner
			if rt.Kind == httpapi.KindTenant && !auth.RoleOwner.Allows(rt.Permission) {
				caller = acmeClient
			}
			if rt.HostTenant {
				caller = caller.onHost("acme.localhost")
			}
			var body any
			if rt.Method != "GET" && rt.Method != "DELETE" {
				body = map[string]any{}
			}
			got := caller.do(rt.Method, fill(rt.Pattern, foreign), body)
			want := caller.do(rt.Method, fill(rt.Pattern, random), body)
			mustStatus(t, got, http.StatusNotFound, "not_found")
			mustStatus(t, want, http.StatusNotFound, "not_found")
			if withoutRequestID(got.Body) != withoutRequestID(want.Body) {
				t.Fatalf("foreign id body %s differs from missing id body %s", got.Body, want.Body)
			}
		})
		tested++
	}
	if tested < 8 {
		t.Fatalf("only %d routes with path parameters tested", tested)
	}
	if after := e.snapshot(); after != before {
		t.Fatalf("cross-tenant requests changed data")
	}
}

// Every list route, for acme's owner and acme's client, shows no globex id anywhere.
func TestListsShowNoOtherTenantIDs(t *testing.T) {
	e := newEnv(t)
	ids := e.globexIDs()
	callers := map[string]*client{"owner": e.login("owner@acme.test", ""), "client": e.login("client@acme.test", "")}
	for _, rt := range e.api.Routes() {
		if rt.Method != "GET" || strings.Contains(rt.Pattern, "{") || rt.Kind == httpapi.KindPlatform {
			continue
		}
		for name, c := range callers {
			t.Run(name+" "+rt.Pattern, func(t *testing.T) {
				if rt.HostTenant {
					c = c.onHost("acme.localhost")
				}
				path := rt.Pattern
				if strings.Contains(path, "calendar") || strings.Contains(path, "availability") {
					path += "?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&service=tax-return&date=" + time.Now().AddDate(0, 0, 3).Format(time.DateOnly)
				}
				r := c.do("GET", path, nil)
				for _, id := range ids {
					if bytes.Contains(r.Body, []byte(id)) {
						t.Fatalf("%s shows globex id %s: %s", path, id, r.Body)
					}
				}
			})
		}
	}
}

// (k) Every route that is not public answers 401 without credentials.
func TestNonPublicRoutesNeedCredentials(t *testing.T) {
	e := newEnv(t)
	anon := e.anon()
	for _, rt := range e.api.Routes() {
		if rt.Kind == httpapi.KindPublic {
			continue
		}
		t.Run(rt.Method+" "+rt.Pattern, func(t *testing.T) {
			var body any
			if rt.Method != "GET" && rt.Method != "DELETE" {
				body = map[string]any{}
			}
			r := anon.do(rt.Method, fill(rt.Pattern, uuid.NewString()), body)
			mustStatus(t, r, http.StatusUnauthorized, "unauthenticated")
		})
	}
}

// (l) The OpenAPI document lists exactly the routes the mux serves, each with its kind.
func TestOpenAPIMatchesMux(t *testing.T) {
	e := newEnv(t)
	r := e.anon().do("GET", "/api/openapi.json", nil)
	mustStatus(t, r, http.StatusOK)
	var doc struct {
		Paths map[string]map[string]struct {
			Kind       string                     `json:"x-kind"`
			Permission string                     `json:"x-permission"`
			Responses  map[string]json.RawMessage `json:"responses"`
			Parameters []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	r.decode(t, &doc)
	// The asynchronous answer of offboarding is documented with the header that asks for it.
	offboard := doc.Paths["/api/platform/tenants/{slug}"]["delete"]
	prefer := false
	for _, p := range offboard.Parameters {
		prefer = prefer || (p.Name == "Prefer" && p.In == "header")
	}
	if offboard.Responses["200"] == nil || offboard.Responses["202"] == nil || !prefer {
		t.Errorf("DELETE /api/platform/tenants/{slug} is documented as %+v", offboard)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
			if op.Kind != "public" && op.Kind != "tenant" && op.Kind != "platform" {
				t.Errorf("%s %s has kind %q", method, path, op.Kind)
			}
			if op.Kind == "tenant" && op.Permission == "" {
				t.Errorf("%s %s is tenant-scoped without a permission", method, path)
			}
			req, _ := http.NewRequest(strings.ToUpper(method), "http://localhost"+fill(path, uuid.NewString()), nil)
			if got := e.api.Pattern(req); got != strings.ToUpper(method)+" "+path {
				t.Errorf("mux dispatches %s %s to %q", method, path, got)
			}
		}
	}
	sort.Strings(documented)
	if got, want := strings.Join(documented, "\n"), strings.Join(e.api.RouteKeys(), "\n"); got != want {
		t.Fatalf("documented routes differ from the route table:\n%s\n---\n%s", got, want)
	}
	req, _ := http.NewRequest("GET", "http://localhost/api/not-a-route", nil)
	if p := e.api.Pattern(req); p != "" {
		t.Fatalf("an undeclared path is served by %q", p)
	}
}

// (f) Spoofed tenant headers and forwarded hosts change nothing.
func TestSpoofedTenantHeadersChangeNothing(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	plain := owner.do("GET", "/api/bookings", nil)
	mustStatus(t, plain, http.StatusOK)
	globex := e.demo.Globex.ID.String()
	spoofs := [][]string{
		{"X-Tenant-Id", globex},
		{"X-Tenant-Slug", "globex"},
		{"X-Forwarded-Host", "globex.localhost"},
		{"X-Tenant", "globex"},
		{"X-User-Id", e.demo.Globex.Owner.String()},
	}
	for _, h := range spoofs {
		t.Run(h[0], func(t *testing.T) {
			r := owner.do("GET", "/api/bookings", nil, h...)
			mustStatus(t, r, http.StatusOK)
			if !bytes.Equal(r.Body, plain.Body) {
				t.Fatalf("%s changed the answer", h[0])
			}
			if r.Header.Get("X-User-Id") != e.demo.Acme.Owner.String() {
				t.Fatalf("X-User-Id = %q", r.Header.Get("X-User-Id"))
			}
			// Public routes: at the apex a header names no tenant; on acme's host it cannot
			// switch to globex.
			a := e.anon().do("GET", "/api/services", nil, h...)
			mustStatus(t, a, http.StatusNotFound, "tenant_not_found")
			onAcme := e.anon().onHost("acme.localhost").do("GET", "/api/services", nil, h...)
			mustStatus(t, onAcme, http.StatusOK)
			if bytes.Contains(onAcme.Body, []byte("Globex")) {
				t.Fatal("acme host showed globex services")
			}
		})
	}
}

func decodeClaims(t *testing.T, sig string) tenancy.Claims {
	t.Helper()
	c, ok := tenancy.DecodeClaims(sig)
	if !ok {
		t.Fatalf("cannot read tenant_sig %q", sig)
	}
	return c
}

// (g) Every kind of bad tenant_sig is refused with 403 invalid_tenant_signature and cleared.
func TestBadTenantSignatures(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	other := e.login("staff@acme.test", "")
	sig := owner.cookie("tenant_sig")
	claims := decodeClaims(t, sig)
	otherClaims := decodeClaims(t, other.cookie("tenant_sig"))
	resign := func(mod func(*tenancy.Claims)) string {
		c := claims
		mod(&c)
		return e.keyring.Sign(c)
	}
	foreignKeyring, _ := tenancy.NewKeyring("another-secret-that-is-long-enough-0123456789", nil)
	payload, mac, _ := strings.Cut(sig, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	forged := bytes.Replace(raw, claims.TenantID[:], e.demo.Globex.ID[:], 1)
	if bytes.Equal(forged, raw) {
		t.Fatal("could not find the tenant id in the payload to tamper with")
	}
	tampered := base64.RawURLEncoding.EncodeToString(forged) + "." + mac
	cases := map[string]string{
		"missing":                        "",
		"malformed":                      "not-a-signature",
		"tampered":                       tampered,
		"bad mac":                        payload + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 32)),
		"expired":                        resign(func(c *tenancy.Claims) { c.ExpiresAt = time.Now().Add(-time.Minute).Unix() }),
		"other user":                     resign(func(c *tenancy.Claims) { c.UserID = e.demo.Acme.Staff }),
		"other session":                  resign(func(c *tenancy.Claims) { c.SessionID = otherClaims.SessionID }),
		"other tenant":                   resign(func(c *tenancy.Claims) { c.TenantID = e.demo.Globex.ID }),
		"unknown key":                    foreignKeyring.Sign(claims),
		"another user's whole signature": other.cookie("tenant_sig"),
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			c := owner.withCookie("tenant_sig", value)
			r := c.do("GET", "/api/bookings", nil)
			mustStatus(t, r, http.StatusForbidden, "invalid_tenant_signature")
			if value != "" && c.cookie("tenant_sig") != "" {
				t.Fatal("the bad tenant_sig was not cleared")
			}
			w := owner.withCookie("tenant_sig", value).do("POST", "/api/bookings", map[string]any{})
			mustStatus(t, w, http.StatusForbidden, "invalid_tenant_signature")
		})
	}
	events, err := e.st.PlatformEvents(context.Background(), "invalid_tenant_signature", 100)
	if err != nil || len(events) < len(cases) {
		t.Fatalf("security events: %d %v", len(events), err)
	}
	// The untouched cookie still works.
	mustStatus(t, owner.do("GET", "/api/bookings", nil), http.StatusOK)
}

// Rotation: cookies signed with a previous secret keep working after TENANTD_SECRET changes.
func TestPreviousKeyStillVerifies(t *testing.T) {
	old := "old-secret-0123456789-abcdefghijklmnopqrstuv"
	e := newEnvWith(t, "new-secret-0123456789-abcdefghijklmnopqrstuv", []string{old})
	owner := e.login("owner@acme.test", "")
	claims := decodeClaims(t, owner.cookie("tenant_sig"))
	oldRing, _ := tenancy.NewKeyring(old, nil)
	r := owner.withCookie("tenant_sig", oldRing.Sign(claims)).do("GET", "/api/bookings", nil)
	mustStatus(t, r, http.StatusOK)
}

// (h) A tenant host that differs from the signed tenant is a mismatch; an unknown one is 404.
func TestHostTenantMismatch(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	mustStatus(t, owner.onHost("acme.localhost").do("GET", "/api/bookings", nil), http.StatusOK)
	mustStatus(t, owner.onHost("globex.localhost").do("GET", "/api/bookings", nil), http.StatusForbidden, "tenant_mismatch")
	mustStatus(t, owner.onHost("globex.localhost").do("POST", "/api/bookings", map[string]any{}), http.StatusForbidden, "tenant_mismatch")
	mustStatus(t, owner.onHost("nope.localhost").do("GET", "/api/bookings", nil), http.StatusNotFound, "tenant_not_found")
	mustStatus(t, e.anon().onHost("nope.localhost").do("GET", "/api/bookings", nil), http.StatusNotFound, "tenant_not_found")
	mustStatus(t, e.anon().onHost("www.example.com").do("GET", "/api/services", nil), http.StatusNotFound, "tenant_not_found")
}

// (i) Roles belong to memberships: the consultant is ADMIN in acme and only CLIENT in globex.
func TestSwitchTakesTheNewMembershipsRole(t *testing.T) {
	e := newEnv(t)
	c := e.login("consultant@demo.test", "acme")
	mustStatus(t, c.do("GET", "/api/admin/services", nil), http.StatusOK)
	r := c.do("POST", "/api/tenant/switch", map[string]string{"tenant": "globex"})
	mustStatus(t, r, http.StatusOK)
	var s struct {
		Role   string `json:"role"`
		Tenant struct {
			Slug string `json:"slug"`
		} `json:"tenant"`
	}
	r.decode(t, &s)
	if s.Role != "CLIENT" || s.Tenant.Slug != "globex" {
		t.Fatalf("after switch: %+v", s)
	}
	mustStatus(t, c.do("GET", "/api/admin/services", nil), http.StatusForbidden, "forbidden")
	mustStatus(t, c.do("POST", "/api/admin/services", map[string]any{"slug": "x", "name": "x"}), http.StatusForbidden, "forbidden")
	sess := c.do("GET", "/api/auth/session", nil)
	mustStatus(t, sess, http.StatusOK)
	sess.decode(t, &s)
	if s.Role != "CLIENT" {
		t.Fatalf("session role %q", s.Role)
	}
	// Back to acme: admin again.
	mustStatus(t, c.do("POST", "/api/tenant/switch", map[string]string{"tenant": e.demo.Acme.ID.String()}), http.StatusOK)
	mustStatus(t, c.do("GET", "/api/admin/services", nil), http.StatusOK)

	owner := e.login("owner@acme.test", "")
	for _, target := range []string{"globex", "no-such-tenant", uuid.NewString()} {
		mustStatus(t, owner.do("POST", "/api/tenant/switch", map[string]string{"tenant": target}), http.StatusForbidden, "not_a_member")
	}
	// Logging in straight into a tenant without membership is refused the same way.
	r = e.anon().do("POST", "/api/auth/login", map[string]string{"email": "owner@acme.test", "password": "demo-password", "tenant": "globex"})
	mustStatus(t, r, http.StatusForbidden, "not_a_member")
}

// (j) A client sees and touches only their own bookings.
func TestClientOwnBookings(t *testing.T) {
	e := newEnv(t)
	c := e.login("client@acme.test", "")
	r := c.do("GET", "/api/bookings", nil)
	mustStatus(t, r, http.StatusOK)
	var list struct {
		Items []struct {
			ID       string `json:"id"`
			ClientID string `json:"client_id"`
		} `json:"items"`
	}
	r.decode(t, &list)
	if len(list.Items) == 0 {
		t.Fatal("client sees no bookings")
	}
	for _, b := range list.Items {
		if b.ClientID != e.demo.Acme.Client.String() {
			t.Fatalf("client sees booking %s of %s", b.ID, b.ClientID)
		}
	}
	before := e.snapshot()
	var othersBooking string
	for _, id := range e.demo.Acme.Bookings {
		if !strings.Contains(string(r.Body), id.String()) {
			othersBooking = id.String()
		}
	}
	mustStatus(t, c.do("GET", "/api/bookings/"+othersBooking, nil), http.StatusNotFound, "not_found")
	mustStatus(t, c.do("PUT", "/api/bookings/"+othersBooking, map[string]any{"service_id": e.demo.Acme.Services[0], "starts_at": time.Now().Add(48 * time.Hour)}), http.StatusNotFound, "not_found")
	mustStatus(t, c.do("DELETE", "/api/bookings/"+othersBooking, nil), http.StatusNotFound, "not_found")
	if e.snapshot() != before {
		t.Fatal("a client changed another client's booking")
	}
	// Own booking: readable and changeable.
	own := list.Items[0].ID
	mustStatus(t, c.do("GET", "/api/bookings/"+own, nil), http.StatusOK)
	r = c.do("POST", "/api/bookings", map[string]any{"service_id": e.demo.Acme.Services[0], "starts_at": time.Now().Add(72 * time.Hour), "client_id": e.demo.Acme.Client2})
	mustStatus(t, r, http.StatusUnprocessableEntity, "validation_failed")
	r = c.do("POST", "/api/bookings", map[string]any{"service_id": e.demo.Acme.Services[0], "starts_at": rrFirstSlot(t, e, e.demo.Acme.Services[0], time.Now().Add(72*time.Hour)).StartsAt})
	mustStatus(t, r, http.StatusCreated)
}
