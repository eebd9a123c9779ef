// Package auth is a stub of tenantd's auth package for tests.
package auth

// Permission names an action a member may be allowed to perform.
type Permission string

const (
	PermMembersRead Permission = "members.read"
	PermNone        Permission = ""
)
