package adopt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"tenantd/internal/store"
	"tenantd/internal/store/catalog"
)

// StateSchema holds the toolkit's own bookkeeping in the adopted database: backfill runs and
// their checkpoints (so a killed run resumes where its last committed batch ended), the
// quarantine, and an audit trail. Nothing in it is granted to the application role: the
// quarantine holds rows of every tenant.
const StateSchema = "tenantd_adopt"

// adoptLockKey serialises backfill and harden runs on one database (a session advisory lock):
// hardening while a backfill still writes would race the NOT NULL gate.
const adoptLockKey int64 = 0x74656e616e7464

var stateDDL = []string{
	`CREATE SCHEMA IF NOT EXISTS tenantd_adopt`,
	`REVOKE ALL ON SCHEMA tenantd_adopt FROM PUBLIC`,
	`CREATE TABLE IF NOT EXISTS tenantd_adopt.backfill_runs (
	   id bigserial PRIMARY KEY,
	   map_digest text NOT NULL,
	   tables text[] NOT NULL,
	   status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'finished', 'abandoned')),
	   started_at timestamptz NOT NULL DEFAULT now(),
	   finished_at timestamptz)`,
	`CREATE TABLE IF NOT EXISTS tenantd_adopt.backfill_progress (
	   run_id bigint NOT NULL REFERENCES tenantd_adopt.backfill_runs (id) ON DELETE CASCADE,
	   table_name text NOT NULL,
	   last_key jsonb,
	   done boolean NOT NULL DEFAULT false,
	   scanned bigint NOT NULL DEFAULT 0,
	   resolved bigint NOT NULL DEFAULT 0,
	   conflicts bigint NOT NULL DEFAULT 0,
	   unresolved bigint NOT NULL DEFAULT 0,
	   duplicates bigint NOT NULL DEFAULT 0,
	   updated_at timestamptz NOT NULL DEFAULT now(),
	   PRIMARY KEY (run_id, table_name))`,
	`CREATE TABLE IF NOT EXISTS tenantd_adopt.quarantine (
	   table_schema text NOT NULL,
	   table_name text NOT NULL,
	   row_key jsonb NOT NULL,
	   run_id bigint,
	   reason text NOT NULL CHECK (reason IN ('unresolved', 'conflict', 'duplicate')),
	   detail text NOT NULL DEFAULT '',
	   candidates jsonb NOT NULL DEFAULT '{}',
	   row_data jsonb NOT NULL,
	   quarantined_at timestamptz NOT NULL DEFAULT now(),
	   PRIMARY KEY (table_schema, table_name, row_key))`,
	`CREATE TABLE IF NOT EXISTS tenantd_adopt.events (
	   id bigserial PRIMARY KEY,
	   at timestamptz NOT NULL DEFAULT now(),
	   actor text NOT NULL DEFAULT current_user,
	   action text NOT NULL,
	   detail jsonb NOT NULL DEFAULT '{}')`,
}

// connect opens one connection for a toolkit run. Custom plans are forced because each batch's
// best plan depends on its keyset bound; a generic plan could switch a cheap index range scan
// into a scan of the whole table.
func connect(ctx context.Context, url string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	cfg.RuntimeParams["application_name"] = "tenantd-adopt"
	cfg.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	// Batch statements are costed high but run in milliseconds; compiling them would cost
	// more than running them.
	cfg.RuntimeParams["jit"] = "off"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return conn, nil
}

// lockRun takes the toolkit's advisory lock for the session. A run that was just killed may
// still hold it for a moment (its server process ends asynchronously), so it waits a little
// before saying someone else is running.
func lockRun(ctx context.Context, conn *pgx.Conn) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, adoptLockKey).Scan(&ok); err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("another backfill or harden run holds this database; wait for it to finish")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func ensureState(ctx context.Context, conn *pgx.Conn) error {
	for _, s := range stateDDL {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("create %s: %w", StateSchema, err)
		}
	}
	return nil
}

func stateExists(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var ok bool
	err := conn.QueryRow(ctx, `SELECT to_regclass('tenantd_adopt.quarantine') IS NOT NULL`).Scan(&ok)
	return ok, err
}

// recordEvent writes the audit trail of privileged cross-tenant work: always into
// tenantd_adopt.events, and also into tenantd's platform_events when the database is
// tenantd's own.
func recordEvent(ctx context.Context, conn *pgx.Conn, snap *catalog.Snapshot, schema, action string, detail any) error {
	raw, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `INSERT INTO tenantd_adopt.events (action, detail) VALUES ($1, $2::jsonb)`, action, string(raw)); err != nil {
		return fmt.Errorf("record event: %w", err)
	}
	pe := snap.Table(catalog.Name{Schema: schema, Table: "platform_events"})
	if pe != nil && pe.Column("id") != nil && pe.Column("kind") != nil && pe.Column("actor") != nil && pe.Column("detail") != nil {
		q := `INSERT INTO ` + pe.Quoted() + ` (id, kind, actor, detail) VALUES ($1, $2, 'tenantd ' || current_user, $3::jsonb)`
		if _, err := conn.Exec(ctx, q, store.NewID(), action, string(raw)); err != nil {
			return fmt.Errorf("record platform event: %w", err)
		}
	}
	return nil
}

// retryable reports errors that a short transaction may simply try again: a lock it could not
// get within lock_timeout, a deadlock, or a serialization failure.
func retryable(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "55P03", "40P01", "40001":
			return true
		}
	}
	return false
}

func pgCode(err error) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code
	}
	return ""
}

// backoff sleeps before retry attempt n (1-based): exponential from 50ms, capped at 2s, with
// jitter so that retries do not line up with the writer that beat them.
func backoff(ctx context.Context, n int) error {
	d := 50 * time.Millisecond << min(n-1, 6)
	d = min(d, 2*time.Second)
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func rollback(tx pgx.Tx) {
	// A rollback after a failed or cancelled statement may itself fail; the connection is
	// then closed by pgx and the error adds nothing.
	_ = tx.Rollback(context.Background())
}
