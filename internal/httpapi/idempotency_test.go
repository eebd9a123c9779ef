package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Idempotency keys are scoped to (tenant, user, key): a replay returns the first response, the
// same key with another body is refused, the same key in two tenants makes two objects, and
// concurrent duplicates make exactly one.
func TestIdempotencyKeys(t *testing.T) {
	e := newEnv(t)
	acme := e.login("owner@acme.test", "")
	globex := e.login("owner@globex.test", "")
	body := func(slug string) map[string]any {
		return map[string]any{"slug": slug, "name": "Payroll", "duration_minutes": 30, "price_cents": 1000, "currency": "USD"}
	}
	key := []string{"Idempotency-Key", "create-payroll-1"}

	first := acme.do("POST", "/api/admin/services", body("payroll"), key...)
	mustStatus(t, first, http.StatusCreated)
	replay := acme.do("POST", "/api/admin/services", body("payroll"), key...)
	mustStatus(t, replay, http.StatusCreated)
	if string(replay.Body) != string(first.Body) || replay.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay differs: %s vs %s", replay.Body, first.Body)
	}
	mustStatus(t, acme.do("POST", "/api/admin/services", body("payroll-2"), key...), http.StatusUnprocessableEntity, "idempotency_key_reused")

	// The same key in globex is globex's own: a second, independent object.
	other := globex.do("POST", "/api/admin/services", body("payroll"), key...)
	mustStatus(t, other, http.StatusCreated)
	var a, g struct {
		ID string `json:"id"`
	}
	first.decode(t, &a)
	other.decode(t, &g)
	if a.ID == "" || a.ID == g.ID {
		t.Fatalf("acme %q and globex %q share an object", a.ID, g.ID)
	}
	// Another user of acme with the same key is another caller, too.
	staff := e.login("staff@acme.test", "")
	mustStatus(t, staff.do("POST", "/api/bookings", map[string]any{
		"service_id": e.demo.Acme.Services[0], "client_id": e.demo.Acme.Client, "starts_at": time.Now().Add(96 * time.Hour),
	}, key...), http.StatusCreated)

	// 20 concurrent identical requests with one key: one booking.
	client := e.login("client@acme.test", "")
	before := countBookings(t, e)
	req := map[string]any{"service_id": e.demo.Acme.Services[0], "starts_at": rrFirstSlot(t, e, e.demo.Acme.Services[0], time.Now().Add(120*time.Hour)).StartsAt}
	var wg sync.WaitGroup
	ids := make([]string, 20)
	statuses := make([]int, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := client.do("POST", "/api/bookings", req, "Idempotency-Key", "book-once")
			statuses[i] = r.Status
			var b struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(r.Body, &b)
			ids[i] = b.ID
		}()
	}
	wg.Wait()
	for i := range 20 {
		if statuses[i] != http.StatusCreated || ids[i] != ids[0] || ids[0] == "" {
			t.Fatalf("request %d: %d %q (first %q)", i, statuses[i], ids[i], ids[0])
		}
	}
	if after := countBookings(t, e); after != before+1 {
		t.Fatalf("%d bookings created by 20 identical requests", after-before)
	}
}

func countBookings(t *testing.T, e *env) int {
	t.Helper()
	var n int
	contSQL(t, e, `SELECT count(*) FROM bookings`, nil, &n)
	return n
}

// A retried upload is the same request whatever multipart boundary the client picks this time
// (most pick a new one on every attempt): it replays the first answer, Location included, and
// stores one file. Different content under the same key is still a different request. A
// replayed post keeps its Location too.
func TestIdempotentRetriesOfUploadsAndLocations(t *testing.T) {
	e, dir := contEnv(t)
	staff := e.login("staff@acme.test", "")
	upload := func(boundary string, data []byte) *resp {
		ct, body := contMultipart(contPart{name: "file", filename: "notes.txt", data: data})
		return staff.do("POST", "/api/uploads", bytes.ReplaceAll(body, []byte(contBoundary), []byte(boundary)),
			"Content-Type", strings.ReplaceAll(ct, contBoundary, boundary), "Idempotency-Key", "upload-once")
	}
	before := len(contFiles(t, dir))
	first := upload("boundary-of-the-first-attempt", []byte("firm notes"))
	mustStatus(t, first, http.StatusCreated)
	cases := []struct {
		name     string
		boundary string
		data     []byte
		status   int
		code     string
	}{
		{"the same upload with the same boundary", "boundary-of-the-first-attempt", []byte("firm notes"), http.StatusCreated, ""},
		{"the same upload with a new boundary", "a-new-boundary-9f8e7d", []byte("firm notes"), http.StatusCreated, ""},
		{"other content under the same key", "a-new-boundary-9f8e7d", []byte("other notes"), http.StatusUnprocessableEntity, "idempotency_key_reused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := upload(tc.boundary, tc.data)
			mustStatus(t, r, tc.status, tc.code)
			if tc.status != http.StatusCreated {
				return
			}
			if r.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(r.Body, first.Body) {
				t.Fatalf("not a replay of the first answer: %s", r.Body)
			}
			if loc := r.Header.Get("Location"); loc == "" || loc != first.Header.Get("Location") {
				t.Fatalf("replayed Location %q, first %q", loc, first.Header.Get("Location"))
			}
		})
	}
	if n := len(contFiles(t, dir)) - before; n != 1 {
		t.Fatalf("%d files stored, want 1", n)
	}

	owner := e.login("owner@acme.test", "")
	post := map[string]any{"title": "Opening hours", "body": "We are open.", "slug": "opening-hours"}
	p1 := owner.do("POST", "/api/posts", post, "Idempotency-Key", "post-once")
	mustStatus(t, p1, http.StatusCreated)
	p2 := owner.do("POST", "/api/posts", post, "Idempotency-Key", "post-once")
	mustStatus(t, p2, http.StatusCreated)
	if p2.Header.Get("Idempotent-Replayed") != "true" || p2.Header.Get("Location") != p1.Header.Get("Location") || p1.Header.Get("Location") == "" {
		t.Fatalf("replayed post Location %q, first %q", p2.Header.Get("Location"), p1.Header.Get("Location"))
	}
}

// Two uploads under one Idempotency-Key whose parts read differently are different requests,
// even when their raw bytes differ only in a part's transfer encoding (the first stores "ABC",
// quoted-printable; the second the literal "=41=42=43") or in a file name the handler stores
// differently from its cleaned base name.
func TestIdempotentUploadsCompareWhatIsStored(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	body := func(encoding string) string {
		return "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n" + encoding +
			"\r\n=41=42=43\r\n--b--\r\n"
	}
	cases := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"first upload, quoted-printable: the file is ABC", body("Content-Transfer-Encoding: quoted-printable\r\n"), http.StatusCreated, ""},
		{"the same again: a replay", body("Content-Transfer-Encoding: quoted-printable\r\n"), http.StatusCreated, ""},
		{"same key, the literal =41=42=43", body(""), http.StatusUnprocessableEntity, "idempotency_key_reused"},
		{"same key and content, a file name stored differently (a.txt/ is stored as file)",
			strings.Replace(body("Content-Transfer-Encoding: quoted-printable\r\n"), `filename="a.txt"`, `filename="a.txt/"`, 1),
			http.StatusUnprocessableEntity, "idempotency_key_reused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := owner.do("POST", "/api/uploads", tc.body, "Content-Type", "multipart/form-data; boundary=b", "Idempotency-Key", "qp-once")
			mustStatus(t, r, tc.status, tc.code)
		})
	}
}
