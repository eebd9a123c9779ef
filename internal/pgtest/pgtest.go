// Package pgtest gives tests a real PostgreSQL: one private cluster per test process, started on
// first use from the machine's PostgreSQL binaries, a template database migrated once, and a
// fresh clone of that template per test (milliseconds, not seconds). Tests connect as the
// application role, so row level security is exactly what production sees.
//
// Packages that use it must call Main from TestMain so the cluster is stopped at the end.
package pgtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"tenantd/internal/pgcluster"
	"tenantd/internal/store"
)

const templateName = "tenantd_template"

var (
	once       sync.Once
	cluster    *pgcluster.Cluster
	clusterDir string
	setupErr   error
	counter    atomic.Int64
)

// Main runs the tests and then stops the cluster, if one was started. Use it as
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	if cluster != nil {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
		os.RemoveAll(clusterDir)
	}
	return code
}

// reapOrphans stops and removes the clusters of earlier test processes that died without
// reaching Main's cleanup (killed by a timeout, say), so that they do not run on forever.
func reapOrphans() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "tenantd-pgtest-*-*"))
	for _, d := range dirs {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(d), "tenantd-pgtest-%d-", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == nil {
			continue // its process still runs
		}
		if c, err := pgcluster.New(d, true); err == nil {
			_ = c.Stop()
		}
		_ = os.RemoveAll(d)
	}
}

func setup() {
	reapOrphans()
	dir, err := os.MkdirTemp("", fmt.Sprintf("tenantd-pgtest-%d-", os.Getpid()))
	if err != nil {
		setupErr = err
		return
	}
	clusterDir = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		setupErr = err
		return
	}
	c, err := pgcluster.New(dir, true)
	if err != nil {
		setupErr = err
		return
	}
	if err := c.Init(); err != nil {
		setupErr = err
		return
	}
	if err := c.Start(); err != nil {
		setupErr = err
		return
	}
	cluster = c
	ctx := context.Background()
	super := c.ConnString(pgcluster.Superuser, "postgres")
	if err := store.Bootstrap(ctx, super, templateName); err != nil {
		setupErr = err
		return
	}
	m, err := store.NewMigrator(c.ConnString(store.OwnerRole, templateName), io.Discard)
	if err != nil {
		setupErr = err
		return
	}
	defer m.Close()
	setupErr = m.Up(ctx)
}

// DB is one test's private database.
type DB struct {
	Name     string
	AppURL   string // the application role: no ownership, no BYPASSRLS
	OwnerURL string // the schema owner, for migrations and fixtures
	SuperURL string // the cluster superuser, for assertions about the catalog only
}

// New returns a fresh migrated database that is dropped when t ends.
func New(t testing.TB) *DB {
	t.Helper()
	once.Do(setup)
	if setupErr != nil {
		t.Fatalf("pgtest: %v", setupErr)
	}
	name := fmt.Sprintf("t_%d_%d", os.Getpid(), counter.Add(1))
	super := cluster.ConnString(pgcluster.Superuser, "postgres")
	ctx := context.Background()
	if err := store.CloneDatabase(ctx, super, templateName, name); err != nil {
		t.Fatalf("pgtest: clone template: %v", err)
	}
	t.Cleanup(func() {
		if err := store.DropDatabase(context.Background(), super, name); err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
		}
	})
	return &DB{
		Name:     name,
		AppURL:   cluster.ConnString(store.AppRole, name),
		OwnerURL: cluster.ConnString(store.OwnerRole, name),
		SuperURL: cluster.ConnString(pgcluster.Superuser, name),
	}
}

// Store opens the application-role store on a fresh database and closes it when t ends.
func Store(t testing.TB) (*store.Store, *DB) {
	t.Helper()
	db := New(t)
	s, err := store.Open(context.Background(), db.AppURL)
	if err != nil {
		t.Fatalf("pgtest: open store: %v", err)
	}
	t.Cleanup(s.Close)
	return s, db
}
