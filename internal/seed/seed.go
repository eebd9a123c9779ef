// Package seed fills an empty database with the demo data of SPEC §7: two tenants, their
// staff and clients, a user who belongs to both with different roles, and at least two rows of
// every tenant-owned collection in each tenant, spread over both clients.
package seed

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/auth"
	"tenantd/internal/store"
)

// Password is every demo user's password.
const Password = "demo-password"

// Login is one demo account, for printing.
type Login struct {
	Email string
	Roles string
}

// Logins lists the demo accounts.
var Logins = []Login{
	{"owner@acme.test", "acme OWNER"}, {"staff@acme.test", "acme STAFF"},
	{"client@acme.test", "acme CLIENT"}, {"client2@acme.test", "acme CLIENT"},
	{"owner@globex.test", "globex OWNER"}, {"staff@globex.test", "globex STAFF"},
	{"client@globex.test", "globex CLIENT"}, {"client2@globex.test", "globex CLIENT"},
	{"consultant@demo.test", "acme ADMIN, globex CLIENT"},
}

// Tenant is what the seed made in one tenant, for tests that need the ids.
type Tenant struct {
	ID       uuid.UUID
	Slug     string
	Owner    uuid.UUID
	Staff    uuid.UUID
	Client   uuid.UUID
	Client2  uuid.UUID
	Services []uuid.UUID
	Bookings []uuid.UUID
	// StorageDir is where demo attachments' bytes are written (the directory the server serves
	// attachments from). Empty means no attachments are seeded: a row whose file does not exist
	// would be a broken download.
	StorageDir string
}

// Result is the whole demo data set.
type Result struct {
	Acme, Globex Tenant
	Consultant   uuid.UUID
}

// Demo seeds the demo data without attachment files. It expects an empty database.
func Demo(ctx context.Context, st *store.Store) (*Result, error) { return DemoWithFiles(ctx, st, "") }

// DemoWithFiles seeds the demo data, writing attachments under storageDir.
func DemoWithFiles(ctx context.Context, st *store.Store, storageDir string) (*Result, error) {
	hash, err := auth.HashPassword(ctx, Password)
	if err != nil {
		return nil, err
	}
	p := st.Platform("seed")
	res := &Result{}
	for _, spec := range []struct {
		slug, name, domain string
		out                *Tenant
	}{{"acme", "Acme Advisory", "acme.test", &res.Acme}, {"globex", "Globex Accounting", "globex.test", &res.Globex}} {
		t, err := p.CreateTenant(ctx, store.NewTenant{Slug: spec.slug, Name: spec.name,
			OwnerEmail: "owner@" + spec.domain, OwnerName: spec.name + " Owner", OwnerPassword: hash})
		if err != nil {
			return nil, fmt.Errorf("create tenant %s: %w", spec.slug, err)
		}
		out := spec.out
		out.ID, out.Slug, out.StorageDir = t.ID, t.Slug, storageDir
		owner, err := st.UserByEmail(ctx, "owner@"+spec.domain)
		if err != nil {
			return nil, err
		}
		out.Owner = owner.ID
		for _, m := range []struct {
			local, name, role string
			id                *uuid.UUID
		}{
			{"staff", "Sam Staff", "STAFF", &out.Staff},
			{"client", "Cleo Client", "CLIENT", &out.Client},
			{"client2", "Carl Client", "CLIENT", &out.Client2},
		} {
			id, err := p.AddMember(ctx, t.ID, m.local+"@"+spec.domain, m.name+" ("+spec.slug+")", hash, m.role)
			if err != nil {
				return nil, fmt.Errorf("add %s@%s: %w", m.local, spec.domain, err)
			}
			*m.id = id
		}
	}
	if res.Consultant, err = p.AddMember(ctx, res.Acme.ID, "consultant@demo.test", "Casey Consultant", hash, "ADMIN"); err != nil {
		return nil, err
	}
	if _, err := p.AddMember(ctx, res.Globex.ID, "consultant@demo.test", "Casey Consultant", hash, "CLIENT"); err != nil {
		return nil, err
	}
	for _, t := range []*Tenant{&res.Acme, &res.Globex} {
		if err := fill(ctx, st, t); err != nil {
			return nil, fmt.Errorf("fill %s: %w", t.Slug, err)
		}
	}
	return res, nil
}

