package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"tenantd/internal/store"
)

// Envelope is embedded in every tenant job's arguments: the tenant the job runs for. It is
// stored with the job, so every attempt runs in the tenant that caused it.
type Envelope struct {
	TenantID uuid.UUID `json:"tenant_id"`
}

// JobTenantID makes every args struct that embeds Envelope a store.TenantJobArgs.
func (e Envelope) JobTenantID() uuid.UUID { return e.TenantID }

// RemindersRunArgs sends one tenant's due reminders (kind reminders.run).
type RemindersRunArgs struct {
	Envelope
}

// Kind names the job in River's table.
func (RemindersRunArgs) Kind() string { return "reminders.run" }

// InsertOpts: a failing run is retried a few times; the next dispatch catches up anyway.
func (RemindersRunArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 5} }

// OutboxDeliverArgs sends one tenant's pending outbox messages (kind outbox.deliver).
type OutboxDeliverArgs struct {
	Envelope
}

// Kind names the job in River's table.
func (OutboxDeliverArgs) Kind() string { return "outbox.deliver" }

// InsertOpts: more job attempts than message attempts, so that messages reach their own
// limit (and fail for good, visibly) before River would give up on the job.
func (OutboxDeliverArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 10} }

// RemindersDispatchArgs fans reminders.run out to every active tenant (kind
// reminders.dispatch). It belongs to no tenant: it is platform work, and only the platform
// path's DispatchToActiveTenants may give it tenants.
type RemindersDispatchArgs struct{}

// Kind names the job in River's table.
func (RemindersDispatchArgs) Kind() string { return "reminders.dispatch" }

// InsertOpts: a missed dispatch is made up by the next one.
func (RemindersDispatchArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 3} }

// EnqueueOutboxDelivery schedules delivery of the tenant's pending outbox messages, inside the
// scope's write transaction: call it in the transaction that queued a message, so the message
// and its delivery commit (or vanish) together.
func EnqueueOutboxDelivery(ctx context.Context, sc *store.Scope) error {
	_, err := sc.Enqueue(ctx, OutboxDeliverArgs{Envelope{TenantID: sc.TenantID()}})
	return err
}

// EnqueueReminders schedules a run of the tenant's due reminders inside the scope's write
// transaction.
func EnqueueReminders(ctx context.Context, sc *store.Scope) error {
	_, err := sc.Enqueue(ctx, RemindersRunArgs{Envelope{TenantID: sc.TenantID()}})
	return err
}

// KeepChanges makes a tenant job commit what it did and still fail with err, so that River
// runs it again later: for work that made progress worth keeping (messages sent, attempts
// counted) and has more to do.
func KeepChanges(err error) error { return &keepError{err: err} }

type keepError struct{ err error }

func (e *keepError) Error() string { return e.err.Error() }
func (e *keepError) Unwrap() error { return e.err }

// tenantWorker is the one wrapper around every tenant job's work. The tenant comes from the
// job's stored arguments and from nowhere else.
type tenantWorker[T store.TenantJobArgs] struct {
	river.WorkerDefaults[T]
	st      *store.Store
	timeout time.Duration
	work    func(ctx context.Context, sc *store.Scope, job *river.Job[T]) error
	outcome func(kind, outcome string)
}

func (w *tenantWorker[T]) Timeout(*river.Job[T]) time.Duration { return w.timeout }

func (w *tenantWorker[T]) Work(ctx context.Context, job *river.Job[T]) (err error) {
	if w.outcome != nil {
		defer func() {
			var cancel *river.JobCancelError
			switch {
			case err == nil:
				w.outcome(job.Kind, "completed")
			case errors.As(err, &cancel):
				w.outcome(job.Kind, "cancelled")
			default:
				w.outcome(job.Kind, "failed")
			}
		}()
	}
	tenant := job.Args.JobTenantID()
	if tenant == uuid.Nil {
		return river.JobCancel(fmt.Errorf("%s job %d names no tenant: tenant jobs only run inside their tenant's scope", job.Kind, job.ID))
	}
	sc := w.st.TrustedScope(tenant, false)
	if err := sc.Begin(ctx); err != nil {
		return err
	}
	// Rolls back unless committed below (End after End does nothing); also after a panic.
	defer func() { _ = sc.End(ctx, false) }()
	status, err := sc.JobTenantStatus(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return river.JobCancel(fmt.Errorf("tenant %s no longer exists: its %s job does not run", tenant, job.Kind))
	case err != nil:
		return err
	case status != "active":
		return river.JobCancel(fmt.Errorf("tenant %s is %s: its %s job does not run", tenant, status, job.Kind))
	}
	err = w.work(ctx, sc, job)
	var keep *keepError
	if errors.As(err, &keep) {
		if cerr := sc.End(ctx, true); cerr != nil {
			return cerr
		}
		return keep.err
	}
	if err != nil {
		return err
	}
	if err := store.CompleteJob(ctx, sc, job); err != nil {
		return err
	}
	return sc.End(ctx, true)
}

// runReminders sends the tenant's due reminders and schedules delivery of the e-mails they
// queued, in the same transaction, and forgets the tenant's expired Idempotency-Keys.
func runReminders(ctx context.Context, sc *store.Scope, job *river.Job[RemindersRunArgs]) error {
	now := time.Now()
	n, err := sc.RunDueReminders(ctx, now)
	if err != nil {
		return err
	}
	// The same periodic run retires the tenant's Idempotency-Keys past their lifetime.
	if _, err := sc.ForgetIdempotencyKeys(ctx, now.Add(-store.IdempotencyKeyLifetime)); err != nil {
		return err
	}
	// Deliver what the run queued, and sweep up messages still pending from earlier (a
	// delivery job that gave up while the mail server was down), in the same transaction.
	pending := n > 0
	if !pending {
		if pending, err = sc.HasPendingOutbox(ctx); err != nil {
			return err
		}
	}
	if pending {
		if err := EnqueueOutboxDelivery(ctx, sc); err != nil {
			return err
		}
	}
	return river.RecordOutput(ctx, map[string]int{"sent": n})
}

// dispatchWorker runs reminders.dispatch: one reminders.run for every active tenant, through
// the platform path that records the dispatch.
type dispatchWorker struct {
	river.WorkerDefaults[RemindersDispatchArgs]
	st       *store.Store
	interval time.Duration
}

func (w *dispatchWorker) Work(ctx context.Context, job *river.Job[RemindersDispatchArgs]) error {
	d, err := w.st.Platform("jobs").DispatchToActiveTenants(ctx, RemindersRunArgs{}.Kind(),
		func(t uuid.UUID) store.TenantJobArgs { return RemindersRunArgs{Envelope{TenantID: t}} },
		// At most one queued run per tenant and interval, however far the workers fall behind.
		&river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: w.interval}})
	if err != nil {
		return err
	}
	return river.RecordOutput(ctx, d)
}
