package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/auth"
	"tenantd/internal/store"
	"tenantd/internal/store/queue"
	"tenantd/internal/tenancy"
)

// Lifecycle is the tenant lifecycle (provision, rename, suspend, resume, export, offboard)
// with the rules the platform API applies. The API and the `tenantd tenant` command both use
// it, so that the shell and HTTP cannot drift apart in what they accept or do.
type Lifecycle struct {
	Store *store.Store
	// Actor names who acts in the audit and platform logs ("operator", "cli").
	Actor string
	// BaseDomain is the apex of tenant hosts; no primary domain may sit at or under it, since
	// such hosts are read as slugs.
	BaseDomain string
	// StorageDir holds the attachments (StorageDir/<tenant id>/...) and, by default,
	// offboarding bundles (StorageDir/exports/).
	StorageDir string
}

// MinOwnerPassword is the shortest password a provisioned owner may get.
const MinOwnerPassword = 10

// NewTenantRequest is a tenant to provision with its first owner.
type NewTenantRequest struct {
	Slug          string  `json:"slug"`
	Name          string  `json:"name"`
	PrimaryDomain *string `json:"primary_domain"`
	OwnerEmail    string  `json:"owner_email"`
	OwnerName     string  `json:"owner_name"`
	OwnerPassword string  `json:"owner_password"`
}

// TenantOwner is the user who owns a newly provisioned tenant.
type TenantOwner struct {
	ID    uuid.UUID `json:"id"`
	Email string    `json:"email"`
	Name  string    `json:"name"`
}

// ProvisionedTenant is what provisioning made.
type ProvisionedTenant struct {
	Tenant store.Tenant `json:"tenant"`
	Owner  TenantOwner  `json:"owner"`
}

// TenantUpdate changes a tenant's names; nil fields stay as they are. ClearPrimaryDomain
// removes the primary domain.
type TenantUpdate struct {
	Slug                  *string
	Name                  *string
	PrimaryDomain         *string
	ClearPrimaryDomain    bool
	AllowSelfRegistration *bool
}

// platLabel is one DNS label of a primary domain.
var platLabel = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// platDomain normalises a primary domain (lowercase, no trailing dot) and returns it with the
// reason it is refused, if it is.
func (l Lifecycle) platDomain(d string) (string, string) {
	d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
	labels := strings.Split(d, ".")
	if d == "" || len(d) > 253 || len(labels) < 2 || net.ParseIP(d) != nil {
		return d, "must be a lowercase host name such as clients.example.com"
	}
	for _, lb := range labels {
		if !platLabel.MatchString(lb) {
			return d, "must be a lowercase host name such as clients.example.com"
		}
	}
	base := strings.TrimSuffix(strings.ToLower(l.BaseDomain), ".")
	if base == "" {
		base = "localhost"
	}
	if d == base || strings.HasSuffix(d, "."+base) || d == "localhost" || strings.HasSuffix(d, ".localhost") {
		return d, "must not be " + base + " or a host under it (those name tenants by slug)"
	}
	return d, ""
}

func platCheckSlug(f *fields, slug string) {
	if !tenancy.SlugPattern.MatchString(slug) {
		f.add("slug", "must be lowercase letters, digits and inner hyphens (1 to 63)")
	}
}

func platCheckName(f *fields, name string) {
	if name == "" || len([]rune(name)) > 200 {
		f.add("name", "must be 1 to 200 characters")
	}
}

// Create provisions a complete, usable tenant: the tenant, its owner (a new user, or the
// existing user with that email, who then keeps their password), the owner's membership, every
// settings singleton and the invoice sequence, in one transaction.
func (l Lifecycle) Create(ctx context.Context, req NewTenantRequest) (*ProvisionedTenant, error) {
	var f fields
	req.Slug = strings.TrimSpace(req.Slug)
	req.Name = strings.TrimSpace(req.Name)
	req.OwnerEmail = strings.TrimSpace(req.OwnerEmail)
	req.OwnerName = strings.TrimSpace(req.OwnerName)
	platCheckSlug(&f, req.Slug)
	platCheckName(&f, req.Name)
	if req.PrimaryDomain != nil {
		d, msg := l.platDomain(*req.PrimaryDomain)
		if msg != "" {
			f.add("primary_domain", msg)
		}
		req.PrimaryDomain = &d
	}
	if a, err := mail.ParseAddress(req.OwnerEmail); err != nil || a.Address != req.OwnerEmail || len(req.OwnerEmail) > 320 {
		f.add("owner_email", "must be a valid email address")
	}
	if req.OwnerName == "" || len([]rune(req.OwnerName)) > 200 {
		f.add("owner_name", "must be 1 to 200 characters")
	}
	if n := len([]rune(req.OwnerPassword)); n < MinOwnerPassword || len(req.OwnerPassword) > 1024 {
		f.add("owner_password", fmt.Sprintf("must be at least %d characters (and at most 1024 bytes)", MinOwnerPassword))
	}
	if err := f.err(); err != nil {
		return nil, err
	}
	hash, err := auth.HashPassword(ctx, req.OwnerPassword)
	if err != nil {
		return nil, err
	}
	t, err := l.Store.Platform(l.Actor).CreateTenant(ctx, store.NewTenant{Slug: req.Slug, Name: req.Name,
		PrimaryDomain: req.PrimaryDomain, OwnerEmail: req.OwnerEmail, OwnerName: req.OwnerName, OwnerPassword: hash})
	if err != nil {
		return nil, platConflict(err)
	}
	u, err := l.Store.UserByEmail(ctx, req.OwnerEmail)
	if err != nil {
		return nil, err
	}
	return &ProvisionedTenant{Tenant: t, Owner: TenantOwner{ID: u.ID, Email: u.Email, Name: u.Name}}, nil
}

