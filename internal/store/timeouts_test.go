package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tenantd/internal/store"
)

// openWith opens a second store on the fixture's database as the application role, with extra
// connection settings in its URL.
func openWith(t *testing.T, f *fixture, params string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), f.db.AppURL+params)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// lockService holds a row lock on one of acme's services, as another transaction would, until
// the test ends or release is called.
func lockService(t *testing.T, f *fixture, id string) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.db.SuperURL)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM services WHERE id = $1 FOR UPDATE`, id); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			_ = tx.Rollback(ctx)
			_ = conn.Close(ctx)
		}
	}
	t.Cleanup(release)
	return release
}

// The application role's connections carry a statement timeout and an idle-in-transaction
// timeout, so that neither a statement stuck behind a lock nor a transaction abandoned between
// statements holds a pooled connection (and its locks) for ever; the URL may set other values.
func TestConnectionTimeouts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	acme := f.demo.Acme.ID
	svc := f.demo.Acme.Services[0]

	t.Run("a statement stuck behind a lock is stopped and changes nothing", func(t *testing.T) {
		st := openWith(t, f, "&statement_timeout=100ms")
		lockService(t, f, svc.String())
		sc := st.TrustedScope(acme, false)
		if err := sc.Begin(ctx); err != nil {
			t.Fatal(err)
		}
		in := store.ServiceInput{Slug: "timed-out", Name: "Timed out", DurationMinutes: 30, Currency: "USD", Active: true}
		_, err := sc.UpdateService(ctx, svc, in)
		if !errors.Is(err, store.ErrTimeout) {
			t.Fatalf("update behind a lock: %v, want ErrTimeout", err)
		}
		if err := sc.End(ctx, true); err == nil {
			t.Fatal("the timed-out transaction committed")
		}
		var slug string
		if err := f.super.QueryRow(ctx, `SELECT slug FROM services WHERE id = $1`, svc).Scan(&slug); err != nil {
			t.Fatal(err)
		}
		if slug == "timed-out" {
			t.Fatal("the stopped update was kept")
		}
		assertPoolClean(t, st)
	})

	t.Run("a transaction left idle is ended and keeps nothing", func(t *testing.T) {
		st := openWith(t, f, "&idle_in_transaction_session_timeout=100ms")
		sc := st.TrustedScope(acme, false)
		if err := sc.Begin(ctx); err != nil {
			t.Fatal(err)
		}
		in := store.ServiceInput{Slug: "left-idle", Name: "Left idle", DurationMinutes: 30, Currency: "USD", Active: true}
		if _, err := sc.CreateService(ctx, in); err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * time.Millisecond)
		if _, err := sc.CreateService(ctx, store.ServiceInput{Slug: "left-idle-2", Name: "Left idle 2", DurationMinutes: 30, Currency: "USD", Active: true}); err == nil {
			t.Fatal("a statement ran in a transaction the server had ended")
		}
		if err := sc.End(ctx, true); err == nil {
			t.Fatal("the ended transaction committed")
		}
		var n int
		if err := f.super.QueryRow(ctx, `SELECT count(*) FROM services WHERE slug LIKE 'left-idle%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("%d services of the ended transaction were kept", n)
		}
		assertPoolClean(t, st)
	})

	t.Run("offboarding lifts the timeouts for its own transaction", func(t *testing.T) {
		st := openWith(t, f, "&statement_timeout=100ms&idle_in_transaction_session_timeout=100ms")
		release := lockService(t, f, svc.String())
		go func() {
			time.Sleep(500 * time.Millisecond)
			release()
		}()
		dir := t.TempDir()
		cert, err := st.Platform("test").OffboardTenant(ctx, acme, dir, filepath.Join(dir, "acme.tar.gz"))
		if err != nil {
			t.Fatalf("offboarding waited for a lock longer than the statement timeout and failed: %v", err)
		}
		if cert == nil {
			t.Fatal("no deletion certificate")
		}
		var n int
		if err := f.super.QueryRow(ctx, `SELECT count(*) FROM services WHERE tenant_id = $1`, acme).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("%d services of the offboarded tenant are left", n)
		}
	})
}

// assertPoolClean checks that the store still answers and that its connections carry no
// tenant after a failure.
func assertPoolClean(t *testing.T, st *store.Store) {
	t.Helper()
	for range 4 {
		tenant, user, err := st.PoolSettings(context.Background())
		if err != nil {
			t.Fatalf("the store no longer answers: %v", err)
		}
		if tenant != "" || user != "" {
			t.Fatalf("a pooled connection carries tenant %q, user %q", tenant, user)
		}
	}
}
