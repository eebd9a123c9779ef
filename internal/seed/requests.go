package seed

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/store"
)

func init() { Register(reqFill) }

// reqFill adds the team (the owner, the staff member and an external contractor), service
// requests of both clients in every open and a final status, work orders with the same codes
// in every tenant (codes are unique per tenant only), and assigns two upcoming bookings, so
// that the workload, availability and assignment reports show real numbers.
func reqFill(ctx context.Context, sc *store.Scope, t *Tenant) error {
	var team []uuid.UUID
	for _, m := range []struct {
		user     *uuid.UUID
		name     string
		email    string
		title    string
		capacity int
	}{
		{user: &t.Owner, title: "Managing partner", capacity: 30},
		{user: &t.Staff, title: "Associate", capacity: 40},
		{name: "Pat Partner", email: "pat@contractors.test", title: "Contract bookkeeper", capacity: 20},
	} {
		in := store.TeamMemberInput{UserID: m.user, Name: m.name, Email: m.email, Title: m.title, CapacityHoursPerWeek: m.capacity, Active: true}
		if m.user != nil {
			u, err := sc.GetTenantMember(ctx, *m.user)
			if err != nil {
				return fmt.Errorf("team member user: %w", err)
			}
			in.Name, in.Email = u.Name, u.Email
		}
		v, err := sc.CreateTeamMember(ctx, in)
		if err != nil {
			return err
		}
		team = append(team, v.ID)
	}
	owner, staff, contractor := team[0], team[1], team[2]

	var requests []uuid.UUID
	for _, r := range []struct {
		client   uuid.UUID
		service  uuid.UUID
		assignee *uuid.UUID
		title    string
		priority string
		path     []string // transitions from new
	}{
		{t.Client, t.Services[0], nil, "Prepare this year's tax return", "normal", nil},
		{t.Client, t.Services[1], &staff, "Bookkeeping catch-up for last quarter", "high", []string{"in_progress"}},
		{t.Client2, t.Services[1], &owner, "Review payroll setup", "normal", []string{"on_hold"}},
		{t.Client2, t.Services[0], &staff, "Amend last year's return", "low", []string{"in_progress", "completed"}},
	} {
		v, err := sc.CreateServiceRequest(ctx, store.ServiceRequestInput{ClientID: r.client, ServiceID: &r.service,
			AssigneeID: r.assignee, Title: r.title, Description: "Demo request.", Priority: r.priority})
		if err != nil {
			return err
		}
		from := v.Status
		for _, to := range r.path {
			if _, err := sc.TransitionServiceRequest(ctx, v.ID, nil, from, to); err != nil {
				return err
			}
			from = to
		}
		requests = append(requests, v.ID)
	}

	today := time.Now().UTC()
	due := func(days int) *string {
		s := today.AddDate(0, 0, days).Format(time.DateOnly)
		return &s
	}
	for _, w := range []store.WorkOrderInput{
		{Code: "WO-1001", Title: "Reconcile bank accounts", Status: "in_progress", ServiceRequestID: &requests[1], AssigneeID: &staff, DueOn: due(5), EstimatedHours: 6},
		{Code: "WO-1002", Title: "Draft the tax return", Status: "open", ServiceRequestID: &requests[0], AssigneeID: &contractor, DueOn: due(10), EstimatedHours: 8.5},
		{Code: "WO-1003", Title: "Payroll review memo", Status: "done", ServiceRequestID: &requests[2], AssigneeID: &owner, EstimatedHours: 3},
	} {
		w.Description = "Demo work order."
		if _, err := sc.CreateWorkOrder(ctx, w); err != nil {
			return err
		}
	}

	// The first two demo bookings (both upcoming, pending and confirmed) go to the staff
	// member and the owner.
	for i, assignee := range []uuid.UUID{staff, owner} {
		if i >= len(t.Bookings) {
			break
		}
		b, err := sc.GetBooking(ctx, t.Bookings[i], nil)
		if err != nil {
			return err
		}
		if _, err := sc.UpdateBooking(ctx, b.ID, nil, store.BookingInput{ServiceID: b.ServiceID, AssigneeID: &assignee,
			StartsAt: b.StartsAt, EndsAt: b.EndsAt, Notes: b.Notes, Status: b.Status}); err != nil {
			return err
		}
	}
	return nil
}
