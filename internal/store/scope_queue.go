package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// TenantJobArgs are the arguments of a background job that belongs to one tenant. The tenant
// travels with the stored arguments, so that every run of the job, retries included, works in
// the scope of the tenant that caused it and of no other.
type TenantJobArgs interface {
	river.JobArgs
	// JobTenantID is the tenant the job runs for.
	JobTenantID() uuid.UUID
}

// jobInserter inserts jobs inside transactions that the store owns. It is River's insert-only
// client: it holds no pool and works no jobs, so it can live beside every Store.
var jobInserter = sync.OnceValues(func() (*river.Client[pgx.Tx], error) {
	// Its only log lines are failed insert notifications; stdout belongs to the CLI's output.
	return river.NewClient(riverpgxv5.New(nil), &river.Config{
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
})

// Enqueue inserts a background job in the scope's open write transaction: the job becomes
// visible to the workers only if that transaction commits, so a request that fails and rolls
// back leaves no job behind. The job must name this scope's tenant; a job for another tenant
// (or for none) is refused, so a request can never schedule work in a tenant it was not
// verified for. It returns the job's id.
func (sc *Scope) Enqueue(ctx context.Context, args TenantJobArgs) (int64, error) {
	if sc.denied != nil {
		return 0, sc.denied
	}
	if sc.conn == nil {
		return 0, errors.New("store: enqueue outside a write transaction")
	}
	if t := args.JobTenantID(); t != sc.TenantID() {
		return 0, fmt.Errorf("store: job %s names tenant %s inside the scope of tenant %s", args.Kind(), t, sc.TenantID())
	}
	client, err := jobInserter()
	if err != nil {
		return 0, err
	}
	res, err := client.InsertTx(ctx, &jobTx{conn: sc.conn.Conn()}, args, nil)
	if err != nil {
		return 0, fmt.Errorf("enqueue %s: %w", args.Kind(), translate(err))
	}
	return res.Job.ID, nil
}

// CompleteJob marks a running job completed inside the scope's open write transaction, so
// that the job's effects and its completion commit together: a crash between the two can
// neither lose the work nor make it run twice. It must be called from inside the job's worker.
func CompleteJob[T river.JobArgs](ctx context.Context, sc *Scope, job *river.Job[T]) error {
	if sc.conn == nil {
		return errors.New("store: job completion outside a write transaction")
	}
	_, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, pgx.Tx(&jobTx{conn: sc.conn.Conn()}), job)
	return err
}

// JobTenantStatus reads the scope's tenant status (active, suspended, offboarding); a tenant
// that no longer exists is ErrNotFound. Background jobs check it before doing any work.
func (sc *Scope) JobTenantStatus(ctx context.Context) (string, error) {
	var status string
	err := sc.queryRow(ctx, `SELECT status FROM tenants WHERE id = $1`, []any{sc.TenantID()}, &status)
	return status, err
}

// errJobTxOwned refuses to end the scope's transaction from inside River: the scope opened it
// and only the scope's End may commit or roll it back.
var errJobTxOwned = errors.New("store: the scope owns this transaction; end it with Scope.End")

// jobTx presents a scope's open transaction to River as a pgx.Tx. Its own Commit and Rollback
// refuse; Begin opens a savepoint, whose Commit releases it and whose Rollback rolls back to
// it, the way pgx nests transactions.
type jobTx struct {
	conn      *pgx.Conn
	savepoint string // "" for the scope's transaction itself
	depth     int
	closed    bool
}

var _ pgx.Tx = (*jobTx)(nil)

func (tx *jobTx) Begin(ctx context.Context) (pgx.Tx, error) {
	if tx.closed {
		return nil, pgx.ErrTxClosed
	}
	name := fmt.Sprintf("job_sp_%d", tx.depth+1)
	if _, err := tx.conn.Exec(ctx, "SAVEPOINT "+name); err != nil {
		return nil, err
	}
	return &jobTx{conn: tx.conn, savepoint: name, depth: tx.depth + 1}, nil
}

func (tx *jobTx) Commit(ctx context.Context) error {
	if tx.savepoint == "" {
		return errJobTxOwned
	}
	if tx.closed {
		return pgx.ErrTxClosed
	}
	tx.closed = true
	_, err := tx.conn.Exec(ctx, "RELEASE SAVEPOINT "+tx.savepoint)
	return err
}

func (tx *jobTx) Rollback(ctx context.Context) error {
	if tx.savepoint == "" {
		return errJobTxOwned
	}
	if tx.closed {
		return pgx.ErrTxClosed
	}
	tx.closed = true
	_, err := tx.conn.Exec(ctx, "ROLLBACK TO SAVEPOINT "+tx.savepoint)
	return err
}

func (tx *jobTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if tx.closed {
		return 0, pgx.ErrTxClosed
	}
	return tx.conn.CopyFrom(ctx, table, columns, src)
}

func (tx *jobTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return tx.conn.SendBatch(ctx, b)
}

// LargeObjects is not offered: no job uses them.
func (tx *jobTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

func (tx *jobTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if tx.closed {
		return nil, pgx.ErrTxClosed
	}
	return tx.conn.Prepare(ctx, name, sql)
}

func (tx *jobTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if tx.closed {
		return pgconn.CommandTag{}, pgx.ErrTxClosed
	}
	return tx.conn.Exec(ctx, sql, args...)
}

func (tx *jobTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if tx.closed {
		return nil, pgx.ErrTxClosed
	}
	return tx.conn.Query(ctx, sql, args...)
}

func (tx *jobTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return tx.conn.QueryRow(ctx, sql, args...)
}

func (tx *jobTx) Conn() *pgx.Conn { return tx.conn }
