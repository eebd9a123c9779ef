package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// TeamMember is someone work can be assigned to. A team member may be linked to a member user
// of the tenant (user_id) or stand alone (an external contractor, say).
type TeamMember struct {
	ID                   uuid.UUID  `json:"id"`
	UserID               *uuid.UUID `json:"user_id"`
	Name                 string     `json:"name"`
	Email                string     `json:"email"`
	Title                string     `json:"title"`
	CapacityHoursPerWeek int        `json:"capacity_hours_per_week"`
	Active               bool       `json:"active"`
	CreatedAt            time.Time  `json:"created_at"`
	UpdatedAt            time.Time  `json:"updated_at"`
}

const reqTeamMemberColumns = `id, user_id, name, email, title, capacity_hours_per_week, active, created_at, updated_at`

func reqScanTeamMember(r pgx.Rows) (TeamMember, error) {
	var v TeamMember
	err := r.Scan(&v.ID, &v.UserID, &v.Name, &v.Email, &v.Title, &v.CapacityHoursPerWeek, &v.Active, &v.CreatedAt, &v.UpdatedAt)
	return v, err
}

func (sc *Scope) oneTeamMember(ctx context.Context, sql string, args ...any) (TeamMember, error) {
	items, err := collect(ctx, sc, sql, args, reqScanTeamMember)
	if err != nil {
		return TeamMember{}, err
	}
	if len(items) == 0 {
		return TeamMember{}, ErrNotFound
	}
	return items[0], nil
}

// ListTeamMembers lists team members, newest first; active, when not nil, only those with
// that active flag.
func (sc *Scope) ListTeamMembers(ctx context.Context, active *bool, p Page) ([]TeamMember, error) {
	return collect(ctx, sc, `SELECT `+reqTeamMemberColumns+` FROM team_members
		WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id < $2) AND ($3::boolean IS NULL OR active = $3)
		ORDER BY id DESC LIMIT $4`, []any{sc.TenantID(), p.Before, active, p.limitPlusOne()}, reqScanTeamMember)
}

// GetTeamMember returns one team member.
func (sc *Scope) GetTeamMember(ctx context.Context, id uuid.UUID) (TeamMember, error) {
	return sc.oneTeamMember(ctx, `SELECT `+reqTeamMemberColumns+` FROM team_members WHERE tenant_id = $1 AND id = $2`, sc.TenantID(), id)
}

// ShareTeamMember is GetTeamMember for a write that assigns work to the member: the row is
// read FOR SHARE until the transaction ends, so a concurrent deactivation either waits for the
// assignment to commit or is seen by it, and no work is assigned to someone who has left.
func (sc *Scope) ShareTeamMember(ctx context.Context, id uuid.UUID) (TeamMember, error) {
	return sc.oneTeamMember(ctx, `SELECT `+reqTeamMemberColumns+` FROM team_members WHERE tenant_id = $1 AND id = $2 FOR SHARE`, sc.TenantID(), id)
}

// GetTeamMemberForUpdate is GetTeamMember inside a write transaction, with the row locked until
// the transaction ends: what a PUT keeps when it does not send it (active), and the link it
// does not check again because it stays what it was, are the stored ones, not those from
// before a concurrent PUT committed.
func (sc *Scope) GetTeamMemberForUpdate(ctx context.Context, id uuid.UUID) (TeamMember, error) {
	return sc.oneTeamMember(ctx, `SELECT `+reqTeamMemberColumns+` FROM team_members WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, sc.TenantID(), id)
}

// TeamMemberInput is the writable part of a team member.
type TeamMemberInput struct {
	UserID               *uuid.UUID
	Name                 string
	Email                string
	Title                string
	CapacityHoursPerWeek int
	Active               bool
}

// CreateTeamMember adds a team member. A user already linked to another team member is a
// ConflictError; a user who is not a member of this tenant is a ReferenceError.
func (sc *Scope) CreateTeamMember(ctx context.Context, in TeamMemberInput) (TeamMember, error) {
	return sc.oneTeamMember(ctx, `INSERT INTO team_members (tenant_id, id, user_id, name, email, title, capacity_hours_per_week, active)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+reqTeamMemberColumns,
		sc.TenantID(), NewID(), in.UserID, in.Name, in.Email, in.Title, in.CapacityHoursPerWeek, in.Active)
}

// UpdateTeamMember replaces a team member's writable fields.
func (sc *Scope) UpdateTeamMember(ctx context.Context, id uuid.UUID, in TeamMemberInput) (TeamMember, error) {
	return sc.oneTeamMember(ctx, `UPDATE team_members SET user_id = $3, name = $4, email = $5, title = $6,
		    capacity_hours_per_week = $7, active = $8, updated_at = now()
		WHERE tenant_id = $1 AND id = $2 RETURNING `+reqTeamMemberColumns,
		sc.TenantID(), id, in.UserID, in.Name, in.Email, in.Title, in.CapacityHoursPerWeek, in.Active)
}

