package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"tenantd/internal/httpapi"
	"tenantd/internal/store"
)

// bareBooking mirrors the booking the API returns, for the bare handler.
type bareBooking struct {
	ID               uuid.UUID  `json:"id"`
	ServiceID        uuid.UUID  `json:"service_id"`
	ClientID         uuid.UUID  `json:"client_id"`
	ServiceRequestID *uuid.UUID `json:"service_request_id"`
	AssigneeID       *uuid.UUID `json:"assignee_id"`
	StartsAt         time.Time  `json:"starts_at"`
	EndsAt           time.Time  `json:"ends_at"`
	Status           string     `json:"status"`
	Notes            string     `json:"notes"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
}

// BenchmarkBookingGet compares, in one run, the full guarded path of GET /api/bookings/{id}
// (edge, cookie signature, verified session + membership + tenant status + host, permission,
// tenant-scoped transaction with RLS, client-own rule) with bare handlers that run the same
// single-row query over a plain pool (a superuser, so no RLS) with no tenant machinery:
//
//   - bare-edge: a public route of the same server, so the same edge (request id, access log,
//     recovery, body limit) and JSON writing: the difference to guarded is what isolation costs;
//   - bare-mux: a ServeMux with nothing else at all.
//
// All are real HTTP over loopback against the same database, from the same in-process client.
//
//	go test ./internal/httpapi -run '^$' -bench BookingGet -benchtime 60000x
func BenchmarkBookingGet(b *testing.B) {
	e := newEnv(b)
	id := e.demo.Acme.Bookings[0]
	pool, err := pgxpool.New(context.Background(), e.db.SuperURL+"&pool_max_conns=16")
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	bareQuery := func(ctx context.Context, raw string) (*bareBooking, error) {
		bid, err := uuid.Parse(raw)
		if err != nil {
			return nil, err
		}
		var v bareBooking
		err = pool.QueryRow(ctx, `SELECT id, service_id, client_id, service_request_id, assignee_id, starts_at, ends_at, status, notes, created_at, updated_at
			FROM bookings WHERE id = $1`, bid).Scan(&v.ID, &v.ServiceID, &v.ClientID, &v.ServiceRequestID, &v.AssigneeID, &v.StartsAt, &v.EndsAt, &v.Status, &v.Notes, &v.CreatedAt, &v.UpdatedAt)
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

	run := func(b *testing.B, url string, cookies bool) {
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequest("GET", url, nil)
				if cookies {
					for _, c := range owner.cookies {
						req.AddCookie(c)
					}
				}
				res, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Errorf("status %d", res.StatusCode)
					return
				}
			}
		})
	}
	b.Run("guarded", func(b *testing.B) { run(b, e.srv.URL+"/api/bookings/"+id.String(), true) })
	b.Run("bare-edge", func(b *testing.B) { run(b, e.srv.URL+"/bench/bare/bookings/"+id.String(), false) })
	b.Run("bare-mux", func(b *testing.B) { run(b, bare.URL+"/bare/bookings/"+id.String(), false) })
}
