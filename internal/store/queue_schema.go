package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// jobMigrateLockKey serialises concurrent River migrations (two servers starting at once).
const jobMigrateLockKey = int64(0x74656e616e746400) // "tenantd\0"

// jobMigrateRiver brings River's job tables up to the version this binary was built with and
// grants the application role what the workers need on them. River's tables are global: they
// hold no tenant_id column (the tenant travels inside each job's arguments), so the schema audit
// does not treat them as tenant-owned, and the application role gets no TRUNCATE or REFERENCES
// on them either. It runs as the schema owner, after tenantd's own migrations.
func jobMigrateRiver(ctx context.Context, ownerURL string, log io.Writer) error {
	cfg, err := pgxpool.ParseConfig(ownerURL)
	if err != nil {
		return fmt.Errorf("parse migrate database url: %w", err)
	}
	// One connection holds the lock, the other runs River's migrations.
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	lock, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer lock.Release()
	if _, err := lock.Exec(ctx, `SELECT pg_advisory_lock($1)`, jobMigrateLockKey); err != nil {
		return fmt.Errorf("lock river migrations: %w", err)
	}
	defer func() {
		_, _ = lock.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, jobMigrateLockKey)
	}()

	if log == nil {
		log = io.Discard
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	for _, v := range res.Versions {
		fmt.Fprintf(log, "river: applied migration %03d %s\n", v.Version, v.Name)
	}
	if err := jobGrantRiver(ctx, lock.Conn()); err != nil {
		return err
	}
	return jobBindRiver(ctx, lock.Conn())
}

// jobBindRiverSQL keeps River's jobs out of reach of other tenants' transactions. River itself
// (fetching, completing, retrying, cleaning up) runs with no tenant bound and sees every job;
// a transaction bound to a tenant sees, changes and inserts only jobs whose arguments name that
// tenant. Without it, any tenant's transaction could read other tenants' job arguments and
// outputs (export bundle paths, deletion certificates) or queue work in their name. It is
// applied after River's own migrations, which create the table, and again on every run.
const jobBindRiverSQL = `
ALTER TABLE river_job ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS river_job_bound ON river_job;
CREATE POLICY river_job_bound ON river_job
  USING ((SELECT app.current_tenant()) IS NULL OR args->>'tenant_id' = (SELECT app.current_tenant())::text)
  WITH CHECK ((SELECT app.current_tenant()) IS NULL OR args->>'tenant_id' = (SELECT app.current_tenant())::text)`

func jobBindRiver(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, jobBindRiverSQL); err != nil {
		return fmt.Errorf("bind river jobs to tenants: %w", err)
	}
	return nil
}

// jobGrantRiver grants the application role reading and writing River's tables and using
// their sequences; the migration record is read-only to it. Every River table is covered,
// including ones a later River version adds.
func jobGrantRiver(ctx context.Context, conn *pgx.Conn) error {
	rows, err := conn.Query(ctx, `SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relname LIKE 'river\_%' AND c.relkind IN ('r', 'p', 'S')
		ORDER BY c.relname`)
	if err != nil {
		return err
	}
	type rel struct {
		name string
		kind string
	}
	var rels []rel
	for rows.Next() {
		var r rel
		if err := rows.Scan(&r.name, &r.kind); err != nil {
			rows.Close()
			return err
		}
		rels = append(rels, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	role := pgx.Identifier{AppRole}.Sanitize()
	for _, r := range rels {
		name := pgx.Identifier{r.name}.Sanitize()
		var stmt string
		switch {
		case r.kind == "S":
			stmt = `GRANT USAGE, SELECT ON SEQUENCE ` + name + ` TO ` + role
		case r.name == "river_migration":
			stmt = `GRANT SELECT ON TABLE ` + name + ` TO ` + role
		default:
			stmt = `GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE ` + name + ` TO ` + role
		}
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("grant %s: %w", r.name, err)
		}
	}
	return nil
}
