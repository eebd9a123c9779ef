package main

import (
	"context"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tenantd/internal/httpapi"
	"tenantd/internal/tenancy"
)

// webhook-key prints the key the server checks payment webhooks against: derived from
// TENANTD_SECRET, or from the secret dev keeps in its data directory when that is unset.
func TestWebhookKeyIsTheServersKey(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef-webhook"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kr, err := tenancy.NewKeyring(secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := hex.EncodeToString(kr.Derive(httpapi.WebhookPurpose))
	cases := []struct {
		name    string
		env     string
		args    []string
		wantErr bool
	}{
		{"from TENANTD_SECRET", secret, nil, false},
		{"from dev's kept secret", "", []string{"--data", dir}, false},
		{"no secret anywhere", "", []string{"--data", t.TempDir()}, true},
		{"a short secret", "short", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TENANTD_SECRET", tc.env)
			out, err := captureStdout(t, func() error { return runWebhookKey(context.Background(), tc.args) })
			if tc.wantErr {
				if err == nil {
					t.Fatalf("printed %q, want an error", out)
				}
				return
			}
			if err != nil || strings.TrimSpace(out) != want {
				t.Fatalf("printed %q (%v), want %s", out, err, want)
			}
		})
	}
}

func captureStdout(t *testing.T, f func() error) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	ferr := f()
	os.Stdout = saved
	w.Close()
	b, _ := io.ReadAll(r)
	return string(b), ferr
}