// platConflict words the uniqueness conflicts of the tenants table for an operator.
func platConflict(err error) error {
	var ce *store.ConflictError
	switch {
	case errors.As(err, &ce) && strings.Contains(ce.Constraint, "slug"):
		return errConflict("Another tenant already has this slug.")
	case errors.As(err, &ce) && strings.Contains(ce.Constraint, "primary_domain"):
		return errConflict("Another tenant already has this primary domain.")
	case errors.Is(err, store.ErrOffboarding):
		return errConflict("The tenant is being offboarded; it can only be exported or offboarded.")
	}
	return err
}

// List returns one page of tenants, newest first.
func (l Lifecycle) List(ctx context.Context, p store.Page) ([]store.Tenant, error) {
	return l.Store.Platform(l.Actor).ListTenants(ctx, p)
}

// Tenant finds a tenant by slug; anything that is not a slug is simply not found.
func (l Lifecycle) Tenant(ctx context.Context, slug string) (store.Tenant, error) {
	if !tenancy.SlugPattern.MatchString(slug) {
		return store.Tenant{}, errNotFound()
	}
	return l.Store.Platform(l.Actor).TenantBySlug(ctx, slug)
}

// Update renames a tenant (slug, name, primary domain) or opens or closes its
// self-registration. The tenant is looked up before the change is validated, so an unknown
// slug is always the same 404.
func (l Lifecycle) Update(ctx context.Context, slug string, u TenantUpdate) (store.Tenant, error) {
	t, err := l.Tenant(ctx, slug)
	if err != nil {
		return store.Tenant{}, err
	}
	var f fields
	c := store.TenantChange{AllowSelfRegistration: u.AllowSelfRegistration, ClearPrimaryDomain: u.ClearPrimaryDomain}
	if u.Slug != nil {
		s := strings.TrimSpace(*u.Slug)
		platCheckSlug(&f, s)
		c.Slug = &s
	}
	if u.Name != nil {
		n := strings.TrimSpace(*u.Name)
		platCheckName(&f, n)
		c.Name = &n
	}
	if u.PrimaryDomain != nil && !u.ClearPrimaryDomain {
		d, msg := l.platDomain(*u.PrimaryDomain)
		if msg != "" {
			f.add("primary_domain", msg)
		}
		c.PrimaryDomain = &d
	}
	if err := f.err(); err != nil {
		return store.Tenant{}, err
	}
	out, err := l.Store.Platform(l.Actor).UpdateTenant(ctx, t.ID, c)
	return out, platConflict(err)
}

// Suspend makes every tenant route of the tenant answer 403 tenant_suspended, for existing
// sessions and API tokens too, until Resume. Nothing is deleted.
func (l Lifecycle) Suspend(ctx context.Context, slug string) (store.Tenant, error) {
	return l.setStatus(ctx, slug, "suspended")
}

// Resume gives a suspended tenant its access back.
func (l Lifecycle) Resume(ctx context.Context, slug string) (store.Tenant, error) {
	return l.setStatus(ctx, slug, "active")
}

func (l Lifecycle) setStatus(ctx context.Context, slug, status string) (store.Tenant, error) {
	t, err := l.Tenant(ctx, slug)
	if err != nil {
		return store.Tenant{}, err
	}
	out, err := l.Store.Platform(l.Actor).SetTenantStatus(ctx, t.ID, status)
	return out, platConflict(err)
}

// Export writes the tenant's export bundle (tar.gz) to w.
func (l Lifecycle) Export(ctx context.Context, slug string, w io.Writer) (*store.ExportResult, error) {
	t, err := l.Tenant(ctx, slug)
	if err != nil {
		return nil, err
	}
	return l.Store.Platform(l.Actor).ExportTenant(ctx, t.ID, l.StorageDir, w)
}

