package httpapi

// The platform API: tenant lifecycle for the operator. Every route here is KindPlatform, so the
// wrapper admits only the operator token and no tenant credential ever reaches these handlers;
// they act through the store's explicitly named platform path, which records each change in the
// tenant's audit log and the platform log.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/store"
)

func (s *Server) platformRoutes() []Route {
	const base = "/api/platform/tenants"
	return []Route{
		{Method: "GET", Pattern: base, Kind: KindPlatform, Summary: "List tenants", Handler: s.listPlatformTenants},
		{Method: "POST", Pattern: base, Kind: KindPlatform, Summary: "Provision a tenant with its owner", Handler: s.createPlatformTenant,
			Responses: map[int]string{http.StatusCreated: "Provisioned: the tenant and its owner"}},
		{Method: "GET", Pattern: base + "/{slug}", Kind: KindPlatform, Summary: "Get a tenant", Handler: s.getPlatformTenant},
		{Method: "PATCH", Pattern: base + "/{slug}", Kind: KindPlatform, Summary: "Rename a tenant (slug, name, primary domain) or change its self-registration", Handler: s.patchPlatformTenant},
		{Method: "DELETE", Pattern: base + "/{slug}", Kind: KindPlatform, Summary: "Offboard a tenant: export bundle, deletion of every row and file, deletion certificate (with Prefer: respond-async, 202 and a background job)", Handler: s.offboardPlatformTenant,
			RespondAsync: true, Responses: map[int]string{
				http.StatusOK:       "Offboarded: the deletion certificate",
				http.StatusAccepted: "With Prefer: respond-async, offboarding started: the tenant's status, the job that finishes it (GET /api/platform/jobs/{id}) and its bundle's path",
			}},
		{Method: "POST", Pattern: base + "/{slug}/suspend", Kind: KindPlatform, Summary: "Suspend a tenant (every tenant route answers 403 tenant_suspended)", Handler: s.suspendPlatformTenant},
		{Method: "POST", Pattern: base + "/{slug}/resume", Kind: KindPlatform, Summary: "Resume a suspended tenant", Handler: s.resumePlatformTenant},
		{Method: "GET", Pattern: base + "/{slug}/export", Kind: KindPlatform, Summary: "The tenant's export bundle (tar.gz with manifest.json, tables/*.jsonl, files/*)", Handler: s.exportPlatformTenant,
			MediaType: "application/gzip"},
		{Method: "GET", Pattern: base + "/{slug}/usage", Kind: KindPlatform, Summary: "The tenant's traffic since start and its rows per table", Handler: s.platformTenantUsage},
		{Method: "GET", Pattern: "/api/platform/jobs/{id}", Kind: KindPlatform, Summary: "A background job (an offboarding started with Prefer: respond-async, say): state, attempts, errors and output", Handler: s.getPlatformJob},
	}
}

// getPlatformJob shows a background job, so that an operator who started one through the API
// can follow it there (the CLI's tenant job does the same).
func (s *Server) getPlatformJob(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return errNotFound()
	}
	job, err := s.lifecycle().Job(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, job)
}

// lifecycle is the operator's view of the tenant lifecycle.
func (s *Server) lifecycle() Lifecycle {
	return Lifecycle{Store: s.store, Actor: "operator", BaseDomain: s.cfg.BaseDomain, StorageDir: s.cfg.StorageDir}
}

func platTenantID(t store.Tenant) uuid.UUID { return t.ID }

func (s *Server) listPlatformTenants(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	items, err := s.lifecycle().List(r.Context(), p)
	if err != nil {
		return err
	}
	return writeList(w, items, p, platTenantID)
}

