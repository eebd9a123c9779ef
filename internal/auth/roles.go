package auth

import (
	"slices"
	"sort"
)

// Role is a membership's role in one tenant. Roles are never global: the same user may be
// ADMIN in one tenant and CLIENT in another, and only the active tenant's role counts.
type Role string

// The roles, from most to least powerful.
const (
	RoleOwner    Role = "OWNER"
	RoleAdmin    Role = "ADMIN"
	RoleTeamLead Role = "TEAM_LEAD"
	RoleStaff    Role = "STAFF"
	RoleClient   Role = "CLIENT"
)

// Roles lists every role, most powerful first.
var Roles = []Role{RoleOwner, RoleAdmin, RoleTeamLead, RoleStaff, RoleClient}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// rank orders roles: a lower number is more powerful.
func (r Role) rank() int {
	if i := slices.Index(Roles, r); i >= 0 {
		return i
	}
	return len(Roles)
}

// AtMost reports whether r is no more powerful than limit (an API token's role may not exceed
// its creator's; an admin may not grant more than they hold).
func (r Role) AtMost(limit Role) bool { return r.Valid() && limit.Valid() && r.rank() >= limit.rank() }

// PermissionsSubsetOf reports whether every permission r grants is also granted by other. Rank
// (AtMost) cannot answer this: the roles are not nested, since CLIENT, the lowest rank, holds
// client-only permissions (payments.create, requests.own, invoices.own, chat.own) that STAFF
// and TEAM_LEAD lack. Whatever hands out a role on someone's behalf (an API token) must ask
// this, or it hands out permissions its creator never held.
func (r Role) PermissionsSubsetOf(other Role) bool {
	if !r.Valid() || !other.Valid() {
		return false
	}
	for p := range matrix[r] {
		if !matrix[other][p] {
			return false
		}
	}
	return true
}

// Lower returns the less powerful of a and b.
func Lower(a, b Role) Role {
	if a.rank() >= b.rank() {
		return a
	}
	return b
}

// IsStaff reports whether r acts for the firm rather than as one of its clients.
func (r Role) IsStaff() bool { return r.Valid() && r != RoleClient }

// Permission names one thing a role may do. Every tenant route in the route table declares
// exactly one.
type Permission string

// The permission catalog.
const (
	PermSession          Permission = "session"           // any member: own session, uploads, switching
	PermServicesRead     Permission = "services.read"     // admin view of services
	PermServicesManage   Permission = "services.manage"   // create, change, delete services
	PermSettingsRead     Permission = "settings.read"     // tenant settings singletons
	PermSettingsManage   Permission = "settings.manage"   // change tenant settings
	PermBookingsUse      Permission = "bookings.use"      // list/create/change bookings (clients: their own)
	PermBookingsAll      Permission = "bookings.all"      // every booking, stats
	PermBookingsConfirm  Permission = "bookings.confirm"  // confirm a booking
	PermRequestsOwn      Permission = "requests.own"      // a client's own service requests
	PermRequestsAll      Permission = "requests.all"      // every service request
	PermRequestsAssign   Permission = "requests.assign"   // assign requests to team members
	PermWorkOrders       Permission = "workorders.manage" // work orders
	PermInvoicesOwn      Permission = "invoices.own"      // a client's own invoices
	PermInvoicesRead     Permission = "invoices.read"     // every invoice
	PermInvoicesManage   Permission = "invoices.manage"   // create, change, pay invoices
	PermExpenses         Permission = "expenses.manage"   // expenses
	PermAttachmentsAll   Permission = "attachments.all"   // every attachment
	PermReminders        Permission = "reminders.manage"  // reminders
	PermChatStaff        Permission = "chat.staff"        // staff side of client threads
	PermChatOwn          Permission = "chat.own"          // a client's own thread
	PermTeamRead         Permission = "team.read"         // team members and workload
	PermTeamManage       Permission = "team.manage"       // change the team
	PermUsersRead        Permission = "users.read"        // members of the tenant
	PermUsersManage      Permission = "users.manage"      // change roles, revoke members
	PermPermissionsRead  Permission = "permissions.read"  // the permission catalog
	PermCalendar         Permission = "calendar.read"     // calendar
	PermPostsManage      Permission = "posts.manage"      // write posts, see drafts
	PermEmail            Permission = "email.send"        // send test email, read the outbox
	PermPayments         Permission = "payments.create"   // start a payment for an invoice
	PermAuditRead        Permission = "audit.read"        // audit log
	PermTokensManage     Permission = "tokens.manage"     // API tokens
	PermCommunicationsIO Permission = "communications.io" // export/import communication settings
)

var staffPerms = []Permission{
	PermSession, PermServicesRead, PermSettingsRead, PermBookingsUse, PermBookingsAll,
	PermBookingsConfirm, PermRequestsAll, PermWorkOrders, PermInvoicesRead, PermExpenses,
	PermAttachmentsAll, PermReminders, PermChatStaff, PermTeamRead, PermPermissionsRead,
	PermCalendar, PermPostsManage, PermTokensManage,
}

var teamLeadExtra = []Permission{PermRequestsAssign, PermTeamManage, PermUsersRead, PermInvoicesManage, PermEmail}

var adminExtra = []Permission{
	PermServicesManage, PermSettingsManage, PermUsersManage, PermAuditRead, PermCommunicationsIO,
}

var clientPerms = []Permission{
	PermSession, PermBookingsUse, PermRequestsOwn, PermInvoicesOwn, PermChatOwn, PermPayments,
}

// matrix is the one place that says which role may do what.
var matrix = func() map[Role]map[Permission]bool {
	set := func(lists ...[]Permission) map[Permission]bool {
		m := map[Permission]bool{}
		for _, l := range lists {
			for _, p := range l {
				m[p] = true
			}
		}
		return m
	}
	admin := set(staffPerms, teamLeadExtra, adminExtra, []Permission{PermPayments})
	return map[Role]map[Permission]bool{
		RoleOwner:    admin,
		RoleAdmin:    admin,
		RoleTeamLead: set(staffPerms, teamLeadExtra),
		RoleStaff:    set(staffPerms),
		RoleClient:   set(clientPerms),
	}
}()

// Allows reports whether role r holds permission p.
func (r Role) Allows(p Permission) bool { return matrix[r][p] }

// Permissions lists r's permissions, sorted.
func (r Role) Permissions() []Permission {
	out := make([]Permission, 0, len(matrix[r]))
	for p := range matrix[r] {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// AllPermissions lists the whole catalog, sorted.
func AllPermissions() []Permission {
	seen := map[Permission]bool{}
	for _, m := range matrix {
		for p := range m {
			seen[p] = true
		}
	}
	out := make([]Permission, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