// fill adds the tenant's collections in one transaction of its own scope.
func fill(ctx context.Context, st *store.Store, t *Tenant) error {
	sc := st.TrustedScope(t.ID, false)
	if err := sc.Begin(ctx); err != nil {
		return err
	}
	err := fillScope(ctx, sc, t)
	if err != nil {
		_ = sc.End(ctx, false)
		return err
	}
	return sc.End(ctx, true)
}

// Filler adds one area's demo rows to a tenant inside the seed's transaction. Areas register
// theirs in init so that the seed grows with the API.
type Filler func(ctx context.Context, sc *store.Scope, t *Tenant) error

var fillers []Filler

// Register adds an area's filler; fillers run in registration order after the core ones.
func Register(f Filler) { fillers = append(fillers, f) }

func fillScope(ctx context.Context, sc *store.Scope, t *Tenant) error {
	title := map[string]string{"acme": "Acme", "globex": "Globex"}[t.Slug]
	for _, s := range []store.ServiceInput{
		{Slug: "tax-return", Name: title + " Tax Return", Description: "Annual personal tax return.", DurationMinutes: 60, PriceCents: 25000, Currency: "USD", Active: true},
		{Slug: "bookkeeping", Name: title + " Bookkeeping", Description: "Monthly bookkeeping review.", DurationMinutes: 90, PriceCents: 40000, Currency: "USD", Active: true},
		{Slug: t.Slug + "-onboarding", Name: title + " Onboarding", Description: "Getting started with " + title + ".", DurationMinutes: 30, PriceCents: 0, Currency: "USD", Active: true},
		{Slug: "strategy-session", Name: title + " Strategy Session", Description: "Advisory session.", DurationMinutes: 45, PriceCents: 15000, Currency: "USD", Active: false},
	} {
		v, err := sc.CreateService(ctx, s)
		if err != nil {
			return err
		}
		t.Services = append(t.Services, v.ID)
	}
	base := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 3).Add(10 * time.Hour)
	for i, b := range []struct {
		client uuid.UUID
		status string
	}{{t.Client, "pending"}, {t.Client, "confirmed"}, {t.Client2, "pending"}, {t.Client2, "completed"}} {
		v, err := sc.CreateBooking(ctx, store.BookingInput{ServiceID: t.Services[i%2], ClientID: b.client,
			StartsAt: base.AddDate(0, 0, i).Add(time.Duration(i) * time.Hour), Status: b.status, Notes: "Demo booking"})
		if err != nil {
			return err
		}
		t.Bookings = append(t.Bookings, v.ID)
	}
	for i, u := range []uuid.UUID{t.Owner, t.Staff} {
		_, hash, prefix := auth.NewAPIToken(t.ID)
		role := []string{"ADMIN", "STAFF"}[i]
		if _, err := sc.CreateAPIToken(ctx, u, "demo "+strings.ToLower(role)+" token", role, hash, prefix, nil); err != nil {
			return err
		}
	}
	for i, c := range []uuid.UUID{t.Client, t.Client2} {
		body, _ := json.Marshal(map[string]any{"id": t.Bookings[i*2], "status": "pending"})
		sum := sha256.Sum256(body)
		if err := sc.RecordIdempotentResponse(ctx, c, fmt.Sprintf("demo-booking-%d", i+1), sum[:], 201, "application/json", body); err != nil {
			return err
		}
	}
	for _, f := range fillers {
		if err := f(ctx, sc, t); err != nil {
			return err
		}
	}
	return nil
}
