package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// TenantMember is a user as this tenant's administrators see them: the global user's name and email
// with the role and status of their membership in this tenant only. ID is the user's id.
type TenantMember struct {
	ID           uuid.UUID  `json:"id"`
	Email        string     `json:"email"`
	Name         string     `json:"name"`
	Role         string     `json:"role"`
	Status       string     `json:"status"`
	TeamMemberID *uuid.UUID `json:"team_member_id"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

// The users table is global; every row read here is reached through a membership of this
// tenant, so a user who is not a member of it cannot be seen.
const reqMemberSelect = `SELECT u.id, u.email, u.name, m.role, m.status, tm.id, m.created_at, m.updated_at
	FROM memberships m
	JOIN users u ON u.id = m.user_id
	LEFT JOIN team_members tm ON tm.tenant_id = $1 AND tm.user_id = m.user_id
	WHERE m.tenant_id = $1`

func reqScanMember(r pgx.Rows) (TenantMember, error) {
	var v TenantMember
	err := r.Scan(&v.ID, &v.Email, &v.Name, &v.Role, &v.Status, &v.TeamMemberID, &v.CreatedAt, &v.UpdatedAt)
	return v, err
}

// TenantMemberFilter narrows a member list; zero fields do not filter.
type TenantMemberFilter struct {
	Role   string
	Status string
}

// ListTenantMembers lists the tenant's members, ordered by user id, newest first.
func (sc *Scope) ListTenantMembers(ctx context.Context, f TenantMemberFilter, p Page) ([]TenantMember, error) {
	return collect(ctx, sc, reqMemberSelect+` AND ($2::uuid IS NULL OR m.user_id < $2) AND ($3 = '' OR m.role = $3) AND ($4 = '' OR m.status = $4)
		ORDER BY m.user_id DESC LIMIT $5`, []any{sc.TenantID(), p.Before, f.Role, f.Status, p.limitPlusOne()}, reqScanMember)
}

// GetTenantMember returns the member with this user id; a user who is not a member of this
// tenant (even one who is a member elsewhere) is ErrNotFound.
func (sc *Scope) GetTenantMember(ctx context.Context, userID uuid.UUID) (TenantMember, error) {
	items, err := collect(ctx, sc, reqMemberSelect+` AND m.user_id = $2`, []any{sc.TenantID(), userID}, reqScanMember)
	if err != nil {
		return TenantMember{}, err
	}
	if len(items) == 0 {
		return TenantMember{}, ErrNotFound
	}
	return items[0], nil
}

// ShareTenantMember is GetTenantMember for a write that refers to the member (a booking or
// request for a client): the membership is read FOR SHARE until the transaction ends, so a
// concurrent revocation or role change either waits for this write to commit or is seen by
// it, and nothing is written for a member who is no longer one.
func (sc *Scope) ShareTenantMember(ctx context.Context, userID uuid.UUID) (TenantMember, error) {
	items, err := collect(ctx, sc, reqMemberSelect+` AND m.user_id = $2 FOR SHARE OF m`, []any{sc.TenantID(), userID}, reqScanMember)
	if err != nil {
		return TenantMember{}, err
	}
	if len(items) == 0 {
		return TenantMember{}, ErrNotFound
	}
	return items[0], nil
}

// LockTenantMember is GetTenantMember with the membership row locked until the write
// transaction ends, so that every rule a change of the membership is decided on (the rank of
// the member, the last-owner rule) and the role and status written back are those of the row
// as it is, not as it was before a concurrent change committed. A caller that may need
// LockActiveOwners as well takes that first: see there for the lock order.
//
// The lock is FOR NO KEY UPDATE, the lock UpdateTenantMember's UPDATE takes anyway: it
// excludes every other change of the membership, yet does not hold up the foreign-key checks
// of rows that refer to the member (nearly every table refers to memberships), which a
// FOR UPDATE lock would make wait, and possibly deadlock against a transaction that has
// already bumped the tenant's authorization generation.
func (sc *Scope) LockTenantMember(ctx context.Context, userID uuid.UUID) (TenantMember, error) {
	items, err := collect(ctx, sc, reqMemberSelect+` AND m.user_id = $2 FOR NO KEY UPDATE OF m`, []any{sc.TenantID(), userID}, reqScanMember)
	if err != nil {
		return TenantMember{}, err
	}
	if len(items) == 0 {
		return TenantMember{}, ErrNotFound
	}
	return items[0], nil
}

// LockActiveOwners returns the user ids of the tenant's active owners and locks their
// memberships until the transaction ends, so that two administrators demoting two different
// owners at once cannot leave the tenant with none. It locks the membership of member too
// (uuid.Nil for none), whether or not it is an owner, in the same statement and in the same
// user_id order: a transaction that is about to change member's membership then never holds
// that row while it waits for an owner's row that another such transaction holds while
// waiting for member's (which two owners demoting each other, or an owner demoted while a
// member it names is being promoted, would otherwise do). Lock strength as in
// LockTenantMember.
func (sc *Scope) LockActiveOwners(ctx context.Context, member uuid.UUID) ([]uuid.UUID, error) {
	type row struct {
		id    uuid.UUID
		owner bool
	}
	rows, err := collect(ctx, sc, `SELECT user_id, role = 'OWNER' AND status = 'active' FROM memberships
		WHERE tenant_id = $1 AND ((role = 'OWNER' AND status = 'active') OR user_id = $2)
		ORDER BY user_id FOR NO KEY UPDATE`,
		[]any{sc.TenantID(), member}, func(r pgx.Rows) (row, error) {
			var v row
			err := r.Scan(&v.id, &v.owner)
			return v, err
		})
	if err != nil {
		return nil, err
	}
	var owners []uuid.UUID
	for _, v := range rows {
		if v.owner {
			owners = append(owners, v.id)
		}
	}
	return owners, nil
}

// UpdateTenantMember sets a member's role and status in this tenant. Because every request
// reads the caller's membership afresh, the change applies to that user's very next request.
func (sc *Scope) UpdateTenantMember(ctx context.Context, userID uuid.UUID, role, status string) (TenantMember, error) {
	tag, err := sc.exec(ctx, `UPDATE memberships SET role = $3, status = $4, updated_at = now()
		WHERE tenant_id = $1 AND user_id = $2`, sc.TenantID(), userID, role, status)
	if err != nil {
		return TenantMember{}, err
	}
	if tag.RowsAffected() == 0 {
		return TenantMember{}, ErrNotFound
	}
	return sc.GetTenantMember(ctx, userID)
}
