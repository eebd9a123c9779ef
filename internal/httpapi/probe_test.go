package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// auditActions lists a tenant's audit actions (as the superuser, to see the truth).
func auditActions(t *testing.T, e *env, tenant uuid.UUID) map[string]int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.db.SuperURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT action, detail::text FROM audit_events WHERE tenant_id = $1`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for rows.Next() {
		var a, d string
		if err := rows.Scan(&a, &d); err != nil {
			t.Fatal(err)
		}
		out[a]++
	}
	return out
}

// A 404 on an id that exists in another tenant is recorded as a cross-tenant probe in the
// probed tenant's audit log and the platform log, never in the prober's (which would reveal
// that the guess exists); a 404 on an id that exists nowhere is not. The answers are identical.
func TestCrossTenantProbesAreRecorded(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	foreign := owner.do("GET", "/api/bookings/"+e.demo.Globex.Bookings[0].String(), nil)
	random := owner.do("GET", "/api/bookings/"+uuid.NewString(), nil)
	mustStatus(t, foreign, http.StatusNotFound, "not_found")
	mustStatus(t, random, http.StatusNotFound, "not_found")
	if withoutRequestID(foreign.Body) != withoutRequestID(random.Body) {
		t.Fatal("the answers differ")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		acme, globex := auditActions(t, e, e.demo.Acme.ID), auditActions(t, e, e.demo.Globex.ID)
		if acme["security.cross_tenant_probe"] != 0 {
			t.Fatal("the prober's own audit log learns that its guess exists elsewhere")
		}
		if globex["security.cross_tenant_probe"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("probe events: acme %v, globex %v", acme, globex)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Its own ids are no probe, even when another client's booking gives a client 404.
	c := e.login("client@acme.test", "")
	mustStatus(t, c.do("GET", "/api/bookings/"+e.demo.Acme.Bookings[3].String(), nil), http.StatusNotFound)
	time.Sleep(300 * time.Millisecond)
	if n := auditActions(t, e, e.demo.Acme.ID)["security.cross_tenant_probe"]; n != 0 {
		t.Fatalf("%d probe events after a same-tenant 404", n)
	}
	events, err := e.st.PlatformEvents(context.Background(), "cross_tenant_probe", 10)
	if err != nil || len(events) != 1 {
		t.Fatalf("platform probe events: %d %v", len(events), err)
	}
}

// A flood of probes cannot bury the probed tenant's audit log: a probing tenant gets a
// limited number of records there (20 at once, then one a minute), however many it sends.
func TestProbeRecordsAreLimitedPerProber(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	foreign := e.demo.Globex.Bookings[0].String()
	const probes = 35
	for range probes {
		mustStatus(t, owner.do("GET", "/api/bookings/"+foreign, nil), http.StatusNotFound, "not_found")
		time.Sleep(40 * time.Millisecond) // one background check at a time: none is skipped
	}
	deadline := time.Now().Add(5 * time.Second)
	for auditActions(t, e, e.demo.Globex.ID)["security.cross_tenant_probe"] < 20 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if n := auditActions(t, e, e.demo.Globex.ID)["security.cross_tenant_probe"]; n != 20 {
		t.Fatalf("%d probe records in the probed tenant's log after %d probes, want 20", n, probes)
	}
}
