package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/httpapi"
	"tenantd/internal/seed"
	"tenantd/internal/store"
)

// platNewTenant is a valid provisioning request.
func platNewTenant() map[string]any {
	return map[string]any{"slug": "initech", "name": "Initech Partners", "primary_domain": "clients.initech.example",
		"owner_email": "bill@initech.test", "owner_name": "Bill Lumbergh", "owner_password": "initech-password"}
}

// platEvents lists the kinds of the platform events about tenant.
func platEvents(t *testing.T, e *env, tenant uuid.UUID) []string {
	t.Helper()
	rows, err := platSuper(t, e).Query(context.Background(), `SELECT kind FROM platform_events WHERE subject_tenant_id = $1 ORDER BY created_at, id`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

func platHas(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Provisioning makes a complete, usable tenant: its owner can sign in and every tenant list
// route answers; its host and primary domain resolve. Bad input changes nothing.
func TestPlatProvisioning(t *testing.T) {
	e := newEnv(t)
	op := platOperator(e)

	for _, tc := range []struct {
		name   string
		change map[string]any
		field  string
	}{
		{"slug with capitals", map[string]any{"slug": "Initech"}, "slug"},
		{"slug with underscore", map[string]any{"slug": "init_tech"}, "slug"},
		{"slug ending in hyphen", map[string]any{"slug": "initech-"}, "slug"},
		{"slug too long", map[string]any{"slug": strings.Repeat("a", 64)}, "slug"},
		{"empty name", map[string]any{"name": " "}, "name"},
		{"domain that is an address", map[string]any{"primary_domain": "10.1.2.3"}, "primary_domain"},
		{"domain with one label", map[string]any{"primary_domain": "intranet"}, "primary_domain"},
		{"domain under the base domain", map[string]any{"primary_domain": "initech.localhost"}, "primary_domain"},
		{"domain with a bad label", map[string]any{"primary_domain": "-x.example.com"}, "primary_domain"},
		{"domain with a path", map[string]any{"primary_domain": "example.com/x"}, "primary_domain"},
		{"bad owner email", map[string]any{"owner_email": "bill"}, "owner_email"},
		{"no owner name", map[string]any{"owner_name": ""}, "owner_name"},
		{"short password", map[string]any{"owner_password": "123456789"}, "owner_password"},
		{"unknown field", map[string]any{"status": "active"}, "status"},
		{"wrong type", map[string]any{"name": 5}, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := platNewTenant()
			for k, v := range tc.change {
				body[k] = v
			}
			r := op.do("POST", "/api/platform/tenants", body)
			mustStatus(t, r, http.StatusUnprocessableEntity, "validation_failed")
			if !strings.Contains(string(r.Body), `"field":"`+tc.field+`"`) {
				t.Errorf("no error for field %s: %s", tc.field, r.Body)
			}
		})
	}
	mustStatus(t, op.do("GET", "/api/platform/tenants/initech", nil), http.StatusNotFound, "not_found")

	r := op.do("POST", "/api/platform/tenants", platNewTenant())
	mustStatus(t, r, http.StatusCreated)
	var made httpapi.ProvisionedTenant
	r.decode(t, &made)
	if made.Tenant.Slug != "initech" || made.Tenant.Status != "active" || made.Tenant.PrimaryDomain == nil ||
		*made.Tenant.PrimaryDomain != "clients.initech.example" || made.Owner.Email != "bill@initech.test" {
		t.Fatalf("provisioned %+v", made)
	}
	if strings.Contains(string(r.Body), "password") {
		t.Fatalf("the answer mentions the password: %s", r.Body)
	}

	t.Run("duplicates conflict", func(t *testing.T) {
		dup := platNewTenant()
		dup["primary_domain"] = "other.initech.example"
		mustStatus(t, op.do("POST", "/api/platform/tenants", dup), http.StatusConflict, "conflict")
		dup = platNewTenant()
		dup["slug"] = "initech2"
		mustStatus(t, op.do("POST", "/api/platform/tenants", dup), http.StatusConflict, "conflict")
		dup = platNewTenant()
		dup["slug"], dup["primary_domain"] = "acme", nil
		mustStatus(t, op.do("POST", "/api/platform/tenants", dup), http.StatusConflict, "conflict")
	})

	t.Run("its owner and clients can sign in and use every list route", func(t *testing.T) {
		c := e.anon()
		mustStatus(t, c.do("POST", "/api/auth/login", map[string]string{"email": "bill@initech.test", "password": "initech-password"}), http.StatusOK)
		r := e.anon().onHost("initech.localhost").do("POST", "/api/auth/register",
			map[string]string{"email": "milton@initech.test", "password": "stapler-password", "name": "Milton"})
		mustStatus(t, r, http.StatusCreated)
		var reg struct {
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		}
		r.decode(t, &reg)
		client := e.anon()
		mustStatus(t, client.do("POST", "/api/auth/login", map[string]string{"email": "milton@initech.test", "password": "stapler-password"}), http.StatusOK)
		query := map[string]string{"/api/admin/calendar": "?from=2030-01-01&to=2030-06-30", "/api/admin/chat": "?client=" + reg.User.ID}
		n := 0
		for _, rt := range e.api.Routes() {
			if rt.Kind != httpapi.KindTenant || rt.Method != "GET" || strings.Contains(rt.Pattern, "{") {
				continue
			}
			n++
			caller := c
			if strings.HasPrefix(rt.Pattern, "/api/portal/") {
				caller = client
			}
			if r := caller.do("GET", rt.Pattern+query[rt.Pattern], nil); r.Status != http.StatusOK {
				t.Errorf("GET %s: %d %s", rt.Pattern, r.Status, r.Body)
			}
		}
		if n < 20 {
			t.Fatalf("only %d list routes", n)
		}
		for _, host := range []string{"initech.localhost", "clients.initech.example"} {
			mustStatus(t, c.onHost(host).do("GET", "/api/admin/services", nil), http.StatusOK)
			mustStatus(t, e.anon().onHost(host).do("GET", "/api/services", nil), http.StatusOK)
		}
		mustStatus(t, c.onHost("acme.localhost").do("GET", "/api/admin/services", nil), http.StatusForbidden, "tenant_mismatch")
	})

	t.Run("list and get", func(t *testing.T) {
		var page1, page2 struct {
			Items      []store.Tenant `json:"items"`
			NextCursor *string        `json:"next_cursor"`
		}
		op.do("GET", "/api/platform/tenants?limit=2", nil).decode(t, &page1)
		if len(page1.Items) != 2 || page1.NextCursor == nil || page1.Items[0].Slug != "initech" {
			t.Fatalf("first page %+v", page1)
		}
		op.do("GET", "/api/platform/tenants?limit=2&cursor="+*page1.NextCursor, nil).decode(t, &page2)
		if len(page2.Items) != 1 || page2.NextCursor != nil || page2.Items[0].Slug != "acme" {
			t.Fatalf("second page %+v", page2)
		}
		var got store.Tenant
		op.do("GET", "/api/platform/tenants/initech", nil).decode(t, &got)
		if got.ID != made.Tenant.ID {
			t.Fatalf("got %+v", got)
		}
		mustStatus(t, op.do("GET", "/api/platform/tenants/Not%20A%20Slug", nil), http.StatusNotFound, "not_found")
	})

	if ev := platEvents(t, e, made.Tenant.ID); !platHas(ev, "tenant.create") {
		t.Fatalf("platform events %v", ev)
	}
	var n int
	if err := platSuper(t, e).QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action = 'tenant.create' AND actor = 'operator'`, made.Tenant.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("tenant audit events: %d %v", n, err)
	}
}

// PATCH renames: slug, name, primary domain (null removes it), self-registration; the tenant
// is looked up before the body is judged, and names stay unique.
func TestPlatRename(t *testing.T) {
	e := newEnv(t)
	op := platOperator(e)
	owner := e.login("owner@acme.test", "")
	const path = "/api/platform/tenants/acme"

	mustStatus(t, op.do("PATCH", "/api/platform/tenants/nobody", map[string]any{}), http.StatusNotFound, "not_found")
	mustStatus(t, op.do("PATCH", "/api/platform/tenants/nobody", map[string]any{"slug": "Bad Slug"}), http.StatusNotFound, "not_found")
	for _, tc := range []struct {
		body  any
		field string
	}{
		{map[string]any{"slug": "Bad Slug"}, "slug"},
		{map[string]any{"name": ""}, "name"},
		{map[string]any{"primary_domain": 5}, "primary_domain"},
		{map[string]any{"primary_domain": "acme.localhost"}, "primary_domain"},
		{map[string]any{"status": "suspended"}, "status"},
	} {
		r := op.do("PATCH", path, tc.body)
		mustStatus(t, r, http.StatusUnprocessableEntity, "validation_failed")
		if !strings.Contains(string(r.Body), `"field":"`+tc.field+`"`) {
			t.Errorf("%v: %s", tc.body, r.Body)
		}
	}
	mustStatus(t, op.do("PATCH", path, map[string]any{"slug": "globex"}), http.StatusConflict, "conflict")

	var got store.Tenant
	r := op.do("PATCH", path, map[string]any{"primary_domain": "Advisory.Acme.Example"})
	mustStatus(t, r, http.StatusOK)
	r.decode(t, &got)
	if got.PrimaryDomain == nil || *got.PrimaryDomain != "advisory.acme.example" {
		t.Fatalf("domain %+v", got)
	}
	mustStatus(t, e.anon().onHost("advisory.acme.example").do("GET", "/api/services", nil), http.StatusOK)
	mustStatus(t, op.do("PATCH", "/api/platform/tenants/globex", map[string]any{"primary_domain": "advisory.acme.example"}), http.StatusConflict, "conflict")

	r = op.do("PATCH", path, map[string]any{"primary_domain": nil})
	mustStatus(t, r, http.StatusOK)
	got = store.Tenant{}
	r.decode(t, &got)
	if got.PrimaryDomain != nil {
		t.Fatalf("domain not removed: %s", r.Body)
	}
	mustStatus(t, e.anon().onHost("advisory.acme.example").do("GET", "/api/services", nil), http.StatusNotFound, "tenant_not_found")

	r = op.do("PATCH", path, map[string]any{"slug": "acme-advisory", "name": "Acme Advisory Group", "allow_self_registration": false})
	mustStatus(t, r, http.StatusOK)
	r.decode(t, &got)
	if got.Slug != "acme-advisory" || got.Name != "Acme Advisory Group" || got.AllowSelfRegistration || got.ID != e.demo.Acme.ID {
		t.Fatalf("renamed %+v", got)
	}
	mustStatus(t, op.do("GET", path, nil), http.StatusNotFound, "not_found")
	mustStatus(t, op.do("GET", "/api/platform/tenants/acme-advisory", nil), http.StatusOK)
	mustStatus(t, e.anon().onHost("acme.localhost").do("GET", "/api/services", nil), http.StatusNotFound, "tenant_not_found")
	mustStatus(t, e.anon().onHost("acme-advisory.localhost").do("GET", "/api/services", nil), http.StatusOK)
	// Sessions are bound to the tenant's id, not its slug: they survive a rename.
	mustStatus(t, owner.do("GET", "/api/admin/services", nil), http.StatusOK)
	mustStatus(t, owner.onHost("acme-advisory.localhost").do("GET", "/api/admin/services", nil), http.StatusOK)
	mustStatus(t, e.anon().onHost("acme-advisory.localhost").do("POST", "/api/auth/register",
		map[string]string{"email": "new@client.test", "password": "a-long-password", "name": "New"}), http.StatusForbidden)

	// A PATCH that changes nothing records nothing.
	before := len(platEvents(t, e, e.demo.Acme.ID))
	mustStatus(t, op.do("PATCH", "/api/platform/tenants/acme-advisory", map[string]any{}), http.StatusOK)
	ev := platEvents(t, e, e.demo.Acme.ID)
	if len(ev) != before || !platHas(ev, "tenant.update") {
		t.Fatalf("events %v (had %d)", ev, before)
	}
}

// A suspended tenant's every route answers 403 tenant_suspended, through existing sessions and
// API tokens alike; resuming gives the same session its access back. Other tenants never notice.
func TestPlatSuspendResume(t *testing.T) {
	e := newEnv(t)
	op := platOperator(e)
	owner := e.login("owner@acme.test", "")
	r := owner.do("POST", "/api/admin/api-tokens", map[string]any{"name": "suspension test"})
	mustStatus(t, r, http.StatusCreated)
	var tok struct {
		Token string `json:"token"`
	}
	r.decode(t, &tok)
	token := e.anon()
	token.bearer = tok.Token
	globex := e.login("owner@globex.test", "")
	mustStatus(t, owner.do("GET", "/api/admin/services", nil), http.StatusOK)
	mustStatus(t, token.do("GET", "/api/admin/services", nil), http.StatusOK)

	mustStatus(t, op.do("POST", "/api/platform/tenants/nobody/suspend", nil), http.StatusNotFound, "not_found")
	mustStatus(t, op.do("POST", "/api/platform/tenants/nobody/resume", nil), http.StatusNotFound, "not_found")
	var got store.Tenant
	r = op.do("POST", "/api/platform/tenants/acme/suspend", nil)
	mustStatus(t, r, http.StatusOK)
	r.decode(t, &got)
	if got.Status != "suspended" {
		t.Fatalf("status %q", got.Status)
	}
	mustStatus(t, op.do("POST", "/api/platform/tenants/acme/suspend", nil), http.StatusOK)

	routes := platTenantRoutes(e, uuid.NewString())
	if len(routes) < 50 {
		t.Fatalf("only %d tenant routes", len(routes))
	}
	for _, rt := range routes {
		for _, cred := range []struct {
			name string
			c    *client
		}{{"session", owner}, {"token", token}} {
			body := platBody(rt.Method)
			if rt.Pattern == "/api/tenant/switch" {
				// A session may switch out of a suspended tenant (to one where it is an active
				// member), never into it: the switch asks for the suspended tenant itself.
				body = map[string]any{"tenant": "acme"}
			}
			if r := cred.c.do(rt.Method, rt.Pattern, body); r.Status != http.StatusForbidden || r.code() != "tenant_suspended" {
				t.Errorf("%s %s via %s: %d %s", rt.Method, rt.Pattern, cred.name, r.Status, r.Body)
			}
		}
	}
	r = e.anon().do("POST", "/api/auth/login", map[string]string{"email": "owner@acme.test", "password": seed.Password})
	mustStatus(t, r, http.StatusForbidden, "tenant_suspended")
	mustStatus(t, e.anon().onHost("acme.localhost").do("GET", "/api/services", nil), http.StatusForbidden, "tenant_suspended")
	mustStatus(t, globex.do("GET", "/api/admin/services", nil), http.StatusOK)
	mustStatus(t, e.anon().onHost("globex.localhost").do("GET", "/api/services", nil), http.StatusOK)
	op.do("GET", "/api/platform/tenants/acme", nil).decode(t, &got)
	if got.Status != "suspended" {
		t.Fatalf("status %q", got.Status)
	}

	r = op.do("POST", "/api/platform/tenants/acme/resume", nil)
	mustStatus(t, r, http.StatusOK)
	r.decode(t, &got)
	if got.Status != "active" {
		t.Fatalf("status %q", got.Status)
	}
	mustStatus(t, owner.do("GET", "/api/auth/session", nil), http.StatusOK)
	mustStatus(t, owner.do("GET", "/api/admin/services", nil), http.StatusOK)
	mustStatus(t, token.do("GET", "/api/admin/services", nil), http.StatusOK)
	mustStatus(t, e.anon().onHost("acme.localhost").do("GET", "/api/services", nil), http.StatusOK)

	ev := platEvents(t, e, e.demo.Acme.ID)
	n := 0
	for _, k := range ev {
		if k == "tenant.suspend" {
			n++
		}
	}
	if n != 1 || !platHas(ev, "tenant.resume") {
		t.Fatalf("events %v: want one suspension (the second changed nothing) and one resumption", ev)
	}
}

// Tenant credentials never open a platform route, and the operator token never opens a tenant
// route.
func TestPlatCredentialsStayApart(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	r := owner.do("POST", "/api/admin/api-tokens", map[string]any{"name": "platform probe"})
	mustStatus(t, r, http.StatusCreated)
	var tok struct {
		Token string `json:"token"`
	}
	r.decode(t, &tok)
	token := e.anon()
	token.bearer = tok.Token
	wrong := e.anon()
	wrong.bearer = testOperator + "x"
	cookieAndOperator := owner.onHost("")
	cookieAndOperator.bearer = tok.Token

	n := 0
	for _, rt := range e.api.Routes() {
		if rt.Kind != httpapi.KindPlatform {
			continue
		}
		if strings.HasPrefix(rt.Pattern, "/api/platform/") {
			n++
		}
		path := platParam.ReplaceAllString(rt.Pattern, "acme")
		for _, cred := range []struct {
			name string
			c    *client
		}{{"session", owner}, {"api token", token}, {"session on the tenant host", owner.onHost("acme.localhost")},
			{"nothing", e.anon()}, {"a wrong operator token", wrong}, {"session and token", cookieAndOperator}} {
			if r := cred.c.do(rt.Method, path, platBody(rt.Method)); r.Status != http.StatusUnauthorized || r.code() != "unauthenticated" {
				t.Errorf("%s %s with %s: %d %s", rt.Method, path, cred.name, r.Status, r.Body)
			}
		}
	}
	// The tenants routes of SPEC §5 and the job route that follows an asynchronous offboarding.
	if n != 10 {
		t.Errorf("%d /api/platform routes, want 10", n)
	}
	var got store.Tenant
	platOperator(e).do("GET", "/api/platform/tenants/acme", nil).decode(t, &got)
	if got.Status != "active" {
		t.Fatalf("acme is %s after refused platform requests", got.Status)
	}

	op := platOperator(e)
	for _, rt := range platTenantRoutes(e, uuid.NewString()) {
		for _, host := range []string{"", "acme.localhost"} {
			if r := op.onHost(host).do(rt.Method, rt.Pattern, platBody(rt.Method)); r.Status != http.StatusUnauthorized || r.code() != "unauthenticated" {
				t.Errorf("operator token on %s %s (host %q): %d %s", rt.Method, rt.Pattern, host, r.Status, r.Body)
			}
		}
	}
}

// usage reports the tenant's traffic and its rows per tenant-owned table.
func TestPlatUsage(t *testing.T) {
	e := newEnv(t)
	op := platOperator(e)
	owner := e.login("owner@acme.test", "")
	for range 3 {
		mustStatus(t, owner.do("GET", "/api/admin/services", nil), http.StatusOK)
	}
	mustStatus(t, owner.do("GET", "/api/admin/services/"+uuid.NewString(), nil), http.StatusNotFound)
	var u struct {
		Tenant  store.Tenant          `json:"tenant"`
		Traffic httpapi.UsageSnapshot `json:"traffic"`
		Rows    map[string]int64      `json:"rows"`
		Total   int64                 `json:"total_rows"`
	}
	r := op.do("GET", "/api/platform/tenants/acme/usage", nil)
	mustStatus(t, r, http.StatusOK)
	r.decode(t, &u)
	if u.Tenant.ID != e.demo.Acme.ID || u.Traffic.Requests < 4 || u.Traffic.ClientErrors < 1 {
		t.Fatalf("usage %s", r.Body)
	}
	want := platCounts(t, platSuper(t, e), e.demo.Acme.ID)
	var total int64
	for table, n := range want {
		total += n
		if u.Rows[table] != n {
			t.Errorf("%s: usage says %d rows, the database has %d", table, u.Rows[table], n)
		}
	}
	if len(u.Rows) != len(want) || u.Total != total {
		t.Errorf("usage lists %d tables (%d rows), the database has %d (%d rows)", len(u.Rows), u.Total, len(want), total)
	}
	mustStatus(t, op.do("GET", "/api/platform/tenants/nobody/usage", nil), http.StatusNotFound, "not_found")
}

// platCheckBundle checks a bundle against itself (every file's size and checksum as the
// manifest says, manifest first) and returns the manifest and the entries by name.
func platCheckBundle(t *testing.T, bundle []byte) (store.ExportManifest, map[string][]byte) {
	t.Helper()
	entries := platUnpack(t, bundle)
	if len(entries) == 0 || entries[0].name != "manifest.json" {
		t.Fatalf("the bundle does not start with manifest.json")
	}
	var m store.ExportManifest
	if err := json.Unmarshal(entries[0].data, &m); err != nil {
		t.Fatal(err)
	}
	if m.Format != store.ExportFormat || m.FormatVersion != store.ExportFormatVersion {
		t.Fatalf("manifest format %q %d", m.Format, m.FormatVersion)
	}
	byName := map[string][]byte{}
	for _, en := range entries {
		if _, dup := byName[en.name]; dup {
			t.Fatalf("entry %s twice", en.name)
		}
		byName[en.name] = en.data
	}
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	listed := 1
	for _, tb := range m.Tables {
		data, ok := byName[tb.File]
		if !ok {
			t.Fatalf("table %s: no %s in the bundle", tb.Name, tb.File)
		}
		listed++
		if sum(data) != tb.SHA256 || int64(len(data)) != tb.Bytes || int64(bytes.Count(data, []byte("\n"))) != tb.Rows {
			t.Errorf("table %s: file does not match its manifest entry", tb.Name)
		}
	}
	for _, f := range m.Files {
		if f.Missing {
			continue
		}
		data, ok := byName[f.File]
		if !ok || f.File != "files/"+f.Key {
			t.Fatalf("file %s: no %s in the bundle", f.Key, f.File)
		}
		listed++
		if sum(data) != f.SHA256 || int64(len(data)) != f.Size {
			t.Errorf("file %s does not match its manifest entry", f.Key)
		}
	}
	if listed != len(entries) {
		t.Errorf("the bundle has %d entries, the manifest accounts for %d", len(entries), listed)
	}
	return m, byName
}

// platRowIDs reads the "id" of every JSON line.
func platRowIDs(t *testing.T, data []byte) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var row map[string]any
		if err := json.Unmarshal(line, &row); err != nil {
			t.Fatalf("row %s: %v", line, err)
		}
		id, _ := row["id"].(string)
		out[id] = row
	}
	return out
}

// The export of acme holds every acme row of every tenant-owned table, its tenant row, its
// members (without password hashes) and its files, and nothing of globex.
func TestPlatExport(t *testing.T) {
	e, dir := newPlatEnv(t)
	op := platOperator(e)
	super := platSuper(t, e)
	acme := e.demo.Acme.ID
	counts := platCounts(t, super, acme)
	ids := platIDs(t, super, acme)

	r := op.do("GET", "/api/platform/tenants/acme/export", nil)
	mustStatus(t, r, http.StatusOK)
	if ct := r.Header.Get("Content-Type"); ct != "application/gzip" {
		t.Fatalf("content type %q", ct)
	}
	m, entries := platCheckBundle(t, r.Body)
	if m.Tenant.ID != acme || m.Tenant.Slug != "acme" || m.Tenant.Name != "Acme Advisory" {
		t.Fatalf("manifest tenant %+v", m.Tenant)
	}

	tables := map[string]store.ExportTable{}
	for _, tb := range m.Tables {
		tables[tb.Name] = tb
	}
	for table, n := range counts {
		tb, ok := tables[table]
		if !ok || tb.Scope != "tenant" {
			t.Errorf("table %s missing from the manifest", table)
			continue
		}
		if tb.Rows != n {
			t.Errorf("table %s: %d rows exported, the database has %d", table, tb.Rows, n)
		}
		rows := platRowIDs(t, entries[tb.File])
		for _, id := range ids[table] {
			if row, ok := rows[id]; !ok {
				t.Errorf("table %s: row %s not exported", table, id)
			} else if row["tenant_id"] != acme.String() {
				t.Errorf("table %s: row %s exported with tenant %v", table, id, row["tenant_id"])
			}
		}
	}
	if len(tables) != len(counts)+2 {
		t.Errorf("manifest lists %d tables, want the %d tenant-owned ones plus tenants and users", len(tables), len(counts))
	}
	if counts["attachments"] < 2 || counts["bookings"] < 2 {
		t.Fatalf("the demo tenant is too small to prove anything: %v", counts)
	}
	if rows := platRowIDs(t, entries[tables["tenants"].File]); len(rows) != 1 || rows[acme.String()] == nil {
		t.Errorf("tenants.jsonl %s", entries[tables["tenants"].File])
	}
	users := platRowIDs(t, entries[tables["users"].File])
	for _, id := range []uuid.UUID{e.demo.Acme.Owner, e.demo.Acme.Staff, e.demo.Acme.Client, e.demo.Acme.Client2, e.demo.Consultant} {
		if users[id.String()] == nil {
			t.Errorf("member %s not in users.jsonl", id)
		}
	}
	if len(users) != int(counts["memberships"]) || bytes.Contains(entries[tables["users"].File], []byte("password")) ||
		bytes.Contains(r.Body, []byte("$argon2id$")) {
		t.Errorf("users.jsonl must hold the %d members, without password hashes: %s", counts["memberships"], entries[tables["users"].File])
	}

	// Every attachment's bytes, as stored.
	onDisk := platDirDigest(t, filepath.Join(dir, acme.String()))
	present := 0
	for _, f := range m.Files {
		if f.Missing {
			t.Errorf("file %s reported missing", f.Key)
			continue
		}
		present++
		if onDisk[strings.TrimPrefix(f.Key, acme.String()+"/")] != f.SHA256 {
			t.Errorf("file %s: checksum differs from the stored file", f.Key)
		}
	}
	if int64(present) != counts["attachments"] || len(onDisk) != present {
		t.Errorf("%d files exported, %d attachments, %d files stored", present, counts["attachments"], len(onDisk))
	}

	// Nothing of globex, anywhere in any file of the bundle.
	var globexIDs []string
	for _, list := range platIDs(t, super, e.demo.Globex.ID) {
		globexIDs = append(globexIDs, list...)
	}
	globexIDs = append(globexIDs, e.demo.Globex.ID.String())
	if len(globexIDs) < 40 {
		t.Fatalf("only %d globex ids", len(globexIDs))
	}
	for name, data := range entries {
		for _, id := range globexIDs {
			if bytes.Contains(data, []byte(id)) {
				t.Errorf("%s contains globex id %s", name, id)
			}
		}
		if bytes.Contains(bytes.ToLower(data), []byte("globex")) {
			t.Errorf("%s mentions globex", name)
		}
	}
	if ev := platEvents(t, e, acme); !platHas(ev, "tenant.export") {
		t.Errorf("platform events %v", ev)
	}

	t.Run("a missing file is listed, not fatal", func(t *testing.T) {
		gone := m.Files[0].Key
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash(gone))); err != nil {
			t.Fatal(err)
		}
		r := op.do("GET", "/api/platform/tenants/acme/export", nil)
		mustStatus(t, r, http.StatusOK)
		m2, _ := platCheckBundle(t, r.Body)
		missing := 0
		for _, f := range m2.Files {
			if f.Missing {
				missing++
				if f.Key != gone || f.File != "" {
					t.Errorf("missing entry %+v", f)
				}
			}
		}
		if missing != 1 || len(m2.Files) != len(m.Files) {
			t.Errorf("%d missing of %d", missing, len(m2.Files))
		}
	})
	mustStatus(t, op.do("GET", "/api/platform/tenants/nobody/export", nil), http.StatusNotFound, "not_found")
}

// Offboarding globex removes every row and file of it (and its users who belong nowhere else),
// leaves a bundle and a certificate that agree with what was there, and neither touches nor
// interrupts acme.
func TestPlatOffboard(t *testing.T) {
	e, dir := newPlatEnv(t)
	op := platOperator(e)
	super := platSuper(t, e)
	ctx := context.Background()
	acme, globex := e.demo.Acme.ID, e.demo.Globex.ID

	globexOwner := e.login("owner@globex.test", "")
	e.login("client@globex.test", "")
	consultant := e.login("consultant@demo.test", "globex")
	acmeOwner := e.login("owner@acme.test", "")
	before := platCounts(t, super, globex)
	// Offboarding starts by recording itself in the tenant's own audit log, which then goes
	// with the rest.
	before["audit_events"]++
	var sessions, routes int64
	if err := super.QueryRow(ctx, `SELECT (SELECT count(*) FROM sessions WHERE active_tenant_id = $1),
		(SELECT count(*) FROM payment_session_routes WHERE owner_tenant_id = $1)`, globex).Scan(&sessions, &routes); err != nil {
		t.Fatal(err)
	}
	globexOnly := []uuid.UUID{e.demo.Globex.Owner, e.demo.Globex.Staff, e.demo.Globex.Client, e.demo.Globex.Client2}
	acmePrint := platFingerprint(t, super, acme)
	acmeFiles := platDirDigest(t, filepath.Join(dir, acme.String()))
	globexFiles := platDirDigest(t, filepath.Join(dir, globex.String()))
	if len(globexFiles) < 2 || len(acmeFiles) < 2 || sessions < 3 {
		t.Fatalf("fixture too small: %d globex files, %d acme files, %d sessions", len(globexFiles), len(acmeFiles), sessions)
	}

	// Bundles of earlier exports are copies of a tenant's data: globex's go with it, acme's stay.
	earlier := map[string]bool{ // path: whether it must survive
		filepath.Join(dir, "exports", globex.String()+"-20250101T000000.000000000Z.tar.gz"): false,
		filepath.Join(dir, "exports", globex.String()+"-20250102T000000.000000000Z.tar.gz"): false,
		filepath.Join(dir, "exports", acme.String()+"-20250101T000000.000000000Z.tar.gz"):   true,
	}
	for path := range earlier {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("an earlier export"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// acme keeps working while globex goes.
	done := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	served := 0
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths := []string{"/api/admin/services", "/api/bookings", "/api/admin/invoices", "/api/auth/session", "/api/admin/audit-logs"}
			for j := 0; ; j++ {
				select {
				case <-done:
					return
				default:
				}
				time.Sleep(50 * time.Millisecond) // well inside acme's request rate
				p := paths[(i+j)%len(paths)]
				status, err := platRaw(acmeOwner, "GET", p)
				mu.Lock()
				served++
				if err != nil || status != http.StatusOK {
					failures = append(failures, p+": "+http.StatusText(status))
				}
				mu.Unlock()
			}
		}()
	}
	r := op.do("DELETE", "/api/platform/tenants/globex", nil)
	close(done)
	wg.Wait()
	mustStatus(t, r, http.StatusOK)
	if len(failures) > 0 || served == 0 {
		t.Errorf("%d acme requests during the offboarding, failures: %v", served, failures)
	}

	var cert store.DeletionCertificate
	r.decode(t, &cert)
	if cert.TenantID != globex || cert.Slug != "globex" || cert.DeletedAt.IsZero() {
		t.Fatalf("certificate %s", r.Body)
	}
	for table, n := range before {
		if cert.Tables[table] != n {
			t.Errorf("certificate: %s %d rows removed, there were %d", table, cert.Tables[table], n)
		}
	}
	if cert.Tables["tenants"] != 1 || cert.Tables["sessions"] < sessions || cert.Tables["payment_session_routes"] != routes {
		t.Errorf("certificate global counts %v (sessions %d, payment routes %d)", cert.Tables, sessions, routes)
	}
	if cert.FilesRemoved != int64(len(globexFiles)) || cert.UsersRemoved != int64(len(globexOnly)) {
		t.Errorf("certificate: %d files (want %d), %d users (want %d)", cert.FilesRemoved, len(globexFiles),
			cert.UsersRemoved, len(globexOnly))
	}

	if cert.EarlierBundlesRemoved != 2 {
		t.Errorf("certificate: %d earlier bundles removed, want 2", cert.EarlierBundlesRemoved)
	}
	for path, keep := range earlier {
		if _, err := os.Stat(path); (err == nil) != keep {
			t.Errorf("%s: exists %v, want %v", filepath.Base(path), err == nil, keep)
		}
	}

	// The bundle is where the certificate says, with its checksum, and holds what was removed.
	if !strings.HasPrefix(cert.Bundle.Path, filepath.Join(dir, "exports")+string(filepath.Separator)) {
		t.Errorf("bundle at %s", cert.Bundle.Path)
	}
	bundle, err := os.ReadFile(cert.Bundle.Path)
	if err != nil {
		t.Fatal(err)
	}
	if s := sha256.Sum256(bundle); hex.EncodeToString(s[:]) != cert.Bundle.SHA256 || int64(len(bundle)) != cert.Bundle.Size {
		t.Errorf("bundle checksum or size differs from the certificate")
	}
	m, _ := platCheckBundle(t, bundle)
	for _, tb := range m.Tables {
		if tb.Scope == "tenant" && tb.Rows != before[tb.Name] {
			t.Errorf("bundle: %s %d rows, there were %d", tb.Name, tb.Rows, before[tb.Name])
		}
	}
	if len(m.Files) != len(globexFiles) || m.Tenant.ID != globex {
		t.Errorf("bundle: %d files, want %d", len(m.Files), len(globexFiles))
	}

	// Nothing of globex is left: no row in any tenant-owned table, no tenant, no session, no user
	// who belonged only to globex, no stored file.
	for table, n := range platCounts(t, super, globex) {
		if n != 0 {
			t.Errorf("%s still holds %d globex rows", table, n)
		}
	}
	var left [6]int64
	if err := super.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM tenants WHERE id = $1),
		(SELECT count(*) FROM sessions WHERE active_tenant_id = $1 OR user_id = ANY($2)),
		(SELECT count(*) FROM users WHERE default_tenant_id = $1),
		(SELECT count(*) FROM users WHERE lower(email) LIKE '%@globex.test'),
		(SELECT count(*) FROM users WHERE id = ANY($2) AND (password_hash <> '' OR name <> '')),
		(SELECT count(*) FROM payment_session_routes WHERE owner_tenant_id = $1)`, globex, globexOnly).
		Scan(&left[0], &left[1], &left[2], &left[3], &left[4], &left[5]); err != nil {
		t.Fatal(err)
	}
	if left != [6]int64{} {
		t.Errorf("left behind (tenant, sessions, users defaulting to it, globex emails, users with data, payment routes): %v", left)
	}
	var users int64
	if err := super.QueryRow(ctx, `SELECT count(*) FROM users WHERE id = ANY($1)`, globexOnly).Scan(&users); err != nil {
		t.Fatal(err)
	}
	if users != 0 {
		t.Errorf("%d globex-only users remain", users)
	}
	if _, err := os.Stat(filepath.Join(dir, globex.String())); !os.IsNotExist(err) {
		t.Errorf("globex's storage directory remains: %v", err)
	}

	// acme is exactly as it was, and still works.
	if got := platFingerprint(t, super, acme); got != acmePrint {
		t.Errorf("acme's rows changed:\n%s\n%s", acmePrint, got)
	}
	if got := platDirDigest(t, filepath.Join(dir, acme.String())); len(got) != len(acmeFiles) {
		t.Errorf("acme's files changed")
	} else {
		for k, v := range acmeFiles {
			if got[k] != v {
				t.Errorf("acme file %s changed", k)
			}
		}
	}
	mustStatus(t, acmeOwner.do("GET", "/api/admin/services", nil), http.StatusOK)
	mustStatus(t, e.login("consultant@demo.test", "acme").do("GET", "/api/admin/services", nil), http.StatusOK)

	// globex credentials are dead; its name is free; the platform log holds the certificate.
	mustStatus(t, globexOwner.do("GET", "/api/auth/session", nil), http.StatusUnauthorized, "unauthenticated")
	mustStatus(t, consultant.do("GET", "/api/auth/session", nil), http.StatusUnauthorized, "unauthenticated")
	mustStatus(t, e.anon().do("POST", "/api/auth/login", map[string]string{"email": "owner@globex.test", "password": seed.Password}),
		http.StatusUnauthorized, "unauthenticated")
	mustStatus(t, e.anon().onHost("globex.localhost").do("GET", "/api/services", nil), http.StatusNotFound, "tenant_not_found")
	mustStatus(t, op.do("GET", "/api/platform/tenants/globex", nil), http.StatusNotFound, "not_found")
	mustStatus(t, op.do("DELETE", "/api/platform/tenants/globex", nil), http.StatusNotFound, "not_found")
	ev := platEvents(t, e, globex)
	for _, k := range []string{"tenant.offboard.start", "tenant.offboard.rows", "tenant.offboard"} {
		if !platHas(ev, k) {
			t.Errorf("no %s event in %v", k, ev)
		}
	}
	var recorded store.DeletionCertificate
	var detail []byte
	if err := super.QueryRow(ctx, `SELECT detail->'certificate' FROM platform_events WHERE subject_tenant_id = $1 AND kind = 'tenant.offboard'`, globex).Scan(&detail); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(detail, &recorded); err != nil || recorded.Bundle.SHA256 != cert.Bundle.SHA256 || recorded.FilesRemoved != cert.FilesRemoved {
		t.Errorf("recorded certificate %s: %v", detail, err)
	}
}

// A tenant left in offboarding (an interrupted offboarding) takes no changes and grants no
// access; offboarding it again finishes the job.
func TestPlatOffboardResumesAfterInterruption(t *testing.T) {
	e := newEnv(t)
	op := platOperator(e)
	r := op.do("POST", "/api/platform/tenants", platNewTenant())
	mustStatus(t, r, http.StatusCreated)
	var made httpapi.ProvisionedTenant
	r.decode(t, &made)
	c := e.anon()
	mustStatus(t, c.do("POST", "/api/auth/login", map[string]string{"email": "bill@initech.test", "password": "initech-password"}), http.StatusOK)
	if _, err := platSuper(t, e).Exec(context.Background(), `UPDATE tenants SET status = 'offboarding' WHERE id = $1`, made.Tenant.ID); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, c.do("GET", "/api/admin/services", nil), http.StatusForbidden, "tenant_suspended")
	for _, req := range []struct{ method, path string }{
		{"PATCH", "/api/platform/tenants/initech"}, {"POST", "/api/platform/tenants/initech/suspend"}, {"POST", "/api/platform/tenants/initech/resume"},
	} {
		mustStatus(t, op.do(req.method, req.path, map[string]any{}), http.StatusConflict, "conflict")
	}
	r = op.do("DELETE", "/api/platform/tenants/initech", nil)
	mustStatus(t, r, http.StatusOK)
	var cert store.DeletionCertificate
	r.decode(t, &cert)
	if cert.Tables["memberships"] != 1 || cert.Tables["booking_settings"] != 1 || cert.UsersRemoved != 1 {
		t.Errorf("certificate %s", r.Body)
	}
	if cert.FilesRemoved != 0 {
		t.Errorf("files removed %d", cert.FilesRemoved)
	}
	mustStatus(t, op.do("GET", "/api/platform/tenants/initech", nil), http.StatusNotFound, "not_found")
	mustStatus(t, c.do("GET", "/api/auth/session", nil), http.StatusUnauthorized, "unauthenticated")
	var n int64
	if err := platSuper(t, e).QueryRow(context.Background(), `SELECT count(*) FROM users WHERE email = 'bill@initech.test'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("owner still there: %d %v", n, err)
	}
}

// A process that stopped after an offboarding deleted the tenant's rows but before it removed
// the stored files and recorded the certificate leaves the files behind; offboarding the
// former tenant again (by slug, or its job by id) finishes exactly that and nothing else.
func TestPlatOffboardFinishesAfterRowsWereDeleted(t *testing.T) {
	for _, via := range []string{"slug", "job"} {
		t.Run(via, func(t *testing.T) {
			e, dir := newPlatEnv(t)
			op := platOperator(e)
			super := platSuper(t, e)
			ctx := context.Background()
			globex := e.demo.Globex.ID
			globexDir := filepath.Join(dir, globex.String())
			files := platDirDigest(t, globexDir)
			if len(files) == 0 {
				t.Fatal("fixture has no globex files")
			}
			acmeFiles := platDirDigest(t, filepath.Join(dir, e.demo.Acme.ID.String()))
			r := op.do("DELETE", "/api/platform/tenants/globex", nil)
			mustStatus(t, r, http.StatusOK)
			var first store.DeletionCertificate
			r.decode(t, &first)

			// The state such a stop leaves: the rows and their record are gone and committed,
			// the files are still there and the final record was never written.
			for rel, digest := range files {
				path := filepath.Join(globexDir, rel)
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(digest), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := super.Exec(ctx, `DELETE FROM platform_events WHERE kind = 'tenant.offboard' AND subject_tenant_id = $1`, globex); err != nil {
				t.Fatal(err)
			}

			var cert *store.DeletionCertificate
			switch via {
			case "slug":
				r := op.do("DELETE", "/api/platform/tenants/globex", nil)
				mustStatus(t, r, http.StatusOK)
				r.decode(t, &cert)
			case "job":
				var err error
				cert, err = e.st.Platform("test").FinishOffboarding(ctx, globex, dir, filepath.Join(dir, "unused.tar.gz"))
				if err != nil {
					t.Fatal(err)
				}
			}
			if cert.TenantID != globex || cert.FilesRemoved != int64(len(files)) || cert.Bundle != first.Bundle ||
				cert.Tables["bookings"] != first.Tables["bookings"] || !cert.DeletedAt.Equal(first.DeletedAt) {
				t.Errorf("certificate %+v, first %+v", cert, first)
			}
			if _, err := os.Stat(globexDir); !os.IsNotExist(err) {
				t.Errorf("globex's files are still there: %v", err)
			}
			if got := platDirDigest(t, filepath.Join(dir, e.demo.Acme.ID.String())); !maps.Equal(got, acmeFiles) {
				t.Error("acme's files changed")
			}
			var finals int
			if err := super.QueryRow(ctx, `SELECT count(*) FROM platform_events WHERE kind = 'tenant.offboard' AND subject_tenant_id = $1`, globex).Scan(&finals); err != nil || finals != 1 {
				t.Errorf("final records: %d, %v", finals, err)
			}
			// Finished now: there is nothing left to finish.
			mustStatus(t, op.do("DELETE", "/api/platform/tenants/globex", nil), http.StatusNotFound, "not_found")
			if _, err := e.st.Platform("test").FinishOffboarding(ctx, globex, dir, filepath.Join(dir, "unused.tar.gz")); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("finishing again: %v", err)
			}
		})
	}
}

// A whole tenant's export downloads in full even when it takes longer than the server's write
// timeout, which bounds every other response.
func TestPlatExportOutlastsWriteTimeout(t *testing.T) {
	e, _ := newPlatEnv(t)
	// A large, incompressible file makes the bundle outgrow the socket buffers, so the server
	// has to wait for a slow reader.
	big := make([]byte, 9<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	copy(big, "\x89PNG\r\n\x1a\n") // stored as the image it claims to be
	owner := e.login("owner@acme.test", "")
	mustStatus(t, owner.contUpload(contPart{name: "file", filename: "big.png", data: big}), http.StatusCreated)

	srv := httptest.NewUnstartedServer(e.api)
	srv.Config.WriteTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	req, err := http.NewRequest("GET", srv.URL+"/api/platform/tenants/acme/export", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testOperator)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("export answered %d", res.StatusCode)
	}
	time.Sleep(time.Second) // a slow download: the server's writes wait for the reader
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("the download was cut short after %d bytes: %v", len(body), err)
	}
	_, entries := platCheckBundle(t, body)
	if len(entries) == 0 {
		t.Fatal("empty bundle")
	}
}
