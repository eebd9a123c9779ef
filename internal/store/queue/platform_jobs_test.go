package queue_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"tenantd/internal/store"
	"tenantd/internal/store/queue"
)

// pjobNewEnv is newEnv with the demo attachments written as files to a storage directory, so
// that exports carry them and offboarding removes them. It returns the directory.
func pjobNewEnv(t *testing.T) (*env, string) {
	t.Helper()
	dir := t.TempDir()
	return newEnvWithFiles(t, dir), dir
}

// pjobBundle is a fresh bundle path under dir's exports folder.
func pjobBundle(dir, name string) string { return filepath.Join(dir, "exports", name+".tar.gz") }

// pjobCounts counts tenant's rows in every tenant-owned table, as the superuser.
func (e *env) pjobCounts(tenant uuid.UUID) map[string]int64 {
	e.t.Helper()
	out := map[string]int64{}
	for table := range e.fingerprint(tenant) {
		var n int64
		e.scalar(&n, `SELECT count(*) FROM `+table+` WHERE tenant_id = $1`, tenant)
		out[table] = n
	}
	return out
}

// pjobFiles lists the files under dir with their SHA-256.
func pjobFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		s := sha256.Sum256(data)
		out[path] = hex.EncodeToString(s[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pjobManifest reads the manifest of the bundle at path and returns it with the bundle's
// SHA-256.
func pjobManifest(t *testing.T, path string) (store.ExportManifest, string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	h, err := tr.Next()
	if err != nil || h.Name != "manifest.json" {
		t.Fatalf("first entry %v: %v", h, err)
	}
	raw, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	var m store.ExportManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return m, hex.EncodeToString(s[:])
}

// pjobNoPartials fails when a temporary bundle was left in the exports folder.
func pjobNoPartials(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "exports"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), ".") {
			t.Errorf("temporary file %s left in exports/", en.Name())
		}
	}
}

// pjobAudits counts tenant's audit events of action.
func (e *env) pjobAudits(tenant uuid.UUID, action string) int {
	e.t.Helper()
	var n int
	e.scalar(&n, `SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action = $2`, tenant, action)
	return n
}

