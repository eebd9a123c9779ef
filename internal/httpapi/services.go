package httpapi

import (
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/google/uuid"

	"tenantd/internal/auth"
	"tenantd/internal/store"
	"tenantd/internal/tenancy"
)

func (s *Server) serviceRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/admin/services", Kind: KindTenant, Permission: auth.PermServicesRead, Summary: "List services", Handler: s.listServices},
		{Method: "POST", Pattern: "/api/admin/services", Kind: KindTenant, Permission: auth.PermServicesManage, Creates: true, Summary: "Create a service", Handler: s.createService},
		{Method: "GET", Pattern: "/api/admin/services/{id}", Kind: KindTenant, Permission: auth.PermServicesRead, Summary: "Get a service", Handler: s.getService},
		{Method: "PATCH", Pattern: "/api/admin/services/{id}", Kind: KindTenant, Permission: auth.PermServicesManage, Summary: "Change a service", Handler: s.patchService},
		{Method: "DELETE", Pattern: "/api/admin/services/{id}", Kind: KindTenant, Permission: auth.PermServicesManage, Summary: "Delete a service", Handler: s.deleteService},
		{Method: "GET", Pattern: "/api/services", Kind: KindPublic, HostTenant: true, Summary: "The tenant's active services", Handler: s.publicServices},
		{Method: "GET", Pattern: "/api/services/{slug}", Kind: KindPublic, HostTenant: true, Summary: "One active service by slug", Handler: s.publicService},
		{Method: "GET", Pattern: "/api/admin/settings/services", Kind: KindTenant, Permission: auth.PermSettingsRead, Summary: "Service defaults", Handler: s.getServiceSettings},
		{Method: "PUT", Pattern: "/api/admin/settings/services", Kind: KindTenant, Permission: auth.PermSettingsManage, Summary: "Replace service defaults", Handler: s.putServiceSettings},
	}
}

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

func serviceID(v store.Service) uuid.UUID { return v.ID }

func (s *Server) listServices(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	items, err := sc.ListServices(r.Context(), p, false)
	if err != nil {
		return err
	}
	return writeList(w, items, p, serviceID)
}

func (s *Server) publicServices(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	items, err := sc.ListServices(r.Context(), p, true)
	if err != nil {
		return err
	}
	return writeList(w, items, p, serviceID)
}