// DeleteTeamMember removes a team member. One that requests, work orders or bookings are
// still assigned to is a ConflictError: the history of who did the work would be lost, so
// such a member is deactivated instead.
func (sc *Scope) DeleteTeamMember(ctx context.Context, id uuid.UUID) error {
	tag, err := sc.exec(ctx, `DELETE FROM team_members WHERE tenant_id = $1 AND id = $2`, sc.TenantID(), id)
	if err != nil {
		if _, ok := err.(*ReferenceError); ok {
			return &ConflictError{Constraint: "team_member_in_use"}
		}
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// Open work, as the workload and assignment reports count it.
const (
	reqOpenRequestStatuses   = `('new', 'in_progress', 'on_hold')`
	reqOpenWorkOrderStatuses = `('open', 'in_progress')`
	reqLiveBookingStatuses   = `('pending', 'confirmed')`
)

// TeamWorkload is one active team member's open work, computed from the rows assigned to them.
type TeamWorkload struct {
	TeamMemberID         uuid.UUID  `json:"team_member_id"`
	UserID               *uuid.UUID `json:"user_id"`
	Name                 string     `json:"name"`
	CapacityHoursPerWeek int        `json:"capacity_hours_per_week"`
	OpenServiceRequests  int64      `json:"open_service_requests"`
	OpenWorkOrders       int64      `json:"open_work_orders"`
	UpcomingBookings     int64      `json:"upcoming_bookings"`
	EstimatedOpenHours   float64    `json:"estimated_open_hours"`
	// Utilization is estimated open hours over weekly capacity (nil when capacity is 0).
	Utilization  *float64 `json:"utilization"`
	OverCapacity bool     `json:"over_capacity"`
}

// ListTeamWorkload reports, per active team member, the open service requests and work orders
// and the upcoming (from now on) pending or confirmed bookings assigned to them, with the
// estimated hours of their open work orders against their weekly capacity.
func (sc *Scope) ListTeamWorkload(ctx context.Context, now time.Time, p Page) ([]TeamWorkload, error) {
	return collect(ctx, sc, `SELECT tm.id, tm.user_id, tm.name, tm.capacity_hours_per_week,
		  (SELECT count(*) FROM service_requests sr WHERE sr.tenant_id = $1 AND sr.assignee_id = tm.id AND sr.status IN `+reqOpenRequestStatuses+`),
		  (SELECT count(*) FROM work_orders wo WHERE wo.tenant_id = $1 AND wo.assignee_id = tm.id AND wo.status IN `+reqOpenWorkOrderStatuses+`),
		  (SELECT count(*) FROM bookings b WHERE b.tenant_id = $1 AND b.assignee_id = tm.id AND b.status IN `+reqLiveBookingStatuses+` AND b.starts_at >= $2),
		  (SELECT coalesce(sum(wo.estimated_hours), 0)::float8 FROM work_orders wo WHERE wo.tenant_id = $1 AND wo.assignee_id = tm.id AND wo.status IN `+reqOpenWorkOrderStatuses+`)
		FROM team_members tm
		WHERE tm.tenant_id = $1 AND tm.active AND ($3::uuid IS NULL OR tm.id < $3)
		ORDER BY tm.id DESC LIMIT $4`, []any{sc.TenantID(), now, p.Before, p.limitPlusOne()},
		func(r pgx.Rows) (TeamWorkload, error) {
			var v TeamWorkload
			err := r.Scan(&v.TeamMemberID, &v.UserID, &v.Name, &v.CapacityHoursPerWeek, &v.OpenServiceRequests,
				&v.OpenWorkOrders, &v.UpcomingBookings, &v.EstimatedOpenHours)
			if v.CapacityHoursPerWeek > 0 {
				u := reqRoundHours(v.EstimatedOpenHours / float64(v.CapacityHoursPerWeek))
				v.Utilization = &u
			}
			v.OverCapacity = v.EstimatedOpenHours > float64(v.CapacityHoursPerWeek)
			return v, err
		})
}

// TeamAvailability is one active team member's capacity against their booked time in a window.
type TeamAvailability struct {
	TeamMemberID  uuid.UUID  `json:"team_member_id"`
	UserID        *uuid.UUID `json:"user_id"`
	Name          string     `json:"name"`
	CapacityHours float64    `json:"capacity_hours"`
	BookedHours   float64    `json:"booked_hours"`
	FreeHours     float64    `json:"free_hours"`
	Bookings      int64      `json:"bookings"`
	From          time.Time  `json:"from"`
	To            time.Time  `json:"to"`
}

// ListTeamAvailability reports, per active team member, the hours of pending or confirmed
// bookings assigned to them that fall inside [from, to) (a booking that straddles an edge
// counts only its part inside), against their capacity for the window (weekly capacity
// prorated to the window's length).
func (sc *Scope) ListTeamAvailability(ctx context.Context, from, to time.Time, p Page) ([]TeamAvailability, error) {
	weeks := to.Sub(from).Hours() / (7 * 24)
	return collect(ctx, sc, `SELECT tm.id, tm.user_id, tm.name, tm.capacity_hours_per_week, bk.n, bk.secs
		FROM team_members tm
		CROSS JOIN LATERAL (
		  SELECT count(*) AS n,
		         coalesce(sum(extract(epoch FROM least(b.ends_at, $3) - greatest(b.starts_at, $2))), 0)::float8 AS secs
		  FROM bookings b
		  WHERE b.tenant_id = $1 AND b.assignee_id = tm.id AND b.status IN `+reqLiveBookingStatuses+`
		    AND b.starts_at < $3 AND b.ends_at > $2) bk
		WHERE tm.tenant_id = $1 AND tm.active AND ($4::uuid IS NULL OR tm.id < $4)
		ORDER BY tm.id DESC LIMIT $5`, []any{sc.TenantID(), from, to, p.Before, p.limitPlusOne()},
		func(r pgx.Rows) (TeamAvailability, error) {
			v := TeamAvailability{From: from, To: to}
			var capacity int
			var secs float64
			err := r.Scan(&v.TeamMemberID, &v.UserID, &v.Name, &capacity, &v.Bookings, &secs)
			v.CapacityHours = reqRoundHours(float64(capacity) * weeks)
			v.BookedHours = reqRoundHours(secs / 3600)
			v.FreeHours = reqRoundHours(max(v.CapacityHours-v.BookedHours, 0))
			return v, err
		})
}

func reqRoundHours(h float64) float64 {
	if h < 0 {
		return -reqRoundHours(-h)
	}
	return float64(int64(h*100+0.5)) / 100
}

// TeamAssignment is one piece of open work and who it is assigned to.
type TeamAssignment struct {
	Type             string     `json:"type"` // service_request, work_order or booking
	ID               uuid.UUID  `json:"id"`
	Title            string     `json:"title"`
	Status           string     `json:"status"`
	AssigneeID       uuid.UUID  `json:"assignee_id"`
	AssigneeName     string     `json:"assignee_name"`
	ClientID         *uuid.UUID `json:"client_id"`
	ServiceRequestID *uuid.UUID `json:"service_request_id"`
	StartsAt         *time.Time `json:"starts_at"` // bookings
	DueOn            *string    `json:"due_on"`    // work orders
	CreatedAt        time.Time  `json:"created_at"`
}

// TeamAssignmentFilter narrows the assignment report; zero fields do not filter.
type TeamAssignmentFilter struct {
	AssigneeID *uuid.UUID
	Type       string
}

// ListTeamAssignments lists open assigned work, newest first: service requests that are not
// finished, work orders that are open or in progress, and pending or confirmed bookings that
// have not ended by now.
func (sc *Scope) ListTeamAssignments(ctx context.Context, f TeamAssignmentFilter, now time.Time, p Page) ([]TeamAssignment, error) {
	return collect(ctx, sc, `SELECT a.kind, a.id, a.title, a.status, a.assignee_id, tm.name, a.client_id, a.request_id, a.starts_at, a.due_on, a.created_at
		FROM (
		  SELECT 'service_request' AS kind, sr.id, sr.title, sr.status, sr.assignee_id, sr.client_id,
		         NULL::uuid AS request_id, NULL::timestamptz AS starts_at, NULL::text AS due_on, sr.created_at
		  FROM service_requests sr
		  WHERE sr.tenant_id = $1 AND sr.assignee_id IS NOT NULL AND sr.status IN `+reqOpenRequestStatuses+`
		  UNION ALL
		  SELECT 'work_order', wo.id, wo.code || ': ' || wo.title, wo.status, wo.assignee_id, NULL::uuid,
		         wo.service_request_id, NULL::timestamptz, wo.due_on::text, wo.created_at
		  FROM work_orders wo
		  WHERE wo.tenant_id = $1 AND wo.assignee_id IS NOT NULL AND wo.status IN `+reqOpenWorkOrderStatuses+`
		  UNION ALL
		  SELECT 'booking', b.id, s.name, b.status, b.assignee_id, b.client_id,
		         b.service_request_id, b.starts_at, NULL::text, b.created_at
		  FROM bookings b JOIN services s ON s.tenant_id = b.tenant_id AND s.id = b.service_id
		  WHERE b.tenant_id = $1 AND s.tenant_id = $1 AND b.assignee_id IS NOT NULL AND b.status IN `+reqLiveBookingStatuses+` AND b.ends_at > $2
		) a
		JOIN team_members tm ON tm.tenant_id = $1 AND tm.id = a.assignee_id
		WHERE ($3::uuid IS NULL OR a.id < $3) AND ($4::uuid IS NULL OR a.assignee_id = $4) AND ($5 = '' OR a.kind = $5)
		ORDER BY a.id DESC LIMIT $6`,
		[]any{sc.TenantID(), now, p.Before, f.AssigneeID, f.Type, p.limitPlusOne()},
		func(r pgx.Rows) (TeamAssignment, error) {
			var v TeamAssignment
			err := r.Scan(&v.Type, &v.ID, &v.Title, &v.Status, &v.AssigneeID, &v.AssigneeName, &v.ClientID,
				&v.ServiceRequestID, &v.StartsAt, &v.DueOn, &v.CreatedAt)
			return v, err
		})
}
