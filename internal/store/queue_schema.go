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

// jobBindRiverSQL keeps a tenant's transaction from queueing, changing or deleting jobs of
// another tenant (or of the platform): while a tenant is bound, every job row a statement
// inserts, updates or deletes must name that tenant in its arguments. River itself (fetching,
// completing, retrying, cleaning up) runs with no tenant bound and is not limited; a worker
// completing its job inside that job's tenant transaction is within the rule.
//
// It is a trigger, not row level security: on a table with row level security the planner may
// not consult the column statistics for River's non-leakproof filters (state = …), misjudges
// them, and every fetch reads the whole table. Reads stay open. It is applied after River's own
// migrations, which create the table, on every migrate run, and is not removed by migrate down.
const jobBindRiverSQL = `
DROP POLICY IF EXISTS river_job_bound ON river_job;
DROP POLICY IF EXISTS river_job_read ON river_job;
DROP POLICY IF EXISTS river_job_update ON river_job;
DROP POLICY IF EXISTS river_job_delete ON river_job;
DROP POLICY IF EXISTS river_job_insert_bound ON river_job;
ALTER TABLE river_job DISABLE ROW LEVEL SECURITY;
CREATE OR REPLACE FUNCTION app.river_job_bound() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  bound uuid := app.current_tenant();
BEGIN
  IF bound IS NULL THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  IF (TG_OP IN ('UPDATE', 'DELETE') AND OLD.args->>'tenant_id' IS DISTINCT FROM bound::text)
     OR (TG_OP IN ('INSERT', 'UPDATE') AND NEW.args->>'tenant_id' IS DISTINCT FROM bound::text) THEN
    RAISE EXCEPTION 'a job of another tenant, inside the transaction of tenant %', bound
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$fn$;
DROP TRIGGER IF EXISTS river_job_bound ON river_job;
CREATE TRIGGER river_job_bound BEFORE INSERT OR UPDATE OR DELETE ON river_job
  FOR EACH ROW EXECUTE FUNCTION app.river_job_bound()`

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