func (s *Server) publicService(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	slug := r.PathValue("slug")
	if !tenancy.SlugPattern.MatchString(slug) {
		return errNotFound()
	}
	v, err := sc.GetServiceBySlug(r.Context(), slug, true)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) getService(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := sc.GetService(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// serviceBody is a service as clients send it; pointers tell PATCH which fields were given.
type serviceBody struct {
	Slug            *string `json:"slug"`
	Name            *string `json:"name"`
	Description     *string `json:"description"`
	DurationMinutes *int    `json:"duration_minutes"`
	PriceCents      *int64  `json:"price_cents"`
	Currency        *string `json:"currency"`
	Active          *bool   `json:"active"`
}

// apply merges the given fields over in and validates the result.
func (b serviceBody) apply(in store.ServiceInput) (store.ServiceInput, error) {
	if b.Slug != nil {
		in.Slug = strings.TrimSpace(*b.Slug)
	}
	if b.Name != nil {
		in.Name = strings.TrimSpace(*b.Name)
	}
	if b.Description != nil {
		in.Description = *b.Description
	}
	if b.DurationMinutes != nil {
		in.DurationMinutes = *b.DurationMinutes
	}
	if b.PriceCents != nil {
		in.PriceCents = *b.PriceCents
	}
	if b.Currency != nil {
		in.Currency = strings.ToUpper(strings.TrimSpace(*b.Currency))
	}
	if b.Active != nil {
		in.Active = *b.Active
	}
	var f fields
	if !tenancy.SlugPattern.MatchString(in.Slug) {
		f.add("slug", "must be lowercase letters, digits and inner hyphens (1 to 63)")
	}
	if in.Name == "" || charCount(in.Name) > 200 {
		f.add("name", "is required (at most 200 characters)")
	}
	if charCount(in.Description) > 10000 {
		f.add("description", "is at most 10000 characters")
	}
	if in.DurationMinutes < 5 || in.DurationMinutes > 1440 {
		f.add("duration_minutes", "must be from 5 to 1440")
	}
	if in.PriceCents < 0 || in.PriceCents > 1_000_000_000_00 {
		f.add("price_cents", "must be from 0 to 100000000000")
	}
	if !currencyPattern.MatchString(in.Currency) {
		f.add("currency", "must be a three-letter ISO 4217 code")
	}
	return in, f.err()
}

func (s *Server) createService(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	var b serviceBody
	if err := decode(r, &b); err != nil {
		return err
	}
	defs, err := sc.GetServiceDefaults(r.Context())
	if err != nil {
		return err
	}
	in, err := b.apply(store.ServiceInput{Currency: defs.DefaultCurrency, DurationMinutes: defs.DefaultDurationMinutes, Active: true})
	if err != nil {
		return err
	}
	v, err := sc.CreateService(r.Context(), in)
	if err != nil {
		return slugConflict(err, "A service with this slug already exists in this tenant.")
	}
	return writeJSON(w, http.StatusCreated, v)
}

func slugConflict(err error, detail string) error {
	var ce *store.ConflictError
	if errors.As(err, &ce) {
		return errConflict(detail)
	}
	return err
}

// patchService changes the fields sent and keeps the others. The service is read locked, so the
// fields kept are the stored ones: a rename that waited for a deactivation keeps the service
// inactive.
func (s *Server) patchService(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b serviceBody
	if err := decode(r, &b); err != nil {
		return err
	}
	cur, err := sc.GetServiceForUpdate(r.Context(), id)
	if err != nil {
		return err
	}
	in, err := b.apply(store.ServiceInput{Slug: cur.Slug, Name: cur.Name, Description: cur.Description,
		DurationMinutes: cur.DurationMinutes, PriceCents: cur.PriceCents, Currency: cur.Currency, Active: cur.Active})
	if err != nil {
		return err
	}
	v, err := sc.UpdateService(r.Context(), id, in)
	if err != nil {
		return slugConflict(err, "A service with this slug already exists in this tenant.")
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) deleteService(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := sc.DeleteService(r.Context(), id); err != nil {
		var ce *store.ConflictError
		if errors.As(err, &ce) {
			return errConflict("The service is still referenced by bookings or requests; deactivate it instead.")
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getServiceSettings(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	d, err := sc.GetServiceDefaults(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

type serviceSettingsBody struct {
	DefaultCurrency        string `json:"default_currency"`
	DefaultDurationMinutes int    `json:"default_duration_minutes"`
	BufferMinutes          int    `json:"buffer_minutes"`
}

func (s *Server) putServiceSettings(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	var b serviceSettingsBody
	if err := decode(r, &b); err != nil {
		return err
	}
	var f fields
	b.DefaultCurrency = strings.ToUpper(b.DefaultCurrency)
	if !currencyPattern.MatchString(b.DefaultCurrency) {
		f.add("default_currency", "must be a three-letter ISO 4217 code")
	}
	if b.DefaultDurationMinutes < 5 || b.DefaultDurationMinutes > 1440 {
		f.add("default_duration_minutes", "must be from 5 to 1440")
	}
	if b.BufferMinutes < 0 || b.BufferMinutes > 240 {
		f.add("buffer_minutes", "must be from 0 to 240")
	}
	if err := f.err(); err != nil {
		return err
	}
	d, err := sc.PutServiceDefaults(r.Context(), store.ServiceDefaults{DefaultCurrency: b.DefaultCurrency,
		DefaultDurationMinutes: b.DefaultDurationMinutes, BufferMinutes: b.BufferMinutes})
	if err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "settings.services.update", "service_settings", "", nil); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}
