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
//   - bare-mux: a ServeMux with nothing else at all;
//   - bound-edge: the bare-edge route shape, but running the guarded path's database work (the
//     binding statement and the query, pipelined, as the application role under RLS) with none
//     of the tenant machinery in Go. It splits what isolation costs into the database's share
//     (bare-edge to bound-edge) and the Go wrapper's (bound-edge to guarded).
//
// All are real HTTP over loopback against the same database, from the same in-process client
// with 8 concurrent keep-alive connections. One benchmark iteration is one round: a batch of
// 2,000 requests on each path, in an order that rotates from round to round, so that drift on
// a shared machine falls on all paths alike. It reports each path's wall time and CPU time per
// request and the share of the bare paths' throughput that the guarded path keeps.
//
//	go test ./internal/httpapi -run '^$' -bench BookingGet -benchtime 15x -count 6
func BenchmarkBookingGet(b *testing.B) {
	e := newEnv(b)
	id := e.demo.Acme.Bookings[0]
	tenant := e.demo.Acme.ID
	superPool := benchPool(b, e.db.SuperURL)
	appPool := benchPool(b, e.db.AppURL)
	noClient := (*uuid.UUID)(nil)
	bareQuery := func(ctx context.Context, raw string) (*store.Booking, error) {
		bid, err := uuid.Parse(raw)
		if err != nil {
			return nil, err
		}
		var v store.Booking // the same type, so the same JSON, as the guarded answer
		err = scanBenchBooking(superPool.QueryRow(ctx, benchBookingSQL, tenant, bid, noClient), &v)
		return &v, err
	}
	// boundQuery is the guarded path's database work without its Go wrapper: the binding
	// statement (tenant setting, read-only, the tenant's status and generation) and the query,
	// in one pipeline, as the application role.
	boundQuery := func(ctx context.Context, raw string) (*store.Booking, error) {
		bid, err := uuid.Parse(raw)
		if err != nil {
			return nil, err
		}
		batch := &pgx.Batch{}
		batch.Queue(benchSetupSQL, tenant, "on")
		batch.Queue(benchBookingSQL, tenant, bid, noClient)
		br := appPool.SendBatch(ctx, batch)
		defer br.Close()
		var bound, readOnly, status string
		var gen int64
		if err := br.QueryRow().Scan(&bound, &readOnly, &status, &gen); err != nil {
			return nil, err
		}
		var v store.Booking
		err = scanBenchBooking(br.QueryRow(), &v)
		return &v, err
	}
	publicRoute := func(pattern string, query func(context.Context, string) (*store.Booking, error)) httpapi.Route {
		return httpapi.Route{Method: "GET", Pattern: pattern, Kind: httpapi.KindPublic, Summary: "benchmark only",
			Handler: func(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
				v, err := query(r.Context(), r.PathValue("id"))
				if err != nil {
					return err
				}
				w.Header().Set("Content-Type", "application/json")
				return json.NewEncoder(w).Encode(v)
			}}
	}
	// Measure isolation, not the per-tenant rate limit.
	superExec(b, e, `UPDATE thresholds SET requests_per_minute = 100000000`)
	e.serve(b, httpapi.Config{TenantMaxRPM: 100000000, ExtraRoutes: []httpapi.Route{
		publicRoute("/bench/bare/bookings/{id}", bareQuery),
		publicRoute("/bench/bound/bookings/{id}", boundQuery),
	}})
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
	get := func(name, url string) *benchPath {
		return &benchPath{name: name, do: func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			req.Header["Cookie"] = []string{cookieHeader}
			res, err := client.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", res.StatusCode)
			}
			return nil
		}}
	}
	paths := []*benchPath{
		get("guarded", e.srv.URL+"/api/bookings/"+id.String()),
		get("bare-edge", e.srv.URL+"/bench/bare/bookings/"+id.String()),
		get("bare-mux", bare.URL+"/bare/bookings/"+id.String()),
		get("bound-edge", e.srv.URL+"/bench/bound/bookings/"+id.String()),
	}
	cpuOK := runRounds(b, e, paths, 2000)
	guarded, bareEdge, bareMux, bound := paths[0], paths[1], paths[2], paths[3]
	// The throughput the guarded path keeps: by wall time, and by CPU time per request (what
	// bounds throughput on a saturated machine, and steadier when the machine is shared).
	b.ReportMetric(100*bareEdge.nsPerRequest()/guarded.nsPerRequest(), "%-of-bare-edge")
	b.ReportMetric(100*bareMux.nsPerRequest()/guarded.nsPerRequest(), "%-of-bare-mux")
	b.ReportMetric(100*bareEdge.nsPerRequest()/bound.nsPerRequest(), "bound-%-of-bare-edge")
	if cpuOK {
		b.ReportMetric(100*bareEdge.cpuPerRequest()/guarded.cpuPerRequest(), "cpu-%-of-bare-edge")
		b.ReportMetric(100*bareMux.cpuPerRequest()/guarded.cpuPerRequest(), "cpu-%-of-bare-mux")
		b.ReportMetric(100*bareEdge.cpuPerRequest()/bound.cpuPerRequest(), "bound-cpu-%-of-bare-edge")
	}
}

