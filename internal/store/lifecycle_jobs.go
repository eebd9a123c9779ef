package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// ErrNotOffboarding refuses to finish the offboarding of a tenant that nobody started
// offboarding: only the platform's own decision, recorded as the tenant's status, may lead to
// its deletion, never a job that merely names it.
var ErrNotOffboarding = errors.New("the tenant is not being offboarded")

// PlatformJobArgs are the arguments of a background job that is platform work about one tenant:
// its export, its offboarding. Such a job does not run inside the tenant's scope (an
// offboarding tenant is no longer active, and tenant jobs refuse inactive tenants) but through
// the platform path, which records what it does. It is deliberately no TenantJobArgs, so that
// Scope.Enqueue (a request's transaction) cannot insert it: only a LifecycleTx can.
type PlatformJobArgs interface {
	river.JobArgs
	// PlatformTenantID is the tenant the work is about.
	PlatformTenantID() uuid.UUID
}

// LifecycleTx is the open transaction of a lifecycle change, lent to the caller so that it can
// insert the jobs the change causes: they commit with the change or vanish with it.
type LifecycleTx struct {
	sc     *Scope
	tenant Tenant
	jobs   []int64
	ended  bool
}

// Tenant is the tenant the change is about, as it was before the change.
func (tx *LifecycleTx) Tenant() Tenant { return tx.tenant }

// Enqueue inserts a platform job in the change's transaction. The job must name the
// transaction's tenant; a job for another tenant, or for none, is refused. When the job kind is
// unique and an identical job is already queued, no second job is inserted and the result
// describes the queued one (UniqueSkippedAsDuplicate).
func (tx *LifecycleTx) Enqueue(ctx context.Context, args PlatformJobArgs) (*rivertype.JobInsertResult, error) {
	if tx.ended || tx.sc.conn == nil {
		return nil, errors.New("store: enqueue after the lifecycle transaction ended")
	}
	if t := args.PlatformTenantID(); t != tx.tenant.ID {
		return nil, fmt.Errorf("store: job %s names tenant %s inside the lifecycle change of tenant %s", args.Kind(), t, tx.tenant.ID)
	}
	client, err := jobInserter()
	if err != nil {
		return nil, err
	}
	res, err := client.InsertTx(ctx, &jobTx{conn: tx.sc.conn.Conn()}, args, nil)
	if err != nil {
		return nil, fmt.Errorf("enqueue %s: %w", args.Kind(), translate(err))
	}
	tx.jobs = append(tx.jobs, res.Job.ID)
	return res, nil
}

// pjobLend runs enqueue with a LifecycleTx over sc and returns the ids of the jobs it inserted.
// A change that asked for a job and got none would be left with nothing to carry it out, so
// that is an error (and the change rolls back).
func pjobLend(ctx context.Context, sc *Scope, t Tenant, enqueue func(ctx context.Context, tx *LifecycleTx) error) ([]int64, error) {
	tx := &LifecycleTx{sc: sc, tenant: t}
	err := enqueue(ctx, tx)
	tx.ended = true
	if err != nil {
		return nil, err
	}
	if len(tx.jobs) == 0 {
		return nil, errors.New("store: the lifecycle change inserted no job to carry it out")
	}
	return tx.jobs, nil
}

// BeginOffboarding starts the offboarding of tenant id in the background. In one transaction it
// sets the tenant's status to offboarding (from then on no credential works for the tenant, and
// it can only be exported or finish offboarding), records that in the tenant's audit log and
// the platform log, and lets enqueue insert the job that finishes the offboarding
// (FinishOffboarding). Either all of it commits or none of it does; enqueue must insert at least
// one job, so that no tenant is ever left offboarding with nothing to finish it. A tenant that is
// already offboarding (an interrupted offboarding) keeps its status and gets its job again. It
// returns the tenant as it is now.
func (p *Platform) BeginOffboarding(ctx context.Context, id uuid.UUID, enqueue func(ctx context.Context, tx *LifecycleTx) error) (Tenant, error) {
	var out Tenant
	err := p.inTenant(ctx, id, func(sc *Scope, before Tenant) error {
		out = before
		if before.Status != "offboarding" {
			var err error
			out, err = scanTenant(sc.conn.QueryRow(ctx, `UPDATE tenants SET status = 'offboarding', updated_at = now()
				WHERE id = $1 RETURNING `+tenantColumns, id))
			if err != nil {
				return err
			}
		}
		jobs, err := pjobLend(ctx, sc, before, enqueue)
		if err != nil {
			return err
		}
		return p.event(ctx, sc, "tenant.offboard.start", map[string]any{"from": before.Status, "jobs": jobs})
	})
	if err != nil {
		return Tenant{}, err
	}
	return out, nil
}