func (s *Server) createPlatformTenant(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
	var in NewTenantRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	out, err := s.lifecycle().Create(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/platform/tenants/"+out.Tenant.Slug)
	return writeJSON(w, http.StatusCreated, out)
}

func (s *Server) getPlatformTenant(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
	t, err := s.lifecycle().Tenant(r.Context(), r.PathValue("slug"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

// platPatchBody is a PATCH of a tenant. primary_domain is kept raw to tell null (remove the
// domain) from absent (keep it).
type platPatchBody struct {
	Slug                  *string         `json:"slug"`
	Name                  *string         `json:"name"`
	PrimaryDomain         json.RawMessage `json:"primary_domain"`
	AllowSelfRegistration *bool           `json:"allow_self_registration"`
}

func (s *Server) patchPlatformTenant(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
	var in platPatchBody
	if err := decode(r, &in); err != nil {
		return err
	}
	u := TenantUpdate{Slug: in.Slug, Name: in.Name, AllowSelfRegistration: in.AllowSelfRegistration}
	l := s.lifecycle()
	if _, err := l.Tenant(r.Context(), r.PathValue("slug")); err != nil {
		return err
	}
	switch raw := bytes.TrimSpace(in.PrimaryDomain); {
	case len(raw) == 0:
	case bytes.Equal(raw, []byte("null")):
		u.ClearPrimaryDomain = true
	default:
		var d string
		if err := json.Unmarshal(raw, &d); err != nil {
			return errField("primary_domain", "must be a host name or null")
		}
		u.PrimaryDomain = &d
	}
	t, err := l.Update(r.Context(), r.PathValue("slug"), u)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

func (s *Server) suspendPlatformTenant(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
	t, err := s.lifecycle().Suspend(r.Context(), r.PathValue("slug"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

func (s *Server) resumePlatformTenant(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
	t, err := s.lifecycle().Resume(r.Context(), r.PathValue("slug"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

func (s *Server) offboardPlatformTenant(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
	if pjobPrefersAsync(r) {
		// The status change and the job that finishes the offboarding commit together.
		job, err := s.lifecycle().StartOffboarding(r.Context(), r.PathValue("slug"))
		if err != nil {
			return err
		}
		w.Header().Set("Preference-Applied", "respond-async")
		return writeJSON(w, http.StatusAccepted, job)
	}
	allowLongWrite(w)
	cert, err := s.lifecycle().Offboard(r.Context(), r.PathValue("slug"), "")
	if err != nil {
		if cert != nil {
			// The tenant is gone but something after the deletion failed (a stored file that
			// could not be removed, say): log it and still hand the operator the certificate.
			s.logError(r.Context(), "offboarding finished with errors", err)
			return writeJSON(w, http.StatusOK, cert)
		}
		return err
	}
	return writeJSON(w, http.StatusOK, cert)
}

// wholeTenantWriteTime is how long a response about a whole tenant (its export bundle, a
// synchronous offboarding's certificate) may take to write: far beyond the server's write
// timeout, which suits every other route, since a large tenant's bundle takes minutes to build
// and download.
const wholeTenantWriteTime = 2 * time.Hour

// allowLongWrite lifts the server's write deadline for this response to wholeTenantWriteTime.
// A writer without deadlines (a test recorder) has none to lift.
func allowLongWrite(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wholeTenantWriteTime))
}

// pjobPrefersAsync reports whether the request carries the preference respond-async (RFC 7240):
// Prefer holds comma-separated preferences, each a token with optional "=value" and
// ";parameters".
func pjobPrefersAsync(r *http.Request) bool {
	for _, v := range r.Header.Values("Prefer") {
		for _, pref := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(pref, ";")
			name, _, _ = strings.Cut(name, "=")
			if strings.EqualFold(strings.TrimSpace(name), "respond-async") {
				return true
			}
		}
	}
	return false
}

func (s *Server) exportPlatformTenant(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
	l := s.lifecycle()
	t, err := l.Tenant(r.Context(), r.PathValue("slug"))
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/gzip")
	h.Set("Content-Disposition", `attachment; filename="`+t.Slug+`-export.tar.gz"`)
	h.Set("Cache-Control", "no-store")
	allowLongWrite(w)
	if _, err := l.Export(r.Context(), t.Slug, w); err != nil {
		for k := range h {
			delete(h, k)
		}
		return err
	}
	return nil
}

// platUsage is a tenant's usage report.
type platUsage struct {
	Tenant  store.Tenant     `json:"tenant"`
	Traffic UsageSnapshot    `json:"traffic"`
	Rows    map[string]int64 `json:"rows"`
	Total   int64            `json:"total_rows"`
}

func (s *Server) platformTenantUsage(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
	l := s.lifecycle()
	t, err := l.Tenant(r.Context(), r.PathValue("slug"))
	if err != nil {
		return err
	}
	rows, err := s.store.Platform(l.Actor).TenantRowCounts(r.Context(), t.ID)
	if err != nil {
		return err
	}
	u := platUsage{Tenant: t, Traffic: s.TenantUsage(t.ID), Rows: rows}
	for _, n := range rows {
		u.Total += n
	}
	return writeJSON(w, http.StatusOK, u)
}
