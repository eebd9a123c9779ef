package httpapi

// The team: who work can be assigned to, and reports on their workload, availability and
// open assignments computed from the assigned rows themselves.

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"strconv"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/auth"
	"tenantd/internal/store"
)

func (s *Server) teamRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/admin/team-members", Kind: KindTenant, Permission: auth.PermTeamRead, Summary: "List team members", Handler: s.listTeamMembers},
		{Method: "POST", Pattern: "/api/admin/team-members", Kind: KindTenant, Permission: auth.PermTeamManage, Creates: true, Summary: "Add a team member (optionally linked to a member user)", Handler: s.createTeamMember},
		{Method: "GET", Pattern: "/api/admin/team-members/{id}", Kind: KindTenant, Permission: auth.PermTeamRead, Summary: "Get a team member", Handler: s.getTeamMember},
		{Method: "PUT", Pattern: "/api/admin/team-members/{id}", Kind: KindTenant, Permission: auth.PermTeamManage, Summary: "Replace a team member", Handler: s.putTeamMember},
		{Method: "DELETE", Pattern: "/api/admin/team-members/{id}", Kind: KindTenant, Permission: auth.PermTeamManage, Summary: "Delete a team member without assignments", Handler: s.deleteTeamMember},
		{Method: "GET", Pattern: "/api/admin/team-management/workload", Kind: KindTenant, Permission: auth.PermTeamRead, Summary: "Open work and estimated hours per active team member", Handler: s.teamWorkload},
		{Method: "GET", Pattern: "/api/admin/team-management/availability", Kind: KindTenant, Permission: auth.PermTeamRead, Summary: "Capacity, booked and free hours per active team member over 7 days", Handler: s.teamAvailability},
		{Method: "GET", Pattern: "/api/admin/team-management/assignments", Kind: KindTenant, Permission: auth.PermTeamRead, Summary: "Open assigned requests, work orders and bookings", Handler: s.teamAssignments},
	}
}

// reqAvailabilityWindow is the span of the availability report.
const reqAvailabilityWindow = 7 * 24 * time.Hour

func reqTeamMemberID(v store.TeamMember) uuid.UUID { return v.ID }

func (s *Server) listTeamMembers(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	var active *bool
	if v := r.URL.Query().Get("active"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errField("active", "must be true or false")
		}
		active = &b
	}
	items, err := sc.ListTeamMembers(r.Context(), active, p)
	if err != nil {
		return err
	}
	return writeList(w, items, p, reqTeamMemberID)
}

