package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"tenantd/internal/httpapi"
	"tenantd/internal/obs"
	"tenantd/internal/store"
	"tenantd/internal/store/queue"
	"tenantd/internal/tenancy"
)

// serverConfig is everything `serve` and `dev` share.
type serverConfig struct {
	addr          string
	databaseURL   string
	secret        string
	previous      []string
	operatorToken string
	baseDomain    string
	secureCookies bool
	storageDir    string
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// serveHTTP runs the API until ctx ends, then drains in-flight requests.
func serveHTTP(ctx context.Context, cfg serverConfig, st *store.Store, ready func(addr string)) error {
	keyring, err := tenancy.NewKeyring(cfg.secret, cfg.previous)
	if err != nil {
		return fmt.Errorf("TENANTD_SECRET: %w", err)
	}
	if err := os.MkdirAll(cfg.storageDir, 0o700); err != nil {
		return fmt.Errorf("storage dir: %w", err)
	}
	logger := obs.NewLogger(os.Stderr, slog.LevelInfo)
	reporter, err := obs.NewReporter(os.Getenv("SENTRY_DSN"), os.Getenv("TENANTD_ENVIRONMENT"))
	if err != nil {
		return err
	}
	defer reporter.Flush(2 * time.Second)
	metrics := obs.NewMetrics()
	api := httpapi.New(st, httpapi.Config{
		BaseDomain: cfg.baseDomain, SecureCookies: cfg.secureCookies, Keyring: keyring,
		OperatorToken: cfg.operatorToken, StorageDir: cfg.storageDir, Logger: logger,
		Metrics: metrics, Reporter: reporter,
	})
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	jobs, err := queue.Start(ctx, st, queue.Config{DatabaseURL: cfg.databaseURL, Logger: logger, Outcome: metrics.Job, StorageDir: cfg.storageDir})
	if err != nil {
		ln.Close()
		return fmt.Errorf("background jobs: %w", err)
	}
	// Deferred, so it runs after the HTTP server below has shut down: requests still in flight
	// may enqueue jobs until then.
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := jobs.Stop(stopCtx); err != nil {
			logger.Error("stop background jobs", "err", err)
		}
	}()
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		WriteTimeout: 120 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
