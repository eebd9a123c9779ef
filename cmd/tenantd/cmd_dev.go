package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"tenantd/internal/pgcluster"
	"tenantd/internal/seed"
	"tenantd/internal/store"
)

func init() {
	register(command{name: "dev", summary: "zero-setup run: private PostgreSQL, migrations, demo data, server", run: runDev})
}

const devDatabase = "tenantd"

func runDev(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	data := fs.String("data", "./.tenantd", "data directory (PostgreSQL cluster, secret, files)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dataDir, err := filepath.Abs(*data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	appURL, ownerURL := os.Getenv("DATABASE_URL"), os.Getenv("MIGRATE_DATABASE_URL")
	if appURL == "" {
		cluster, err := pgcluster.New(filepath.Join(dataDir, "postgres"), false)
		if errors.Is(err, pgcluster.ErrNoBinaries) {
			return err
		} else if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		fmt.Fprintf(os.Stderr, "tenantd: starting PostgreSQL in %s (binaries: %s)\n", cluster.Dir, cluster.BinDir)
		if err := cluster.Init(); err != nil {
			return err
		}
		if err := cluster.Start(); err != nil {
			return err
		}
		defer func() {
			fmt.Fprintln(os.Stderr, "tenantd: stopping PostgreSQL")
			if err := cluster.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "tenantd:", err)
			}
		}()
		if err := store.Bootstrap(ctx, cluster.ConnString(pgcluster.Superuser, "postgres"), devDatabase); err != nil {
			return err
		}
		appURL = cluster.ConnString(store.AppRole, devDatabase)
		ownerURL = cluster.ConnString(store.OwnerRole, devDatabase)
	}
	if ownerURL != "" {
		m, err := store.NewMigrator(ownerURL, io.Discard)
		if err != nil {
			return err
		}
		err = m.Up(ctx)
		m.Close()
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	st, err := store.Open(ctx, appURL)
	if err != nil {
		return err
	}
	defer st.Close()
	storageDir := env("TENANTD_STORAGE_DIR", filepath.Join(dataDir, "files"))
	empty, err := st.Empty(ctx)
	if err != nil {
		return err
	}
	if empty {
		fmt.Fprintln(os.Stderr, "tenantd: seeding demo data")
		if _, err := seed.DemoWithFiles(ctx, st, storageDir); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	secret := os.Getenv("TENANTD_SECRET")
	if secret == "" {
		if secret, err = keptSecret(filepath.Join(dataDir, "secret")); err != nil {
			return err
		}
	}
	operator := os.Getenv("TENANTD_OPERATOR_TOKEN")
	if operator == "" {
		if operator, err = keptSecret(filepath.Join(dataDir, "operator-token")); err != nil {
			return err
		}
	}
	secure, err := secureCookies(false)
	if err != nil {
		return err
	}
	cfg := serverConfig{
		addr: *addr, databaseURL: appURL, secret: secret,
		previous: splitList(os.Getenv("TENANTD_SECRET_PREVIOUS")), operatorToken: operator,
		baseDomain: env("BASE_DOMAIN", "localhost"), secureCookies: secure,
		storageDir: storageDir,
	}
	return serveHTTP(ctx, cfg, st, func(a string) { printBanner(a, cfg) })
}

// keptSecret returns the secret stored at path, generating and storing one on first use.
func keptSecret(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	s := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", err
	}
	return s, nil
}

func printBanner(addr string, cfg serverConfig) {
	_, port, _ := strings.Cut(addr, ":")
	var b strings.Builder
	fmt.Fprintf(&b, "\ntenantd is running: http://%s\n", addr)
	fmt.Fprintf(&b, "  tenant hosts:   http://acme.%s:%s  http://globex.%s:%s\n", cfg.baseDomain, port, cfg.baseDomain, port)
	fmt.Fprintf(&b, "  operator token: %s\n", cfg.operatorToken)
	fmt.Fprintf(&b, "  demo logins (password %q):\n", seed.Password)
	for _, l := range seed.Logins {
		fmt.Fprintf(&b, "    %-22s %s\n", l.Email, l.Roles)
	}
	fmt.Fprintf(&b, "  try: curl -c /tmp/jar -H 'Content-Type: application/json' -d '{\"email\":\"owner@acme.test\",\"password\":\"%s\"}' http://%s/api/auth/login\n", seed.Password, addr)
	fmt.Fprintf(&b, "       curl -b /tmp/jar http://%s/api/bookings\n", addr)
	b.WriteString("Press Ctrl-C to stop.\n")
	fmt.Fprint(os.Stderr, b.String())
}