func (s *Server) getTeamMember(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := sc.GetTeamMember(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// reqTeamBody is a whole team member, for POST and PUT alike. Name and email default to the
// linked user's; capacity defaults to 40 hours a week; active defaults to true on create and
// is kept by PUT when absent.
type reqTeamBody struct {
	UserID               reqOptionalID `json:"user_id"`
	Name                 *string       `json:"name"`
	Email                *string       `json:"email"`
	Title                *string       `json:"title"`
	CapacityHoursPerWeek *int          `json:"capacity_hours_per_week"`
	Active               *bool         `json:"active"`
}

// input validates the body; cur is the team member being replaced, or nil on create. A linked
// user must be an active staff member of this tenant (clients are not the firm's team); a link
// that stays what it was is not checked again.
func (b reqTeamBody) input(ctx context.Context, sc *store.Scope, cur *store.TeamMember) (store.TeamMemberInput, error) {
	var f fields
	in := store.TeamMemberInput{CapacityHoursPerWeek: 40, Active: true}
	if cur != nil {
		in.Active = cur.Active
	}
	var linked *store.TenantMember
	if in.UserID = b.UserID.ID; in.UserID != nil {
		m, err := sc.GetTenantMember(ctx, *in.UserID)
		switch {
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return in, err
		case err == nil && cur != nil && cur.UserID != nil && *cur.UserID == *in.UserID:
			linked = &m
		case err == nil && m.Status == "active" && auth.Role(m.Role).IsStaff():
			linked = &m
		default:
			f.add("user_id", "must be an active staff member of this tenant")
		}
	}
	name, email := b.Name, b.Email
	if linked != nil {
		if name == nil {
			name = &linked.Name
		}
		if email == nil {
			email = &linked.Email
		}
	}
	in.Name = reqText(&f, "name", name, true, 200)
	in.Email = reqText(&f, "email", email, false, 320)
	if in.Email != "" && charCount(in.Email) <= 320 { // (longer: reqText said so)
		if a, err := mail.ParseAddress(in.Email); err != nil || a.Address != in.Email {
			f.add("email", "must be an email address")
		}
	}
	in.Title = reqText(&f, "title", b.Title, false, 200)
	if b.CapacityHoursPerWeek != nil {
		in.CapacityHoursPerWeek = *b.CapacityHoursPerWeek
		if in.CapacityHoursPerWeek < 0 || in.CapacityHoursPerWeek > 168 {
			f.add("capacity_hours_per_week", "must be from 0 to 168")
		}
	}
	if b.Active != nil {
		in.Active = *b.Active
	}
	return in, f.err()
}

// reqUserLinkConflict turns the one-team-member-per-user rule into its 409.
func reqUserLinkConflict(err error) error {
	var ce *store.ConflictError
	if errors.As(err, &ce) {
		return errConflict("This user is already linked to another team member.")
	}
	return err
}

func (s *Server) createTeamMember(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	ctx := r.Context()
	var b reqTeamBody
	if err := decode(r, &b); err != nil {
		return err
	}
	in, err := b.input(ctx, sc, nil)
	if err != nil {
		return err
	}
	v, err := sc.CreateTeamMember(ctx, in)
	if err != nil {
		return reqUserLinkConflict(err)
	}
	if err := sc.AuditEvent(ctx, "team_member.create", "team_member", v.ID.String(), nil); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

// putTeamMember replaces a team member; an absent active flag keeps the stored one. The team
// member is read locked, so a PUT that waited for a deactivation keeps the member inactive
// (and so out of every new assignment).
func (s *Server) putTeamMember(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b reqTeamBody
	if err := decode(r, &b); err != nil {
		return err
	}
	cur, err := sc.GetTeamMemberForUpdate(ctx, id)
	if err != nil {
		return err
	}
	in, err := b.input(ctx, sc, &cur)
	if err != nil {
		return err
	}
	v, err := sc.UpdateTeamMember(ctx, id, in)
	if err != nil {
		return reqUserLinkConflict(err)
	}
	if err := sc.AuditEvent(ctx, "team_member.update", "team_member", id.String(), nil); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) deleteTeamMember(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := sc.DeleteTeamMember(r.Context(), id); err != nil {
		var ce *store.ConflictError
		if errors.As(err, &ce) {
			return errConflict("Requests, work orders or bookings are assigned to this team member; reassign them or deactivate the member (active: false).")
		}
		return err
	}
	if err := sc.AuditEvent(r.Context(), "team_member.delete", "team_member", id.String(), nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) teamWorkload(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	items, err := sc.ListTeamWorkload(r.Context(), s.now(), p)
	if err != nil {
		return err
	}
	return writeList(w, items, p, func(v store.TeamWorkload) uuid.UUID { return v.TeamMemberID })
}

// teamAvailability reports the 7 days from now (or from ?from=); every row names its window.
func (s *Server) teamAvailability(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	from := s.now().UTC().Truncate(time.Second)
	if t, err := queryTime(r, "from"); err != nil {
		return err
	} else if t != nil {
		from = t.UTC()
	}
	to := from.Add(reqAvailabilityWindow)
	items, err := sc.ListTeamAvailability(r.Context(), from, to, p)
	if err != nil {
		return err
	}
	return writeList(w, items, p, func(v store.TeamAvailability) uuid.UUID { return v.TeamMemberID })
}

var reqAssignmentTypes = []string{"service_request", "work_order", "booking"}

func (s *Server) teamAssignments(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	var f store.TeamAssignmentFilter
	if f.AssigneeID, err = reqQueryID(r, "assignee"); err != nil {
		return err
	}
	if f.Type, err = reqQueryEnum(r, "type", reqAssignmentTypes); err != nil {
		return err
	}
	items, err := sc.ListTeamAssignments(r.Context(), f, s.now(), p)
	if err != nil {
		return err
	}
	return writeList(w, items, p, func(v store.TeamAssignment) uuid.UUID { return v.ID })
}
