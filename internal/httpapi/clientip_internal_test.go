package httpapi

import (
	"net/http"
	"testing"
)

// The per-IP limits count an IPv6 client by its /64, which one client usually holds whole,
// and an IPv4 client by its address; X-Forwarded-For, which anyone can write, plays no part.
func TestClientIPGroupsIPv6ByPrefix(t *testing.T) {
	cases := []struct {
		remote, forwarded, want string
	}{
		{"203.0.113.7:5000", "", "203.0.113.7"},
		{"203.0.113.7:5000", "198.51.100.1", "203.0.113.7"},
		{"[2001:db8:1:2::1]:5000", "", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff:ffff:ffff:ffff]:5000", "", "2001:db8:1:2::/64"},
		{"[2001:db8:1:3::1]:5000", "", "2001:db8:1:3::/64"},
		{"[::ffff:203.0.113.7]:5000", "", "203.0.113.7"},
	}
	for _, tc := range cases {
		r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
		if tc.forwarded != "" {
			r.Header.Set("X-Forwarded-For", tc.forwarded)
		}
		if got := clientIP(r); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.remote, got, tc.want)
		}
	}
}
