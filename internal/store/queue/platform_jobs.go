package queue

// Platform jobs: the export and the offboarding of one tenant, run in the background.
//
// They are platform work, not tenant work: they do not go through tenantWorker (which refuses
// inactive tenants, and an offboarding tenant is no longer active) but through the store's
// explicitly named platform path, which records what they do in the tenant's audit log and the
// platform log. They are inserted only by the platform path too (store.LifecycleTx), in the
// transaction of the lifecycle change that causes them. Like every job they name their tenant
// in their arguments, and one that names none is cancelled; an offboard job whose tenant is
// not in status offboarding is cancelled too, so that a stray job can never delete an active
// tenant. Bundles are written only as files directly inside the storage directory's exports/
// folder, created whole (a temporary file moved into place) and never over an existing file.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"tenantd/internal/store"
)

// TenantExportArgs writes one tenant's export bundle to BundlePath (kind tenant.export).
type TenantExportArgs struct {
	TenantID uuid.UUID `json:"tenant_id"`
	// BundlePath is the absolute path of the bundle to create, a file directly inside the
	// workers' StorageDir/exports/.
	BundlePath string `json:"bundle_path"`
}

// Kind names the job in River's table.
func (TenantExportArgs) Kind() string { return "tenant.export" }

// PlatformTenantID makes the job a platform job about its tenant.
func (a TenantExportArgs) PlatformTenantID() uuid.UUID { return a.TenantID }

// InsertOpts: an export that failed (a full disk, a lost connection) is simply written again.
func (TenantExportArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 3} }

// TenantOffboardArgs finishes the offboarding of one tenant (kind tenant.offboard): export
// bundle to BundlePath, deletion of every row and stored file, deletion certificate.
type TenantOffboardArgs struct {
	TenantID uuid.UUID `json:"tenant_id" river:"unique"`
	// BundlePath is the absolute path of the bundle to create, a file directly inside the
	// workers' StorageDir/exports/.
	BundlePath string `json:"bundle_path"`
}

// Kind names the job in River's table.
func (TenantOffboardArgs) Kind() string { return "tenant.offboard" }

// PlatformTenantID makes the job a platform job about its tenant.
func (a TenantOffboardArgs) PlatformTenantID() uuid.UUID { return a.TenantID }

