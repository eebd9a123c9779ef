package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tenantd/internal/httpapi"
	"tenantd/internal/store"
)

// BenchmarkBookingGet compares, in one run, the full guarded path of GET /api/bookings/{id}
// (edge, cookie signature, remembered verification re-validated against the tenant's
// authorization generation, permission, tenant-bound transaction under RLS, client-own rule)
// with bare handlers that run the same single-row query over a plain pool (a superuser, so no
// RLS) with no tenant machinery:
//
//   - bare-edge: a public route of the same server, so the same edge (request id, access log,
//     recovery, body limit) and JSON writing: the difference to guarded is what isolation costs;
//   - bare-mux: a ServeMux with nothing else at all.
//
// All are real HTTP over loopback against the same database, from the same in-process client
// with 8 concurrent keep-alive connections. One benchmark iteration is one round: a batch of
// 2,000 requests on each path, in an order that rotates from round to round, so that drift on
// a shared machine falls on all paths alike. It reports each path's wall time per request and
// the share of the bare paths' throughput that the guarded path keeps.
//
//	go test ./internal/httpapi -run '^$' -bench BookingGet -benchtime 30x
func BenchmarkBookingGet(b *testing.B) {
	e := newEnv(b)
	id := e.demo.Acme.Bookings[0]
	pcfg, err := pgxpool.ParseConfig(e.db.SuperURL + "&pool_max_conns=16")
	if err != nil {
		b.Fatal(err)
	}
	pcfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		store.RegisterTypes(conn.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	tenant := e.demo.Acme.ID
	bareQuery := func(ctx context.Context, raw string) (*store.Booking, error) {
		bid, err := uuid.Parse(raw)
		if err != nil {
			return nil, err
		}
		var v store.Booking // the same type, so the same JSON, as the guarded answer
		err = pool.QueryRow(ctx, `SELECT id, service_id, client_id, service_request_id, assignee_id, starts_at, ends_at, status, notes, created_at, updated_at
			FROM bookings WHERE tenant_id = $1 AND id = $2 AND ($3::uuid IS NULL OR client_id = $3)`, tenant, bid, (*uuid.UUID)(nil)).Scan(&v.ID, &v.ServiceID, &v.ClientID, &v.ServiceRequestID, &v.AssigneeID, &v.StartsAt, &v.EndsAt, &v.Status, &v.Notes, &v.CreatedAt, &v.UpdatedAt)
		return &v, err
	}
	bareRoute := httpapi.Route{Method: "GET", Pattern: "/bench/bare/bookings/{id}", Kind: httpapi.KindPublic, Summary: "benchmark only",
		Handler: func(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
			v, err := bareQuery(r.Context(), r.PathValue("id"))
			if err != nil {
				return err
			}
			w.Header().Set("Content-Type", "application/json")
			return json.NewEncoder(w).Encode(v)
		}}
	// Measure isolation, not the per-tenant rate limit.
	superExec(b, e, `UPDATE thresholds SET requests_per_minute = 100000000`)
	e.serve(b, httpapi.Config{TenantMaxRPM: 100000000, ExtraRoutes: []httpapi.Route{bareRoute}})
	owner := e.login("owner@acme.test", "")

	mux := http.NewServeMux()
	mux.HandleFunc("GET /bare/bookings/{id}", func(w http.ResponseWriter, r *http.Request) {
		v, err := bareQuery(r.Context(), r.PathValue("id"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	})
	bare := httptest.NewServer(mux)
	defer bare.Close()

	transport := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: transport}
	defer transport.CloseIdleConnections()

	// Every path gets the same request, signed-in owner's cookies included, so that reading
	// the request costs the same everywhere and only what is done with it differs.
	var cookie []string
	for _, c := range owner.cookies {
		cookie = append(cookie, c.Name+"="+c.Value)
	}
	cookieHeader := strings.Join(cookie, "; ")
	paths := []benchPath{
		{name: "guarded", url: e.srv.URL + "/api/bookings/" + id.String()},
		{name: "bare-edge", url: e.srv.URL + "/bench/bare/bookings/" + id.String()},
		{name: "bare-mux", url: bare.URL + "/bare/bookings/" + id.String()},
	}
	var cpu *cpuMeter // made after the warm-up, which opens the pools' connections
	const clients, perBatch = 8, 2000
	batch := func(p *benchPath) {
		var left atomic.Int64
		left.Store(perBatch)
		var wg sync.WaitGroup
		if cpu != nil {
			cpu.mark()
		}
		start := time.Now()
		for range clients {
			wg.Go(func() {
				for left.Add(-1) >= 0 {
					req, _ := http.NewRequest("GET", p.url, nil)
					req.Header["Cookie"] = []string{cookieHeader}
					res, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						b.Errorf("%s: status %d", p.name, res.StatusCode)
						return
					}
				}
			})
		}
		wg.Wait()
		p.elapsed += time.Since(start)
		if cpu != nil {
			all, pg := cpu.used()
			p.cpu += all
			p.pgCPU += pg
		}
		p.requests += perBatch
	}
	// Warm every path up (connections, prepared statements, caches) before measuring.
	for i := range paths {
		batch(&paths[i])
		paths[i].elapsed, paths[i].requests = 0, 0
	}
	cpu = newCPUMeter(b, e)
	b.ResetTimer()
	for round := 0; round < b.N; round++ {
		// Rotate the order so that no path always runs first or last.
		for k := range paths {
			batch(&paths[(round+k)%len(paths)])
		}
	}
	b.StopTimer()
	for _, p := range paths {
		b.ReportMetric(p.nsPerRequest(), p.name+"-ns/req")
		if cpu.ok {
			b.ReportMetric(float64(p.cpu.Nanoseconds())/float64(p.requests), p.name+"-cpu-ns/req")
			b.ReportMetric(float64(p.pgCPU.Nanoseconds())/float64(p.requests), p.name+"-pg-cpu-ns/req")
		}
	}
	// The throughput the guarded path keeps: by wall time, and by CPU time per request (what
	// bounds throughput on a saturated machine, and steadier when the machine is shared).
	b.ReportMetric(100*paths[1].nsPerRequest()/paths[0].nsPerRequest(), "%-of-bare-edge")
	b.ReportMetric(100*paths[2].nsPerRequest()/paths[0].nsPerRequest(), "%-of-bare-mux")
	if cpu.ok {
		b.ReportMetric(100*float64(paths[1].cpu)/float64(paths[1].requests)/(float64(paths[0].cpu)/float64(paths[0].requests)), "cpu-%-of-bare-edge")
		b.ReportMetric(100*float64(paths[2].cpu)/float64(paths[2].requests)/(float64(paths[0].cpu)/float64(paths[0].requests)), "cpu-%-of-bare-mux")
	}
}

// benchPath is one of the compared paths and the time its requests took.
type benchPath struct {
	name     string
	url      string
	elapsed  time.Duration
	cpu      time.Duration // CPU time of this process and of PostgreSQL
	pgCPU    time.Duration // CPU time of PostgreSQL alone
	requests int
}

func (p benchPath) nsPerRequest() float64 {
	return float64(p.elapsed.Nanoseconds()) / float64(p.requests)
}

// cpuMeter adds up the CPU time used by this process (client and servers) and by the
// PostgreSQL cluster's processes, read from /proc; on a saturated machine it is what limits
// throughput, and it is steadier than wall time when the machine is shared.
type cpuMeter struct {
	ok              bool
	pgPIDs          []int
	started, pgFrom time.Duration
}

func newCPUMeter(b *testing.B, e *env) *cpuMeter {
	m := &cpuMeter{}
	conn, err := pgx.Connect(context.Background(), e.db.SuperURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT pid FROM pg_stat_activity`)
	if err != nil {
		b.Fatal(err)
	}
	m.pgPIDs, err = pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		b.Fatal(err)
	}
	_, _, m.ok = m.now()
	return m
}

func (m *cpuMeter) mark() { m.started, m.pgFrom, _ = m.now() }

// used is the CPU time used since mark: in all, and by PostgreSQL.
func (m *cpuMeter) used() (all, pg time.Duration) {
	t, p, _ := m.now()
	return t - m.started, p - m.pgFrom
}

// now is the CPU time used so far by this process and the cluster's processes together, and
// by the cluster's processes alone.
func (m *cpuMeter) now() (total, pg time.Duration, ok bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, false
	}
	self := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	read := 0
	for _, pid := range m.pgPIDs {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // a process that has gone, or no /proc
		}
		read++
		// Fields after the parenthesised command name; utime and stime are the 14th and 15th.
		f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
		if len(f) < 13 {
			return 0, 0, false
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		pg += time.Duration(ut+st) * (time.Second / clockTicks)
	}
	return self + pg, pg, read > 0
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times on Linux.
const clockTicks = 100
