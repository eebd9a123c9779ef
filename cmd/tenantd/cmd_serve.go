package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"tenantd/internal/store"
	"tenantd/internal/tenancy"
)

func init() {
	register(command{name: "serve", summary: "run the production server (DATABASE_URL, TENANTD_SECRET)", run: runServe})
}

func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", env("TENANTD_ADDR", ":8080"), "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := serverConfig{
		addr:          *addr,
		databaseURL:   os.Getenv("DATABASE_URL"),
		secret:        os.Getenv("TENANTD_SECRET"),
		previous:      splitList(os.Getenv("TENANTD_SECRET_PREVIOUS")),
		operatorToken: os.Getenv("TENANTD_OPERATOR_TOKEN"),
		baseDomain:    env("BASE_DOMAIN", "localhost"),
		secureCookies: true,
		storageDir:    env("TENANTD_STORAGE_DIR", "./storage"),
	}
	var err error
	if cfg.secureCookies, err = secureCookies(true); err != nil {
		return err
	}
	if cfg.databaseURL == "" {
		return errors.New("DATABASE_URL is required (the application role's connection URL)")
	}
	if len(strings.TrimSpace(cfg.secret)) < tenancy.MinSecretLen {
		return fmt.Errorf("TENANTD_SECRET is missing or shorter than %d bytes (blanks aside); refusing to start", tenancy.MinSecretLen)
	}
	if cfg.operatorToken != "" && len(cfg.operatorToken) < 32 {
		return errors.New("TENANTD_OPERATOR_TOKEN must be at least 32 characters")
	}
	st, err := store.Open(ctx, cfg.databaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	return serveHTTP(ctx, cfg, st, func(a string) { fmt.Fprintf(os.Stderr, "tenantd: serving on %s\n", a) })
}

// secureCookies reads TENANTD_SECURE_COOKIES the same way for every command (strconv.ParseBool:
// 1, t, true, 0, f, false...), with def when it is unset; anything else is an error, not a
// silent default.
func secureCookies(def bool) (bool, error) {
	v := os.Getenv("TENANTD_SECURE_COOKIES")
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("TENANTD_SECURE_COOKIES: %w", err)
	}
	return b, nil
}
