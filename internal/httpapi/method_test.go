package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// A path the route table serves, asked with a method it does not serve, answers 405 with the
// methods it does serve in Allow (as a problem document), whoever asks and whatever its id
// names; a path the table does not serve at all is still the 404 of a missing object.
func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	booking := e.demo.Acme.Bookings[0].String()
	cases := []struct {
		name   string
		c      *client
		method string
		path   string
		status int
		allow  []string
	}{
		{"PATCH on an existing booking", owner, "PATCH", "/api/bookings/" + booking, http.StatusMethodNotAllowed, []string{"GET", "PUT", "DELETE"}},
		{"PATCH on a random booking id", owner, "PATCH", "/api/bookings/" + uuid.NewString(), http.StatusMethodNotAllowed, []string{"GET", "PUT", "DELETE"}},
		{"without credentials", e.anon(), "PATCH", "/api/bookings/" + booking, http.StatusMethodNotAllowed, []string{"GET", "PUT", "DELETE"}},
		{"DELETE on the booking list", owner, "DELETE", "/api/bookings", http.StatusMethodNotAllowed, []string{"GET", "POST"}},
		{"GET on login", e.anon(), "GET", "/api/auth/login", http.StatusMethodNotAllowed, []string{"POST"}},
		{"a path nothing serves", owner, "PATCH", "/api/no-such-thing", http.StatusNotFound, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.c.do(tc.method, tc.path, nil)
			if tc.status == http.StatusNotFound {
				mustStatus(t, r, http.StatusNotFound, "not_found")
				return
			}
			mustStatus(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
			allow := r.Header.Get("Allow")
			for _, m := range tc.allow {
				if !strings.Contains(allow, m) {
					t.Errorf("Allow %q lacks %s", allow, m)
				}
			}
			if strings.Contains(allow, tc.method) {
				t.Errorf("Allow %q names the refused method %s", allow, tc.method)
			}
		})
	}
}