// BenchmarkReadStatements measures, without HTTP, what each part of a tenant-bound read costs
// the database and the client: the same single-row booking read, first bare (one statement as
// a superuser), then with a trivial second statement in the pipeline, with the tenant setting
// as that statement, as the application role under RLS, and finally with the binding
// statement tenantd sends (which also reads the tenant's status and generation). Each step
// adds one thing to the one before, so the differences between neighbours are what each thing
// costs. Rounds of 4,000 reads per step, 8 goroutines, rotating order.
//
//	go test ./internal/httpapi -run '^$' -bench ReadStatements -benchtime 10x -count 6
func BenchmarkReadStatements(b *testing.B) {
	e := newEnv(b)
	id, tenant := e.demo.Acme.Bookings[0], e.demo.Acme.ID
	superPool := benchPool(b, e.db.SuperURL)
	appPool := benchPool(b, e.db.AppURL)
	noClient := (*uuid.UUID)(nil)
	const bindSQL = `SELECT set_config('app.tenant_id', $1::uuid::text, true), set_config('transaction_read_only', $2, true)`
	pipelined := func(name string, pool *pgxpool.Pool, first string, args ...any) *benchPath {
		return &benchPath{name: name, do: func(ctx context.Context) error {
			batch := &pgx.Batch{}
			batch.Queue(first, args...)
			batch.Queue(benchBookingSQL, tenant, id, noClient)
			br := pool.SendBatch(ctx, batch)
			defer br.Close()
			if _, err := br.Exec(); err != nil {
				return err
			}
			var v store.Booking
			return scanBenchBooking(br.QueryRow(), &v)
		}}
	}
	paths := []*benchPath{
		{name: "1-bare", do: func(ctx context.Context) error {
			var v store.Booking
			return scanBenchBooking(superPool.QueryRow(ctx, benchBookingSQL, tenant, id, noClient), &v)
		}},
		pipelined("2-plus-select-1", superPool, `SELECT 1`),
		pipelined("3-plus-set-config", superPool, bindSQL, tenant, "on"),
		pipelined("4-under-rls", appPool, bindSQL, tenant, "on"),
		pipelined("5-tenantd-binding", appPool, benchSetupSQL, tenant, "on"),
	}
	if runRounds(b, e, paths, 4000) {
		for i := 1; i < len(paths); i++ {
			b.ReportMetric(paths[i].cpuPerRequest()-paths[i-1].cpuPerRequest(), paths[i].name+"-adds-cpu-ns")
			b.ReportMetric(paths[i].pgCPUPerRequest()-paths[i-1].pgCPUPerRequest(), paths[i].name+"-adds-pg-cpu-ns")
		}
	}
}