// BundlePath is where an offboarding bundle of tenant id goes by default:
// StorageDir/exports/<tenant id>-<UTC time>.tar.gz (outside every tenant's file prefix, so it
// survives the removal of the tenant's files).
func (l Lifecycle) BundlePath(id uuid.UUID, at time.Time) (string, error) {
	if l.StorageDir == "" {
		return "", errors.New("no storage directory is configured for export bundles")
	}
	return filepath.Join(l.StorageDir, "exports", fmt.Sprintf("%s-%s.tar.gz", id, at.UTC().Format("20060102T150405.000000000Z"))), nil
}

// Offboard removes the tenant for good after writing its export bundle (to bundlePath, or
// BundlePath when empty) and returns the deletion certificate. Once started it runs to the
// end even if ctx is cancelled: a half-offboarded tenant helps no one (and if the process
// dies, running it again finishes the job).
func (l Lifecycle) Offboard(ctx context.Context, slug, bundlePath string) (*store.DeletionCertificate, error) {
	t, err := l.Tenant(ctx, slug)
	if errors.Is(err, store.ErrNotFound) {
		// The process may have stopped after the tenant's rows were deleted and before its
		// files were: that offboarding is finished now, under the slug the tenant had.
		cert, ferr := l.Store.Platform(l.Actor).FinishInterruptedOffboarding(context.WithoutCancel(ctx), uuid.Nil, slug, l.StorageDir)
		if errors.Is(ferr, store.ErrNotFound) {
			return nil, err
		}
		return cert, ferr
	}
	if err != nil {
		return nil, err
	}
	if bundlePath == "" {
		if bundlePath, err = l.BundlePath(t.ID, time.Now()); err != nil {
			return nil, err
		}
	}
	return l.Store.Platform(l.Actor).OffboardTenant(context.WithoutCancel(ctx), t.ID, l.StorageDir, bundlePath)
}

// OffboardingJob is an offboarding started in the background: the tenant's status (from now
// on offboarding), the job that finishes it and the bundle that job writes.
type OffboardingJob struct {
	JobID      int64  `json:"job_id"`
	Status     string `json:"status"`
	BundlePath string `json:"bundle_path"`
}

// StartOffboarding starts offboarding the tenant and leaves the rest to a background job: the
// status change (after which no credential works for the tenant) and the job commit together.
// Asking again while the job is queued or running returns the same job.
func (l Lifecycle) StartOffboarding(ctx context.Context, slug string) (*OffboardingJob, error) {
	t, err := l.Tenant(ctx, slug)
	if err != nil {
		return nil, err
	}
	path, err := l.pjobBundlePath(t.ID)
	if err != nil {
		return nil, err
	}
	job := &OffboardingJob{}
	now, err := l.Store.Platform(l.Actor).BeginOffboarding(ctx, t.ID, func(ctx context.Context, tx *store.LifecycleTx) error {
		var err error
		job.JobID, job.BundlePath, err = queue.EnqueueTenantOffboard(ctx, tx, path)
		return err
	})
	if err != nil {
		return nil, err
	}
	job.Status = now.Status
	return job, nil
}

// ExportJob is an export scheduled in the background: the job and the bundle it writes.
type ExportJob struct {
	JobID      int64  `json:"job_id"`
	BundlePath string `json:"bundle_path"`
}

// ScheduleExport schedules the tenant's export in the background; the bundle goes under
// StorageDir/exports/.
func (l Lifecycle) ScheduleExport(ctx context.Context, slug string) (*ExportJob, error) {
	t, err := l.Tenant(ctx, slug)
	if err != nil {
		return nil, err
	}
	path, err := l.pjobBundlePath(t.ID)
	if err != nil {
		return nil, err
	}
	job := &ExportJob{BundlePath: path}
	_, err = l.Store.Platform(l.Actor).ScheduleExport(ctx, t.ID, func(ctx context.Context, tx *store.LifecycleTx) error {
		var err error
		job.JobID, err = queue.EnqueueTenantExport(ctx, tx, path)
		return err
	})
	if err != nil {
		return nil, err
	}
	return job, nil
}

// pjobBundlePath is BundlePath made absolute: the workers accept only absolute paths, and
// resolve the storage directory the same way.
func (l Lifecycle) pjobBundlePath(id uuid.UUID) (string, error) {
	p, err := l.BundlePath(id, time.Now())
	if err != nil {
		return "", err
	}
	return filepath.Abs(p)
}

// Job reports a background job's state, attempts, errors and output.
func (l Lifecycle) Job(ctx context.Context, id int64) (store.JobInfo, error) {
	return l.Store.Platform(l.Actor).Job(ctx, id)
}

// DescribeError says what went wrong in the words the API would use (code, detail and the
// invalid fields); an unexpected error is shown as it is, for the operator at a shell.
func DescribeError(err error) string {
	p := asProblem(err)
	if p.status >= 500 {
		return err.Error()
	}
	var b strings.Builder
	b.WriteString(p.code + ": " + p.detail)
	for _, f := range p.fields {
		b.WriteString("\n  " + f.Field + " " + f.Message)
	}
	return b.String()
}
