package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrator applies the embedded schema migrations. It connects as the schema owner
// (MIGRATE_DATABASE_URL), never as the application role, and serialises concurrent runs with
// an advisory lock.
type Migrator struct {
	db       *sql.DB
	provider *goose.Provider
	ownerURL string    // for River's migrations, which need a pgx pool
	log      io.Writer // progress lines
}

// NewMigrator opens a migrator on ownerURL. Progress lines go to log (io.Discard for none).
func NewMigrator(ownerURL string, log io.Writer) (*Migrator, error) {
	cfg, err := pgx.ParseConfig(ownerURL)
	if err != nil {
		return nil, fmt.Errorf("parse migrate database url: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
		goose.WithVerbose(log != io.Discard && log != nil),
		goose.WithLogger(writerLogger{log}),
	)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Migrator{db: db, provider: p, ownerURL: ownerURL, log: log}, nil
}

type writerLogger struct{ w io.Writer }

func (l writerLogger) Printf(format string, v ...any) {
	if l.w != nil {
		fmt.Fprintf(l.w, format+"\n", v...)
	}
}
func (l writerLogger) Fatalf(format string, v ...any) { l.Printf(format, v...) }

// Close releases the migrator's connection.
func (m *Migrator) Close() error { return m.db.Close() }

// Up applies every pending migration, then River's (the background job tables, which are
// global and versioned by River itself) and the application role's grants on them.
func (m *Migrator) Up(ctx context.Context) error {
	if _, err := m.provider.Up(ctx); err != nil {
		return err
	}
	return jobMigrateRiver(ctx, m.ownerURL, m.log)
}

// Down rolls back the most recent of tenantd's own migrations; River's tables are left alone.
func (m *Migrator) Down(ctx context.Context) error {
	_, err := m.provider.Down(ctx)
	return err
}

// MigrationState is one line of `migrate status`.
type MigrationState struct {
	Version int64
	Name    string
	Applied bool
}

// Status lists every known migration and whether it is applied.
func (m *Migrator) Status(ctx context.Context) ([]MigrationState, error) {
	st, err := m.provider.Status(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]MigrationState, 0, len(st))
	for _, s := range st {
		out = append(out, MigrationState{Version: s.Source.Version, Name: s.Source.Path, Applied: s.State == goose.StateApplied})
	}
	return out, nil
}

// LatestVersion is the newest migration embedded in this binary.
func LatestVersion() int64 {
	entries, _ := fs.Glob(migrationFiles, "migrations/*.sql")
	var latest int64
	for _, e := range entries {
		var v int64
		if _, err := fmt.Sscanf(e, "migrations/%d_", &v); err == nil && v > latest {
			latest = v
		}
	}
	return latest
}

// SchemaCurrent reports whether the database has every migration this binary knows; /readyz
// uses it. It reads goose's version table, which the application role may not see; a failure to
// read counts as not current.
func (s *Store) SchemaCurrent(ctx context.Context) (bool, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&v)
	if err != nil {
		return false, err
	}
	return v >= LatestVersion(), nil
}