// InsertOpts: one offboarding per tenant at a time (unique by tenant while queued, running or
// done), retried a few times since a retry finishes what an interrupted attempt started.
func (TenantOffboardArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// EnqueueTenantExport adds an export of tx's tenant, written to bundlePath, to the lifecycle
// change in tx (see store.Platform.ScheduleExport). It returns the job's id.
func EnqueueTenantExport(ctx context.Context, tx *store.LifecycleTx, bundlePath string) (int64, error) {
	res, err := tx.Enqueue(ctx, TenantExportArgs{TenantID: tx.Tenant().ID, BundlePath: bundlePath})
	if err != nil {
		return 0, err
	}
	return res.Job.ID, nil
}

// EnqueueTenantOffboard adds the job that finishes the offboarding of tx's tenant to the
// lifecycle change in tx (see store.Platform.BeginOffboarding). It returns the job's id and the
// bundle it will write: when an offboarding of the tenant is already queued, that job and its
// bundle, since a tenant is offboarded once.
func EnqueueTenantOffboard(ctx context.Context, tx *store.LifecycleTx, bundlePath string) (int64, string, error) {
	res, err := tx.Enqueue(ctx, TenantOffboardArgs{TenantID: tx.Tenant().ID, BundlePath: bundlePath})
	if err != nil {
		return 0, "", err
	}
	if res.UniqueSkippedAsDuplicate {
		var queued TenantOffboardArgs
		if err := json.Unmarshal(res.Job.EncodedArgs, &queued); err == nil {
			bundlePath = queued.BundlePath
		}
	}
	return res.Job.ID, bundlePath, nil
}

// ExportJobResult is the output a tenant.export job records on its River row.
type ExportJobResult struct {
	TenantID uuid.UUID `json:"tenant_id"`
	Slug     string    `json:"slug"`
	Path     string    `json:"path"`
	Size     int64     `json:"size"`
	SHA256   string    `json:"sha256"`
	// Rows counts the rows in the bundle per table, as its manifest does.
	Rows         map[string]int64 `json:"rows"`
	Files        int              `json:"files"`
	MissingFiles int              `json:"missing_files"`
}

// pjobArgs is what both platform jobs' arguments offer.
type pjobArgs interface {
	store.PlatformJobArgs
	pjobBundle() string
}

func (a TenantExportArgs) pjobBundle() string   { return a.BundlePath }
func (a TenantOffboardArgs) pjobBundle() string { return a.BundlePath }

// pjobWorker is the one wrapper around both platform jobs: it refuses a job without a tenant
// or with a bundle path outside the exports folder, then hands the job to work with the
// platform path (actor "jobs").
type pjobWorker[T pjobArgs] struct {
	river.WorkerDefaults[T]
	st         *store.Store
	storageDir string
	log        *slog.Logger
	outcome    func(kind, outcome string)
	work       func(ctx context.Context, w *pjobWorker[T], p *store.Platform, job *river.Job[T], bundle string) error
	// resume, when set, is asked first when the job's bundle already exists: an earlier
	// attempt of the job may have written it and stopped part-way. handled false leaves the
	// refusal to replace a file standing.
	resume func(ctx context.Context, w *pjobWorker[T], p *store.Platform, job *river.Job[T]) (handled bool, err error)
}

// pjobRegister adds the platform job workers.
func pjobRegister(workers *river.Workers, st *store.Store, cfg Config) {
	river.AddWorker(workers, &pjobWorker[TenantExportArgs]{st: st, storageDir: cfg.StorageDir, log: cfg.Logger, outcome: cfg.Outcome, work: pjobExport})
	river.AddWorker(workers, &pjobWorker[TenantOffboardArgs]{st: st, storageDir: cfg.StorageDir, log: cfg.Logger, outcome: cfg.Outcome,
		work: pjobOffboard, resume: pjobResumeOffboard})
}

// Timeout: a large tenant takes a while to export; River's default minute is far too short.
func (w *pjobWorker[T]) Timeout(*river.Job[T]) time.Duration { return time.Hour }

func (w *pjobWorker[T]) Work(ctx context.Context, job *river.Job[T]) (err error) {
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
	if job.Args.PlatformTenantID() == uuid.Nil {
		return river.JobCancel(fmt.Errorf("%s job %d names no tenant: platform jobs act on the one tenant their arguments name", job.Kind, job.ID))
	}
	bundle, err := pjobCheckBundle(w.storageDir, job.Args.pjobBundle())
	if errors.Is(err, errBundleExists) && w.resume != nil {
		if handled, rerr := w.resume(ctx, w, w.st.Platform("jobs"), job); handled {
			return rerr
		}
	}
	if err != nil {
		return river.JobCancel(fmt.Errorf("%s job %d refused: %w", job.Kind, job.ID, err))
	}
	return w.work(ctx, w, w.st.Platform("jobs"), job, bundle)
}

// errBundleExists: a job's bundle path names a file that is already there.
var errBundleExists = errors.New("already exists")

// pjobCheckBundle accepts only a new file directly inside storageDir/exports/ (whose name is no
// hidden or temporary file's) and returns its cleaned path.
func pjobCheckBundle(storageDir, path string) (string, error) {
	if storageDir == "" {
		return "", errors.New("the workers have no storage directory to write bundles to")
	}
	exports, err := filepath.Abs(filepath.Join(storageDir, "exports"))
	if err != nil {
		return "", err
	}
	if path == "" || !filepath.IsAbs(path) {
		return "", fmt.Errorf("bundle_path %q is not an absolute path under %s", path, exports)
	}
	clean := filepath.Clean(path)
	if name := filepath.Base(clean); filepath.Dir(clean) != exports || strings.HasPrefix(name, ".") {
		return "", fmt.Errorf("bundle_path %q is not a file directly under %s", path, exports)
	}
	switch _, err := os.Lstat(clean); {
	case err == nil:
		return "", fmt.Errorf("bundle_path %s %w: a bundle never replaces a file", clean, errBundleExists)
	case !errors.Is(err, fs.ErrNotExist):
		return "", err
	}
	return clean, nil
}

// pjobExport writes the tenant's bundle to a temporary file beside bundle, then gives it its
// final name, so that bundle is either absent or complete.
func pjobExport(ctx context.Context, w *pjobWorker[TenantExportArgs], p *store.Platform, job *river.Job[TenantExportArgs], bundle string) error {
	t, err := p.TenantByID(ctx, job.Args.TenantID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("tenant %s no longer exists: its %s job does not run", job.Args.TenantID, job.Kind))
	}
	if err != nil {
		return err
	}
	dir := filepath.Dir(bundle)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".partial-*.tar.gz")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op once it has its final name
	res, err := p.ExportTenant(ctx, t.ID, w.storageDir, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// A link, unlike a rename, never replaces a file that appeared meanwhile.
	if err := os.Link(f.Name(), bundle); errors.Is(err, fs.ErrExist) {
		return river.JobCancel(fmt.Errorf("bundle_path %s appeared while the bundle was written: a bundle never replaces a file", bundle))
	} else if err != nil {
		// A file system without hard links: fall back to a rename.
		if err := os.Rename(f.Name(), bundle); err != nil {
			return err
		}
	}
	out := ExportJobResult{TenantID: t.ID, Slug: t.Slug, Path: bundle, Size: res.Size, SHA256: res.SHA256,
		Rows: map[string]int64{}, Files: len(res.Manifest.Files)}
	for _, tb := range res.Manifest.Tables {
		out.Rows[tb.Name] = tb.Rows
	}
	for _, mf := range res.Manifest.Files {
		if mf.Missing {
			out.MissingFiles++
		}
	}
	return river.RecordOutput(ctx, out)
}