func TestPlatformExportJob(t *testing.T) {
	e, dir := pjobNewEnv(t)
	globex := e.demo.Globex.ID
	path := pjobBundle(dir, "globex-export")
	var jobID int64
	if _, err := e.st.Platform("test").ScheduleExport(e.ctx, globex, func(ctx context.Context, tx *store.LifecycleTx) error {
		var err error
		jobID, err = queue.EnqueueTenantExport(ctx, tx, path)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if e.pjobAudits(globex, "tenant.export.schedule") != 1 {
		t.Error("the scheduled export is not in globex's audit log")
	}
	// The rows as the job will find them (nothing else writes meanwhile).
	want := e.pjobCounts(globex)

	e.start(queue.Config{StorageDir: dir})
	row := e.wait(jobID, rivertype.JobStateCompleted)

	m, sum := pjobManifest(t, path)
	if m.Tenant.ID != globex || m.Tenant.Slug != "globex" {
		t.Errorf("manifest names tenant %+v", m.Tenant)
	}
	seen := 0
	for _, tb := range m.Tables {
		if tb.Scope != "tenant" {
			continue
		}
		seen++
		if tb.Rows != want[tb.Name] {
			t.Errorf("manifest: %s has %d rows, the tenant has %d", tb.Name, tb.Rows, want[tb.Name])
		}
	}
	if seen != len(want) {
		t.Errorf("manifest lists %d tenant tables, the database has %d", seen, len(want))
	}
	var out queue.ExportJobResult
	if err := json.Unmarshal(row.Output(), &out); err != nil {
		t.Fatalf("output %s: %v", row.Output(), err)
	}
	if out.Path != path || out.SHA256 != sum || out.TenantID != globex || out.Files != len(m.Files) || out.Files == 0 {
		t.Errorf("output %s, want path %s and sha256 %s", row.Output(), path, sum)
	}
	for table, n := range want {
		if out.Rows[table] != n {
			t.Errorf("output: %s %d rows, want %d", table, out.Rows[table], n)
		}
	}
	pjobNoPartials(t, dir)
	// The export went through the platform path, which recorded it; globex keeps its status.
	if e.pjobAudits(globex, "tenant.export") != 1 {
		t.Error("the export is not in globex's audit log")
	}
	var status string
	e.scalar(&status, `SELECT status FROM tenants WHERE id = $1`, globex)
	if status != "active" {
		t.Errorf("globex is %s after its export", status)
	}
}

func TestPlatformOffboardJob(t *testing.T) {
	e, dir := pjobNewEnv(t)
	acme, globex := e.demo.Acme.ID, e.demo.Globex.ID
	acmePrint := e.fingerprint(acme)
	acmeFiles := pjobFiles(t, filepath.Join(dir, acme.String()))
	globexFiles := pjobFiles(t, filepath.Join(dir, globex.String()))
	if len(acmeFiles) == 0 || len(globexFiles) == 0 {
		t.Fatalf("fixture has %d acme and %d globex files", len(acmeFiles), len(globexFiles))
	}
	path := pjobBundle(dir, "globex-offboard")
	var jobID int64
	var bundle string
	tenant, err := e.st.Platform("test").BeginOffboarding(e.ctx, globex, func(ctx context.Context, tx *store.LifecycleTx) error {
		var err error
		jobID, bundle, err = queue.EnqueueTenantOffboard(ctx, tx, path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if tenant.Status != "offboarding" || bundle != path {
		t.Fatalf("BeginOffboarding: tenant %s, bundle %s", tenant.Status, bundle)
	}
	// Before any worker runs, the tenant is offboarding and its job is queued.
	var status string
	e.scalar(&status, `SELECT status FROM tenants WHERE id = $1`, globex)
	if status != "offboarding" || len(e.jobsOf("tenant.offboard")) != 1 {
		t.Fatalf("tenant %s with %d offboard jobs", status, len(e.jobsOf("tenant.offboard")))
	}
	// Asking again while it is queued gives the same job.
	if _, err := e.st.Platform("test").BeginOffboarding(e.ctx, globex, func(ctx context.Context, tx *store.LifecycleTx) error {
		again, _, err := queue.EnqueueTenantOffboard(ctx, tx, pjobBundle(dir, "other"))
		if err == nil && again != jobID {
			t.Errorf("a second offboarding got job %d besides %d", again, jobID)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	e.start(queue.Config{StorageDir: dir})
	row := e.wait(jobID, rivertype.JobStateCompleted)

	for table, n := range e.pjobCounts(globex) {
		if n != 0 {
			t.Errorf("%s still holds %d globex rows", table, n)
		}
	}
	var left int
	e.scalar(&left, `SELECT (SELECT count(*) FROM tenants WHERE id = $1) + (SELECT count(*) FROM users WHERE lower(email) LIKE '%@globex.test')`, globex)
	if left != 0 {
		t.Errorf("%d globex tenant or user rows left", left)
	}
	if _, err := os.Stat(filepath.Join(dir, globex.String())); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("globex's files remain: %v", err)
	}
	var cert store.DeletionCertificate
	if err := json.Unmarshal(row.Output(), &cert); err != nil {
		t.Fatalf("output %s: %v", row.Output(), err)
	}
	m, sum := pjobManifest(t, path)
	if cert.TenantID != globex || cert.Bundle.Path != path || cert.Bundle.SHA256 != sum || cert.Actor != "jobs" ||
		cert.FilesRemoved != int64(len(globexFiles)) || m.Tenant.ID != globex {
		t.Errorf("certificate %s", row.Output())
	}
	pjobNoPartials(t, dir)

	sameFingerprint(t, "acme after globex's offboarding", acmePrint, e.fingerprint(acme))
	got := pjobFiles(t, filepath.Join(dir, acme.String()))
	if len(got) != len(acmeFiles) {
		t.Errorf("acme has %d files, had %d", len(got), len(acmeFiles))
	}
	for k, v := range acmeFiles {
		if got[k] != v {
			t.Errorf("acme file %s changed", k)
		}
	}
	var acmeStatus string
	e.scalar(&acmeStatus, `SELECT status FROM tenants WHERE id = $1`, acme)
	if acmeStatus != "active" {
		t.Errorf("acme is %s", acmeStatus)
	}
}

// Jobs that name no tenant, a tenant that is not offboarding or a bundle outside the exports
// folder are cancelled with the reason, and change nothing.
func TestPlatformJobsRefused(t *testing.T) {
	e, dir := pjobNewEnv(t)
	acme, globex := e.demo.Acme.ID, e.demo.Globex.ID
	e.exec(`UPDATE tenants SET status = 'suspended' WHERE id = $1`, acme)
	prints := map[uuid.UUID]map[string]string{acme: e.fingerprint(acme), globex: e.fingerprint(globex)}
	files := pjobFiles(t, dir)
	existing := pjobBundle(dir, "existing")
	if err := os.MkdirAll(filepath.Dir(existing), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(existing, []byte("an earlier bundle"), 0o600); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		args river.JobArgs
		want string
	}{
		{"offboard without tenant", queue.TenantOffboardArgs{BundlePath: pjobBundle(dir, "a")}, "names no tenant"},
		{"export without tenant", queue.TenantExportArgs{BundlePath: pjobBundle(dir, "b")}, "names no tenant"},
		{"offboard of an active tenant", queue.TenantOffboardArgs{TenantID: globex, BundlePath: pjobBundle(dir, "c")}, "is active"},
		{"offboard of a suspended tenant", queue.TenantOffboardArgs{TenantID: acme, BundlePath: pjobBundle(dir, "d")}, "is suspended"},
		{"offboard of an unknown tenant", queue.TenantOffboardArgs{TenantID: uuid.New(), BundlePath: pjobBundle(dir, "e")}, "no longer exists"},
		{"export outside the exports folder", queue.TenantExportArgs{TenantID: globex, BundlePath: filepath.Join(dir, globex.String(), "x.tar.gz")}, "not a file directly under"},
		{"export to a relative path", queue.TenantExportArgs{TenantID: globex, BundlePath: "exports/x.tar.gz"}, "not an absolute path"},
		{"export with dot-dot", queue.TenantExportArgs{TenantID: globex, BundlePath: filepath.Join(dir, "exports", "..", "x.tar.gz")}, "not a file directly under"},
		{"export over an existing file", queue.TenantExportArgs{TenantID: globex, BundlePath: existing}, "already exists"},
	}
	ids := make([]int64, len(cases))
	for i, c := range cases {
		// Inserted behind the platform path's back, as a stray or forged job would be.
		res, err := e.jobs.Insert(e.ctx, c.args, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		ids[i] = res.Job.ID
	}
	e.start(queue.Config{StorageDir: dir})
	for i, c := range cases {
		row := e.wait(ids[i], rivertype.JobStateCancelled)
		if msg := lastError(row); !strings.Contains(msg, c.want) || row.Attempt != 1 {
			t.Errorf("%s: cancelled after %d attempts with %q, want %q", c.name, row.Attempt, msg, c.want)
		}
	}
	for tenant, fp := range prints {
		sameFingerprint(t, "after refused platform jobs", fp, e.fingerprint(tenant))
	}
	after := pjobFiles(t, dir)
	delete(after, existing)
	if len(after) != len(files) {
		t.Errorf("%d files after refused jobs, %d before", len(after), len(files))
	}
	if data, err := os.ReadFile(existing); err != nil || string(data) != "an earlier bundle" {
		t.Errorf("an existing bundle was replaced: %q %v", data, err)
	}
	var status string
	e.scalar(&status, `SELECT status FROM tenants WHERE id = $1`, globex)
	if status != "active" {
		t.Errorf("globex is %s", status)
	}
}

// Offboarding starts in one transaction: when it rolls back, the tenant keeps its status and
// no job exists.
func TestPlatformBeginOffboardingRollsBack(t *testing.T) {
	e, dir := pjobNewEnv(t)
	globex := e.demo.Globex.ID
	p := e.st.Platform("test")
	before := e.fingerprint(globex)
	check := func(what string) {
		t.Helper()
		var status string
		e.scalar(&status, `SELECT status FROM tenants WHERE id = $1`, globex)
		var jobs int
		e.scalar(&jobs, `SELECT count(*) FROM river_job`)
		if status != "active" || jobs != 0 {
			t.Errorf("%s: globex is %s and %d jobs exist", what, status, jobs)
		}
		sameFingerprint(t, what, before, e.fingerprint(globex))
	}
	failed := errors.New("the request failed after enqueuing")
	_, err := p.BeginOffboarding(e.ctx, globex, func(ctx context.Context, tx *store.LifecycleTx) error {
		if _, _, err := queue.EnqueueTenantOffboard(ctx, tx, pjobBundle(dir, "x")); err != nil {
			return err
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("BeginOffboarding: %v", err)
	}
	check("after a failure following the enqueue")

	if _, err := p.BeginOffboarding(e.ctx, globex, func(context.Context, *store.LifecycleTx) error { return nil }); err == nil {
		t.Error("offboarding started without a job to finish it")
	}
	check("after an offboarding without a job")

	if _, err := p.BeginOffboarding(e.ctx, globex, func(ctx context.Context, tx *store.LifecycleTx) error {
		_, err := tx.Enqueue(ctx, queue.TenantOffboardArgs{TenantID: e.demo.Acme.ID, BundlePath: pjobBundle(dir, "y")})
		return err
	}); err == nil {
		t.Error("globex's offboarding enqueued a job for acme")
	}
	check("after a job for another tenant")

	if _, err := p.ScheduleExport(e.ctx, globex, func(ctx context.Context, tx *store.LifecycleTx) error {
		if _, err := queue.EnqueueTenantExport(ctx, tx, pjobBundle(dir, "z")); err != nil {
			return err
		}
		return failed
	}); !errors.Is(err, failed) {
		t.Errorf("ScheduleExport: %v", err)
	}
	check("after a failed export schedule")
	if n := e.pjobAudits(globex, "tenant.offboard.start") + e.pjobAudits(globex, "tenant.export.schedule"); n != 0 {
		t.Errorf("%d audit events of rolled-back changes", n)
	}
}

// An offboarding job whose earlier attempt deleted the tenant's rows and put its bundle in
// place, then stopped before removing the tenant's files, finishes on its retry: the existing
// bundle is its own, so the retry removes the files and records the final certificate instead
// of being refused for naming an existing file. With nothing pending, a job naming an existing
// bundle is still refused.
func TestPlatformOffboardJobResumes(t *testing.T) {
	e, dir := pjobNewEnv(t)
	globex := e.demo.Globex.ID
	globexDir := filepath.Join(dir, globex.String())
	files := pjobFiles(t, globexDir)
	if len(files) == 0 {
		t.Fatal("fixture has no globex files")
	}
	path := pjobBundle(dir, "globex-offboard")
	var first int64
	if _, err := e.st.Platform("test").BeginOffboarding(e.ctx, globex, func(ctx context.Context, tx *store.LifecycleTx) error {
		var err error
		first, _, err = queue.EnqueueTenantOffboard(ctx, tx, path)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	e.start(queue.Config{StorageDir: dir})
	e.wait(first, rivertype.JobStateCompleted)

	// The state an attempt that stopped after the rows leaves: rows gone, bundle in place,
	// files still there, no final record.
	for rel, content := range files {
		p := filepath.Join(globexDir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.exec(`DELETE FROM platform_events WHERE kind = 'tenant.offboard' AND subject_tenant_id = $1`, globex)

	// The job runs again, as River retries an attempt that never reported back.
	retry := func() {
		e.exec(`UPDATE river_job SET state = 'available', finalized_at = NULL, scheduled_at = now(), metadata = metadata - 'output' WHERE id = $1`, first)
	}
	retry()
	row := e.wait(first, rivertype.JobStateCompleted, rivertype.JobStateCancelled)
	if row.State != rivertype.JobStateCompleted {
		t.Fatalf("the retry ended %s: %s", row.State, lastError(row))
	}
	var cert store.DeletionCertificate
	if err := json.Unmarshal(row.Output(), &cert); err != nil {
		t.Fatalf("output %s: %v", row.Output(), err)
	}
	if cert.TenantID != globex || cert.Bundle.Path != path || cert.FilesRemoved != int64(len(files)) {
		t.Errorf("certificate %s", row.Output())
	}
	if _, err := os.Stat(globexDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("globex's files remain: %v", err)
	}
	var finals int
	e.scalar(&finals, `SELECT count(*) FROM platform_events WHERE kind = 'tenant.offboard' AND subject_tenant_id = $1`, globex)
	if finals != 1 {
		t.Errorf("%d final records", finals)
	}

	// Finished: run once more, the job is refused for naming an existing bundle, which stays.
	retry()
	row = e.wait(first, rivertype.JobStateCancelled)
	if msg := lastError(row); !strings.Contains(msg, "already exists") {
		t.Errorf("a job over a finished offboarding's bundle: %q", msg)
	}
	if _, sum := pjobManifest(t, path); sum != cert.Bundle.SHA256 {
		t.Error("the bundle changed")
	}
}
