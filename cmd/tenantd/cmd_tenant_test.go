package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"tenantd/internal/httpapi"
	"tenantd/internal/pgtest"
	"tenantd/internal/seed"
)

// Offboarding from the shell deletes a tenant only when asked in so many words: with nobody at
// a terminal to confirm (a script, cron, ssh without a terminal; go test's standard input is
// not one), it needs --yes and otherwise changes nothing.
func TestTenantOffboardNeedsYesWithoutATerminal(t *testing.T) {
	if tenantInteractive() {
		t.Skip("standard input is a terminal")
	}
	ctx := context.Background()
	st, _ := pgtest.Store(t)
	dir := t.TempDir()
	if _, err := seed.DemoWithFiles(ctx, st, dir); err != nil {
		t.Fatal(err)
	}
	l := httpapi.Lifecycle{Store: st, Actor: "cli", BaseDomain: "localhost", StorageDir: dir}
	cases := []struct {
		name    string
		args    []string
		wantErr string
		gone    bool
	}{
		{"without --yes", []string{"globex"}, "pass --yes", false},
		{"with --yes", []string{"--yes", "--out", filepath.Join(dir, "globex.tar.gz"), "globex"}, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tenantOffboard(ctx, l, tc.args)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			_, err = l.Tenant(ctx, "globex")
			if gone := err != nil; gone != tc.gone {
				t.Fatalf("tenant gone: %v (%v), want %v", gone, err, tc.gone)
			}
		})
	}
}