// pjobOffboard finishes an offboarding and records the deletion certificate as the job's
// output. Once the deletion has begun it runs to the end even if the job's context ends: a
// half-offboarded tenant helps no one.
func pjobOffboard(ctx context.Context, w *pjobWorker[TenantOffboardArgs], p *store.Platform, job *river.Job[TenantOffboardArgs], bundle string) error {
	cert, err := p.FinishOffboarding(context.WithoutCancel(ctx), job.Args.TenantID, w.storageDir, bundle)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return river.JobCancel(fmt.Errorf("tenant %s no longer exists: its %s job does not run", job.Args.TenantID, job.Kind))
	case errors.Is(err, store.ErrNotOffboarding):
		return river.JobCancel(fmt.Errorf("%s job %d refused: %w; only a tenant the platform started offboarding is deleted", job.Kind, job.ID, err))
	case err != nil && cert == nil:
		return err
	case err != nil:
		// The tenant is gone but something after the deletion failed (a stored file that
		// could not be removed, say): the certificate says what, and a retry could not redo
		// the deletion, so the job completes with it.
		w.log.WarnContext(ctx, "offboarding finished with errors", "tenant", job.Args.TenantID.String(), "job", job.ID, "error", err.Error())
	}
	return river.RecordOutput(ctx, cert)
}

// pjobResumeOffboard finishes an offboarding that an earlier attempt of this job took as far as
// deleting the tenant's rows (and putting its bundle in place) before it stopped: the tenant's
// stored files are removed and the final certificate recorded, as offboarding the former slug
// again would. With no such offboarding pending it handles nothing, and the job is refused for
// naming an existing bundle.
func pjobResumeOffboard(ctx context.Context, w *pjobWorker[TenantOffboardArgs], p *store.Platform, job *river.Job[TenantOffboardArgs]) (bool, error) {
	cert, err := p.FinishInterruptedOffboarding(context.WithoutCancel(ctx), job.Args.TenantID, "", w.storageDir)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil && cert == nil:
		return true, err
	case err != nil:
		w.log.WarnContext(ctx, "offboarding finished with errors", "tenant", job.Args.TenantID.String(), "job", job.ID, "error", err.Error())
	}
	return true, river.RecordOutput(ctx, cert)
}