// benchBookingSQL is the guarded path's booking query, word for word.
const benchBookingSQL = `SELECT id, service_id, client_id, service_request_id, assignee_id, starts_at, ends_at, status, notes, created_at, updated_at
	FROM bookings WHERE tenant_id = $1 AND id = $2 AND ($3::uuid IS NULL OR client_id = $3)`

// benchSetupSQL is the statement a read scope pipelines ahead of its query when it trusts a
// remembered verification (store's setupSQL).
const benchSetupSQL = `SELECT set_config('app.tenant_id', $1::uuid::text, true), set_config('transaction_read_only', $2, true), status, auth_gen
FROM tenants WHERE id = $1`

func scanBenchBooking(row pgx.Row, v *store.Booking) error {
	return row.Scan(&v.ID, &v.ServiceID, &v.ClientID, &v.ServiceRequestID, &v.AssigneeID, &v.StartsAt, &v.EndsAt, &v.Status, &v.Notes, &v.CreatedAt, &v.UpdatedAt)
}

// benchPool opens a plain pool with the store's codecs, closed when the benchmark ends.
func benchPool(b *testing.B, url string) *pgxpool.Pool {
	cfg, err := pgxpool.ParseConfig(url + "&pool_max_conns=16")
	if err != nil {
		b.Fatal(err)
	}
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		store.RegisterTypes(conn.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool
}

// benchPath is one of the compared paths, what one call of it does, and the time its calls
// took.
type benchPath struct {
	name     string
	do       func(ctx context.Context) error
	elapsed  time.Duration
	cpu      time.Duration // CPU time of this process and of PostgreSQL
	pgCPU    time.Duration // CPU time of PostgreSQL alone
	requests int
}

func (p *benchPath) nsPerRequest() float64 {
	return float64(p.elapsed.Nanoseconds()) / float64(p.requests)
}

func (p *benchPath) cpuPerRequest() float64 {
	return float64(p.cpu.Nanoseconds()) / float64(p.requests)
}

func (p *benchPath) pgCPUPerRequest() float64 {
	return float64(p.pgCPU.Nanoseconds()) / float64(p.requests)
}

// runRounds runs b.N rounds of perRound calls on each path from 8 goroutines, rotating the
// order of the paths from round to round, after one unmeasured warm-up round (connections,
// prepared statements, caches). It reports each path's wall and CPU time per call and says
// whether CPU time could be read.
func runRounds(b *testing.B, e *env, paths []*benchPath, perRound int) bool {
	const goroutines = 8
	var cpu *cpuMeter // made after the warm-up, which opens the pools' connections
	round := func(p *benchPath) {
		var left atomic.Int64
		left.Store(int64(perRound))
		var wg sync.WaitGroup
		if cpu != nil {
			cpu.mark()
		}
		start := time.Now()
		for range goroutines {
			wg.Go(func() {
				for left.Add(-1) >= 0 {
					if err := p.do(context.Background()); err != nil {
						b.Errorf("%s: %v", p.name, err)
						return
					}
				}
			})
		}
		wg.Wait()
		if cpu == nil {
			return
		}
		p.elapsed += time.Since(start)
		all, pg := cpu.used()
		p.cpu += all
		p.pgCPU += pg
		p.requests += perRound
	}
	for _, p := range paths {
		round(p)
	}
	cpu = newCPUMeter(b, e)
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for k := range paths {
			round(paths[(n+k)%len(paths)])
		}
	}
	b.StopTimer()
	for _, p := range paths {
		b.ReportMetric(p.nsPerRequest(), p.name+"-ns/req")
		if cpu.ok {
			b.ReportMetric(p.cpuPerRequest(), p.name+"-cpu-ns/req")
			b.ReportMetric(p.pgCPUPerRequest(), p.name+"-pg-cpu-ns/req")
		}
	}
	return cpu.ok
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
