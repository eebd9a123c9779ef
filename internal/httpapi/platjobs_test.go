package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tenantd/internal/httpapi"
	"tenantd/internal/seed"
	"tenantd/internal/store"
	"tenantd/internal/store/queue"
)

// pjobStartQueue runs the background workers on the test's database until the test ends.
func pjobStartQueue(t *testing.T, e *env, dir string) {
	t.Helper()
	q, err := queue.Start(context.Background(), e.st, queue.Config{DatabaseURL: e.db.AppURL, StorageDir: dir,
		DispatchInterval: -1, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q.Stop(ctx); err != nil {
			t.Errorf("stop queue: %v", err)
		}
	})
}

// pjobWait polls job id until it is finalized.
func pjobWait(t *testing.T, e *env, id int64) store.JobInfo {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, err := e.st.Platform("test").Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.FinalizedAt != nil {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d is %s after 20s: %+v", id, j.State, j.Errors)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// DELETE with Prefer: respond-async starts the offboarding (status and job in one
// transaction) and answers 202 at once; the tenant's credentials stop working immediately, and
// the job removes the tenant while acme is untouched.
func TestPlatOffboardAsync(t *testing.T) {
	e, dir := newPlatEnv(t)
	op := platOperator(e)
	super := platSuper(t, e)
	acme, globex := e.demo.Acme.ID, e.demo.Globex.ID
	globexOwner := e.login("owner@globex.test", "")
	globexClient := e.login("client@globex.test", "")
	acmeOwner := e.login("owner@acme.test", "")
	acmePrint := platFingerprint(t, super, acme)
	acmeFiles := platDirDigest(t, filepath.Join(dir, acme.String()))
	globexFiles := platDirDigest(t, filepath.Join(dir, globex.String()))
	mustStatus(t, globexOwner.do("GET", "/api/admin/services", nil), http.StatusOK)

	mustStatus(t, op.do("DELETE", "/api/platform/tenants/nobody", map[string]any{}, "Prefer", "respond-async"), http.StatusNotFound, "not_found")
	mustStatus(t, e.anon().do("DELETE", "/api/platform/tenants/globex", nil, "Prefer", "respond-async"), http.StatusUnauthorized)
	mustStatus(t, acmeOwner.do("DELETE", "/api/platform/tenants/globex", nil, "Prefer", "respond-async"), http.StatusUnauthorized)

	r := op.do("DELETE", "/api/platform/tenants/globex", nil, "Prefer", "wait=5, respond-async")
	mustStatus(t, r, http.StatusAccepted)
	if got := r.Header.Get("Preference-Applied"); got != "respond-async" {
		t.Errorf("Preference-Applied %q", got)
	}
	var job httpapi.OffboardingJob
	r.decode(t, &job)
	if job.JobID == 0 || job.Status != "offboarding" || !strings.HasPrefix(job.BundlePath, filepath.Join(dir, "exports")+string(filepath.Separator)) {
		t.Fatalf("202 body %s", r.Body)
	}

	// Nothing has run yet, and the tenant is already closed.
	r = op.do("GET", "/api/platform/tenants/globex", nil)
	mustStatus(t, r, http.StatusOK)
	var tn store.Tenant
	r.decode(t, &tn)
	if tn.Status != "offboarding" {
		t.Errorf("globex is %s", tn.Status)
	}
	mustStatus(t, globexOwner.do("GET", "/api/admin/services", nil), http.StatusForbidden, "tenant_suspended")
	mustStatus(t, globexClient.do("GET", "/api/bookings", nil), http.StatusForbidden, "tenant_suspended")
	mustStatus(t, e.anon().do("POST", "/api/auth/login", map[string]string{"email": "owner@globex.test", "password": seed.Password}),
		http.StatusForbidden, "tenant_suspended")
	mustStatus(t, op.do("POST", "/api/platform/tenants/globex/resume", map[string]any{}), http.StatusConflict, "conflict")
	if j, err := e.st.Platform("test").Job(context.Background(), job.JobID); err != nil || j.Kind != "tenant.offboard" || j.FinalizedAt != nil {
		t.Fatalf("job before the workers run: %+v %v", j, err)
	}
	// Asking again while the job waits returns the same job.
	r = op.do("DELETE", "/api/platform/tenants/globex", nil, "Prefer", "respond-async")
	mustStatus(t, r, http.StatusAccepted)
	var again httpapi.OffboardingJob
	r.decode(t, &again)
	if again != job {
		t.Errorf("second request %+v, first %+v", again, job)
	}

	pjobStartQueue(t, e, dir)
	done := pjobWait(t, e, job.JobID)
	if done.State != "completed" {
		t.Fatalf("job %s: %+v", done.State, done.Errors)
	}
	var cert store.DeletionCertificate
	if err := json.Unmarshal(done.Output, &cert); err != nil {
		t.Fatalf("output %s: %v", done.Output, err)
	}
	if cert.TenantID != globex || cert.Bundle.Path != job.BundlePath || cert.FilesRemoved != int64(len(globexFiles)) {
		t.Errorf("certificate %s", done.Output)
	}
	// The operator follows the job through the API as well.
	r = op.do("GET", fmt.Sprintf("/api/platform/jobs/%d", job.JobID), nil)
	mustStatus(t, r, http.StatusOK)
	var shown store.JobInfo
	r.decode(t, &shown)
	var shownCert store.DeletionCertificate
	if err := json.Unmarshal(shown.Output, &shownCert); err != nil || shown.ID != job.JobID || shown.State != "completed" ||
		shown.Kind != "tenant.offboard" || shownCert.Bundle != cert.Bundle || !shownCert.DeletedAt.Equal(cert.DeletedAt) {
		t.Errorf("GET job: %s", r.Body)
	}
	mustStatus(t, acmeOwner.do("GET", fmt.Sprintf("/api/platform/jobs/%d", job.JobID), nil), http.StatusUnauthorized)
	mustStatus(t, op.do("GET", "/api/platform/jobs/999999999", nil), http.StatusNotFound, "not_found")
	mustStatus(t, op.do("GET", "/api/platform/jobs/nope", nil), http.StatusNotFound, "not_found")
	if _, err := os.Stat(job.BundlePath); err != nil {
		t.Errorf("bundle: %v", err)
	}

	// globex is gone: rows, tenant, files, credentials.
	for table, n := range platCounts(t, super, globex) {
		if n != 0 {
			t.Errorf("%s still holds %d globex rows", table, n)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, globex.String())); !os.IsNotExist(err) {
		t.Errorf("globex's storage directory remains: %v", err)
	}
	mustStatus(t, op.do("GET", "/api/platform/tenants/globex", nil), http.StatusNotFound, "not_found")
	mustStatus(t, globexOwner.do("GET", "/api/auth/session", nil), http.StatusUnauthorized, "unauthenticated")

	// acme is exactly as it was, and works.
	if got := platFingerprint(t, super, acme); got != acmePrint {
		t.Errorf("acme's rows changed")
	}
	got := platDirDigest(t, filepath.Join(dir, acme.String()))
	if len(got) != len(acmeFiles) {
		t.Errorf("acme's files changed")
	}
	for k, v := range acmeFiles {
		if got[k] != v {
			t.Errorf("acme file %s changed", k)
		}
	}
	mustStatus(t, acmeOwner.do("GET", "/api/admin/services", nil), http.StatusOK)
}

// The asynchronous export of the CLI: a job that writes the bundle under exports/ and reports
// it; the tenant keeps working.
func TestPlatExportJobFromLifecycle(t *testing.T) {
	e, dir := newPlatEnv(t)
	l := httpapi.Lifecycle{Store: e.st, Actor: "cli", BaseDomain: "localhost", StorageDir: dir}
	ctx := context.Background()
	if _, err := l.ScheduleExport(ctx, "nobody"); err == nil {
		t.Error("export of an unknown tenant scheduled")
	}
	job, err := l.ScheduleExport(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	pjobStartQueue(t, e, dir)
	done := pjobWait(t, e, job.JobID)
	if done.State != "completed" || done.Kind != "tenant.export" {
		t.Fatalf("job %s %s: %+v", done.Kind, done.State, done.Errors)
	}
	var out queue.ExportJobResult
	if err := json.Unmarshal(done.Output, &out); err != nil || out.Path != job.BundlePath || out.TenantID != e.demo.Acme.ID {
		t.Fatalf("output %s: %v", done.Output, err)
	}
	data, err := os.ReadFile(job.BundlePath)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := platCheckBundle(t, data)
	if m.Tenant.Slug != "acme" || int64(len(data)) != out.Size {
		t.Errorf("bundle of %s, %d bytes (output says %d)", m.Tenant.Slug, len(data), out.Size)
	}
	if _, err := l.Job(ctx, 1<<40); err == nil {
		t.Error("an unknown job was found")
	}
	mustStatus(t, e.login("owner@acme.test", "").do("GET", "/api/admin/services", nil), http.StatusOK)
}
