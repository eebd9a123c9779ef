package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
)

// Dispatch is what one fan-out of a job to every active tenant did.
type Dispatch struct {
	Kind       string `json:"job"`
	Tenants    int    `json:"tenants"`    // active tenants found
	Inserted   int    `json:"inserted"`   // jobs inserted
	Duplicates int    `json:"duplicates"` // jobs skipped because an identical one is already queued
}

// DispatchToActiveTenants is the platform path by which background work reaches every tenant:
// it lists the active tenants and inserts, for each, the job build returns for that tenant,
// and records the dispatch in the platform log, all in one transaction. Suspended and
// offboarding tenants get no job. Each job carries its tenant, and its worker runs it inside
// that tenant's scope; build must return a job of kind kind for exactly the tenant it is given.
func (p *Platform) DispatchToActiveTenants(ctx context.Context, kind string, build func(tenant uuid.UUID) TenantJobArgs, opts *river.InsertOpts) (Dispatch, error) {
	d := Dispatch{Kind: kind}
	client, err := jobInserter()
	if err != nil {
		return d, err
	}
	tx, err := p.s.pool.Begin(ctx)
	if err != nil {
		return d, translate(err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	rows, err := tx.Query(ctx, `SELECT id FROM tenants WHERE status = 'active' ORDER BY id`)
	if err != nil {
		return d, translate(err)
	}
	var params []river.InsertManyParams
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return d, translate(err)
		}
		args := build(id)
		if args.Kind() != kind || args.JobTenantID() != id {
			rows.Close()
			return d, fmt.Errorf("store: dispatch of %s built a %s job for tenant %s instead of tenant %s", kind, args.Kind(), args.JobTenantID(), id)
		}
		params = append(params, river.InsertManyParams{Args: args, InsertOpts: opts})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return d, translate(err)
	}
	d.Tenants = len(params)
	if len(params) > 0 {
		res, err := client.InsertManyTx(ctx, tx, params)
		if err != nil {
			return d, fmt.Errorf("dispatch %s: %w", kind, translate(err))
		}
		for _, r := range res {
			if r.UniqueSkippedAsDuplicate {
				d.Duplicates++
			} else {
				d.Inserted++
			}
		}
	}
	detail, err := json.Marshal(d)
	if err != nil {
		return d, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO platform_events (id, subject_tenant_id, kind, actor, detail) VALUES ($1, NULL, 'jobs.dispatch', $2, $3)`,
		NewID(), p.actor, detail); err != nil {
		return d, translate(err)
	}
	return d, translate(tx.Commit(ctx))
}
