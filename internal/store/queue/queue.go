// Package queue runs tenantd's background work on River, a job queue kept in PostgreSQL.
//
// Every job belongs to one tenant: its arguments embed an Envelope naming the tenant, and one
// wrapper runs every worker. A job that names no tenant is cancelled without running, and so
// is a job for a tenant that is suspended, being offboarded or gone; any other job runs inside
// a trusted scope of its tenant (one transaction with app.tenant_id set, every query filtered
// on the tenant), and is marked completed in that same transaction. A retry decodes the same
// stored arguments, so it runs in the same tenant; nothing else can choose the tenant.
//
// Jobs are inserted by Scope.Enqueue inside the transaction of the change that causes them, so
// a request that rolls back leaves no job behind. Work that spans tenants (the periodic
// reminders dispatch) goes through the platform path, which records each dispatch; so do a
// tenant's export and offboarding (platform_jobs.go), which name their tenant but run outside
// its scope, since an offboarding tenant is no longer active.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"tenantd/internal/store"
)

// Config tunes the workers. The zero value (with DatabaseURL) suits production.
type Config struct {
	// DatabaseURL is the application role's connection URL. River keeps its own small pool
	// for fetching and completing jobs; the work itself runs on the store's scopes.
	DatabaseURL string
	// Logger receives River's warnings and errors (nil: discarded).
	Logger *slog.Logger
	// Workers is how many jobs run at once (default 4).
	Workers int
	// DispatchInterval is how often due reminders are dispatched to every active tenant
	// (default one minute); a negative value turns the periodic dispatch off.
	DispatchInterval time.Duration
	// OutboxMaxAttempts is how many times a message is tried before it fails for good
	// (default 5).
	OutboxMaxAttempts int
	// OutboxBatch is how many messages one delivery job sends before it hands the rest to a
	// new job (default 10).
	OutboxBatch int
	// SMTPTimeout bounds one message's SMTP conversation (default 20 seconds).
	SMTPTimeout time.Duration
	// Outcome, when set, is told how each tenant job ended ("completed", "cancelled",
	// "failed"), for metrics.
	Outcome func(kind, outcome string)
	// RetryPolicy decides when a failed job runs again (nil: River's exponential backoff).
	RetryPolicy river.ClientRetryPolicy
	// PollInterval is how often workers look for jobs besides being notified (default 1s).
	PollInterval time.Duration
	// StorageDir holds the tenants' stored files (StorageDir/<tenant id>/...); the export and
	// offboard jobs write their bundles to StorageDir/exports/ and refuse to run without it.
	StorageDir string
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.DispatchInterval == 0 {
		c.DispatchInterval = time.Minute
	}
	if c.OutboxMaxAttempts <= 0 {
		c.OutboxMaxAttempts = 5
	}
	if c.OutboxBatch <= 0 {
		c.OutboxBatch = 10
	}
	if c.SMTPTimeout <= 0 {
		c.SMTPTimeout = 20 * time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = river.FetchPollIntervalDefault
	}
}

// Queue is the running set of workers.
type Queue struct {
	client *river.Client[pgx.Tx]
	pool   *pgxpool.Pool
}

// Start starts the workers and, on the elected leader among all running servers, the periodic
// reminders dispatch. The workers run until Stop, whatever becomes of ctx.
func Start(ctx context.Context, st *store.Store, cfg Config) (*Queue, error) {
	cfg.defaults()
	if cfg.DatabaseURL == "" {
		return nil, errors.New("queue: no database URL")
	}
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("queue: parse database url: %w", err)
	}
	pcfg.ConnConfig.RuntimeParams["application_name"] = "tenantd-jobs"
	// River's fetcher, completer, notifier and leader election; jobs use the store's pool.
	pcfg.MaxConns = 6
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}

	workers := river.NewWorkers()
	river.AddWorker(workers, &tenantWorker[RemindersRunArgs]{st: st, timeout: time.Minute, work: runReminders, outcome: cfg.Outcome})
	d := &outboxDeliverer{maxAttempts: cfg.OutboxMaxAttempts, batch: cfg.OutboxBatch, smtpTimeout: cfg.SMTPTimeout}
	river.AddWorker(workers, &tenantWorker[OutboxDeliverArgs]{st: st, timeout: 5 * time.Minute, work: d.deliver, outcome: cfg.Outcome})
	river.AddWorker(workers, &dispatchWorker{st: st, interval: max(cfg.DispatchInterval, time.Second)})
	pjobRegister(workers, st, cfg)

	var periodic []*river.PeriodicJob
	if cfg.DispatchInterval > 0 {
		every := cfg.DispatchInterval
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(every),
			func() (river.JobArgs, *river.InsertOpts) {
				// One dispatch per interval even if leadership changes hands meanwhile.
				return RemindersDispatchArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: max(every, time.Second)}}
			}, &river.PeriodicJobOpts{ID: RemindersDispatchArgs{}.Kind()}))
	}

	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger:            cfg.Logger,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}},
		Workers:           workers,
		PeriodicJobs:      periodic,
		RetryPolicy:       cfg.RetryPolicy,
		FetchPollInterval: cfg.PollInterval,
		FetchCooldown:     min(cfg.PollInterval, river.FetchCooldownDefault),
		// The application role owns no index, so it could not rebuild River's; the schema
		// owner may REINDEX them instead when they bloat.
		ReindexerIndexNames: []string{},
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("queue: %w", err)
	}
	// Stopping is Stop's business: a cancelled ctx must not cancel jobs halfway.
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		pool.Close()
		return nil, fmt.Errorf("queue: start: %w", err)
	}
	return &Queue{client: client, pool: pool}, nil
}

// Stop stops fetching jobs and waits for the running ones to finish. When ctx ends first, the
// running jobs are cancelled (their transactions roll back, and they run again later).
func (q *Queue) Stop(ctx context.Context) error {
	defer q.pool.Close()
	err := q.client.Stop(ctx)
	if err != nil && ctx.Err() != nil {
		hard, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return errors.Join(err, q.client.StopAndCancel(hard))
	}
	return err
}
