package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A client that sends its request body slowly holds no database connection while it does:
// one tenant's slow writes, as many as the pool has connections, leave another tenant's
// requests unaffected.
func TestSlowBodiesHoldNoDatabaseConnection(t *testing.T) {
	e := newEnv(t)
	acmeClient := e.login("client@acme.test", "")
	globexOwner := e.login("owner@globex.test", "")
	var cookie []string
	for _, c := range acmeClient.cookies {
		cookie = append(cookie, c.Name+"="+c.Value)
	}
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	const slow = 20 // more than the store's 16 pooled connections
	conns := make([]net.Conn, 0, slow)
	for range slow {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "POST /api/portal/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\nCookie: %s\r\n\r\n{\"body\":",
			strings.Join(cookie, "; "))
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	time.Sleep(300 * time.Millisecond) // every slow request is in its handler by now

	// Another tenant's ordinary read and write answer while the bodies are still coming.
	for _, call := range []struct{ method, path string }{{"GET", "/api/admin/bookings"}, {"POST", "/api/admin/expenses"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var body *strings.Reader
		if call.method == "POST" {
			body = strings.NewReader(`{"description":"d","category":"c","amount_cents":1,"incurred_on":"2030-01-01"}`)
		} else {
			body = strings.NewReader("")
		}
		req, _ := http.NewRequestWithContext(ctx, call.method, e.srv.URL+call.path, body)
		req.Header.Set("Content-Type", "application/json")
		for _, k := range globexOwner.cookies {
			req.AddCookie(k)
		}
		res, err := http.DefaultClient.Do(req)
		cancel()
		if err != nil {
			t.Fatalf("%s %s while another tenant's bodies trickle in: %v", call.method, call.path, err)
		}
		res.Body.Close()
		if res.StatusCode >= 300 {
			t.Fatalf("%s %s: %d", call.method, call.path, res.StatusCode)
		}
	}
	// The slow requests themselves complete once their bodies have arrived.
	for _, c := range conns {
		fmt.Fprintf(c, "\"hi\"}%s", strings.Repeat(" ", 100-len(`{"body":"hi"}`)))
	}
	for _, c := range conns {
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("a slow chat message: %d", res.StatusCode)
		}
	}
}