// ScheduleExport schedules an export of tenant id in the background: the record of the request
// (in the tenant's audit log and the platform log) and the job that writes the bundle, which
// enqueue inserts, commit together or not at all. The tenant's status does not change; a tenant
// of any status, offboarding included, may be exported.
func (p *Platform) ScheduleExport(ctx context.Context, id uuid.UUID, enqueue func(ctx context.Context, tx *LifecycleTx) error) (Tenant, error) {
	var out Tenant
	err := p.inTenant(ctx, id, func(sc *Scope, before Tenant) error {
		out = before
		jobs, err := pjobLend(ctx, sc, before, enqueue)
		if err != nil {
			return err
		}
		return p.event(ctx, sc, "tenant.export.schedule", map[string]any{"jobs": jobs})
	})
	if err != nil {
		return Tenant{}, err
	}
	return out, nil
}

// FinishOffboarding completes an offboarding that BeginOffboarding (or an interrupted
// OffboardTenant) started: see OffboardTenant for what it removes and records. A tenant whose
// status is not offboarding is refused with ErrNotOffboarding, so that work pointed at an
// active or suspended tenant can never delete it. The check cannot go stale before the
// deletion: no lifecycle change takes a tenant out of offboarding.
func (p *Platform) FinishOffboarding(ctx context.Context, id uuid.UUID, storageDir, bundlePath string) (*DeletionCertificate, error) {
	t, err := p.TenantByID(ctx, id)
	if errors.Is(err, ErrNotFound) {
		// The rows may already be gone, deleted by an attempt that stopped before the files.
		return p.FinishInterruptedOffboarding(ctx, id, "", storageDir)
	}
	if err != nil {
		return nil, err
	}
	if t.Status != "offboarding" {
		return nil, fmt.Errorf("%w: tenant %s (%s) is %s", ErrNotOffboarding, t.Slug, t.ID, t.Status)
	}
	return p.OffboardTenant(ctx, id, storageDir, bundlePath)
}

// TenantByID finds a tenant by its id (background work knows tenants by id only).
func (p *Platform) TenantByID(ctx context.Context, id uuid.UUID) (Tenant, error) {
	return scanTenant(p.s.pool.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1`, id))
}

// JobInfo is a background job as the operator sees it: what it is, where it stands and what it
// reported.
type JobInfo struct {
	ID          int64             `json:"id"`
	Kind        string            `json:"kind"`
	State       string            `json:"state"`
	Attempt     int               `json:"attempt"`
	MaxAttempts int               `json:"max_attempts"`
	Args        json.RawMessage   `json:"args"`
	Output      json.RawMessage   `json:"output,omitempty"`
	Errors      []JobAttemptError `json:"errors,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	ScheduledAt time.Time         `json:"scheduled_at"`
	FinalizedAt *time.Time        `json:"finalized_at,omitempty"`
}

// JobAttemptError is why one attempt of a job failed (or why the job was cancelled).
type JobAttemptError struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Error   string    `json:"error"`
}

// Job reads background job id from River's table; a job that does not exist (or was already
// cleaned out) is ErrNotFound.
func (p *Platform) Job(ctx context.Context, id int64) (JobInfo, error) {
	client, err := jobInserter()
	if err != nil {
		return JobInfo{}, err
	}
	tx, err := p.s.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return JobInfo{}, translate(err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	row, err := client.JobGetTx(ctx, tx, id)
	if errors.Is(err, rivertype.ErrNotFound) {
		return JobInfo{}, ErrNotFound
	}
	if err != nil {
		return JobInfo{}, translate(err)
	}
	info := JobInfo{ID: row.ID, Kind: row.Kind, State: string(row.State), Attempt: row.Attempt, MaxAttempts: row.MaxAttempts,
		Args: json.RawMessage(row.EncodedArgs), Output: json.RawMessage(row.Output()), CreatedAt: row.CreatedAt,
		ScheduledAt: row.ScheduledAt, FinalizedAt: row.FinalizedAt}
	for _, e := range row.Errors {
		info.Errors = append(info.Errors, JobAttemptError{Attempt: e.Attempt, At: e.At, Error: e.Error})
	}
	return info, nil
}
