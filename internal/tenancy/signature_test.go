package tenancy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func testClaims(now time.Time) Claims {
	return Claims{TenantID: uuid.New(), UserID: uuid.New(), SessionID: uuid.New(), IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix()}
}

func TestSignVerify(t *testing.T) {
	now := time.Now()
	k, err := NewKeyring(strings.Repeat("a", 32), []string{strings.Repeat("b", 32)})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := NewKeyring(strings.Repeat("b", 32), nil)
	other, _ := NewKeyring(strings.Repeat("c", 32), nil)
	c := testClaims(now)
	good := k.Sign(c)
	expired := c
	expired.ExpiresAt = now.Add(-time.Second).Unix()
	cases := []struct {
		name  string
		value string
		want  error
	}{
		{"current key", good, nil},
		{"previous key", old.Sign(c), nil},
		{"unknown key", other.Sign(c), ErrUnknownKey},
		{"expired", k.Sign(expired), ErrExpired},
		{"empty", "", ErrMalformed},
		{"no dot", strings.ReplaceAll(good, ".", ""), ErrMalformed},
		{"truncated", good[:len(good)-1], ErrMalformed},
		{"extended", good + "A", ErrMalformed},
		{"huge", strings.Repeat("A", 5000) + "." + strings.Repeat("B", 5000), ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := k.Verify(tc.value, now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && (got.TenantID != c.TenantID || got.UserID != c.UserID || got.SessionID != c.SessionID) {
				t.Fatalf("claims changed: %+v", got)
			}
		})
	}
	// Flipping any single character of a valid value invalidates it.
	for i := range good {
		if good[i] == '.' {
			continue
		}
		b := []byte(good)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		if _, err := k.Verify(string(b), now); err == nil {
			t.Fatalf("tampered at %d still verifies", i)
		}
	}
}

func TestRefusesShortSecrets(t *testing.T) {
	if _, err := NewKeyring("short", nil); err == nil {
		t.Fatal("short secret accepted")
	}
	if _, err := NewKeyring(strings.Repeat(" ", 36), nil); err == nil {
		t.Fatal("a secret of blanks accepted")
	}
	if _, err := NewKeyring(" "+strings.Repeat("a", 32)+"\n", nil); err != nil {
		t.Fatalf("a long secret with surrounding blanks refused: %v", err)
	}
	if _, err := NewKeyring(strings.Repeat("a", 32), []string{"short"}); err == nil {
		t.Fatal("short previous secret accepted")
	}
}

func TestParseHost(t *testing.T) {
	cases := []struct {
		in   string
		want Host
	}{
		{"localhost", Host{Apex: true}},
		{"localhost:8080", Host{Apex: true}},
		{"127.0.0.1:8080", Host{Apex: true}},
		{"[::1]:8080", Host{Apex: true}},
		{"example.com", Host{Apex: true}},
		{"acme.example.com", Host{Slug: "acme"}},
		{"ACME.Example.com.", Host{Slug: "acme"}},
		{"a.b.example.com", Host{Domain: "a.b.example.com"}},
		{"-bad.example.com", Host{Domain: "-bad.example.com"}},
		{"portal.acme-advisory.com", Host{Domain: "portal.acme-advisory.com"}},
	}
	for _, c := range cases {
		if got := ParseHost(c.in, "example.com"); got != c.want {
			t.Errorf("ParseHost(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	k, _ := NewKeyring(strings.Repeat("a", 32), nil)
	f.Add(k.Sign(testClaims(time.Now())))
	f.Add("x.y")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = k.Verify(s, time.Now())
	})
}
