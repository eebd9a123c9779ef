package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// rowHolder is another transaction holding rows locked, as a concurrent request would: the
// requests a test sends meanwhile queue on those rows at the point where they lock or write
// them, after every read they decide on.
type rowHolder struct {
	t  testing.TB
	tx pgx.Tx
}

// holdRows begins a transaction as the cluster superuser and runs lockSQL (a SELECT ... FOR
// UPDATE), which must lock exactly want rows. The transaction ends with commit or rollback, or
// when the test ends.
func holdRows(t testing.TB, e *env, want int, lockSQL string, args ...any) *rowHolder {
	t.Helper()
	ctx := context.Background()
	tx, err := platSuper(t, e).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, lockSQL, args...)
	if err != nil {
		t.Fatal(err)
	}
	locked := 0
	for rows.Next() {
		locked++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if locked != want {
		t.Fatalf("%s locked %d rows, want %d", lockSQL, locked, want)
	}
	return &rowHolder{t: t, tx: tx}
}

// exec runs sql in the holding transaction (a change the queued requests will then meet).
func (h *rowHolder) exec(sql string, args ...any) {
	h.t.Helper()
	if _, err := h.tx.Exec(context.Background(), sql, args...); err != nil {
		h.t.Fatal(err)
	}
}

func (h *rowHolder) commit() {
	h.t.Helper()
	if err := h.tx.Commit(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *rowHolder) rollback() {
	h.t.Helper()
	if err := h.tx.Rollback(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

// awaitLockWaiters waits until n of the server's connections to the test's database wait for
// a lock: the requests sent are queued where the test wants them.
func awaitLockWaiters(t testing.TB, e *env, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		contSQL(t, e, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'tenantd' AND wait_event_type = 'Lock'`, nil, &waiting)
		if waiting >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests wait for a lock, want %d", waiting, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
