package auth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestPasswords(t *testing.T) {
	ctx := context.Background()
	h, err := HashPassword(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not use the OWASP minimum parameters", h)
	}
	h2, _ := HashPassword(ctx, "correct horse battery staple")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	cases := []struct {
		name, password, hash string
		want                 error
	}{
		{"right", "correct horse battery staple", h, nil},
		{"wrong", "correct horse battery stapler", h, ErrPasswordMismatch},
		{"no user", "anything", "", ErrPasswordMismatch},
	}
	for _, c := range cases {
		if err := VerifyPassword(ctx, c.password, c.hash); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	for _, bad := range []string{"plain", "$argon2id$v=19$m=999999999,t=2,p=1$c2FsdA$aGFzaA", "$bcrypt$x"} {
		if err := VerifyPassword(ctx, "x", bad); err == nil {
			t.Errorf("malformed hash %q verified", bad)
		}
	}
}

func TestAPITokens(t *testing.T) {
	tenant := uuid.New()
	tok, hash, prefix := NewAPIToken(tenant)
	if !strings.HasPrefix(tok, prefix) || len(prefix) >= len(tok) {
		t.Fatalf("prefix %q of %q", prefix, tok)
	}
	got, h, err := ParseAPIToken(tok)
	if err != nil || got != tenant || string(h) != string(hash) {
		t.Fatalf("parse: %v %v", got, err)
	}
	for _, bad := range []string{"", "tdt_", tok[:len(tok)-1], strings.Replace(tok, "tdt_", "tds_", 1), "tdt_" + strings.Repeat("z", 32) + "_" + tok[len(tok)-43:]} {
		if _, _, err := ParseAPIToken(bad); err == nil {
			t.Errorf("malformed token %q accepted", bad)
		}
	}
}

// The matrix: roles are ordered, clients hold only client permissions, and every permission
// is held by someone.
func TestRoleMatrix(t *testing.T) {
	cases := []struct {
		role  Role
		perm  Permission
		allow bool
	}{
		{RoleOwner, PermUsersManage, true},
		{RoleAdmin, PermSettingsManage, true},
		{RoleTeamLead, PermRequestsAssign, true},
		{RoleTeamLead, PermSettingsManage, false},
		{RoleStaff, PermBookingsAll, true},
		{RoleStaff, PermUsersManage, false},
		{RoleClient, PermBookingsUse, true},
		{RoleClient, PermBookingsAll, false},
		{RoleClient, PermServicesRead, false},
		{RoleClient, PermAttachmentsAll, false},
		{Role("ROOT"), PermSession, false},
	}
	for _, c := range cases {
		if got := c.role.Allows(c.perm); got != c.allow {
			t.Errorf("%s %s = %v", c.role, c.perm, got)
		}
	}
	if !RoleStaff.AtMost(RoleAdmin) || RoleAdmin.AtMost(RoleStaff) || Role("X").AtMost(RoleOwner) {
		t.Error("role order broken")
	}
	if Lower(RoleOwner, RoleClient) != RoleClient {
		t.Error("Lower")
	}
	held := map[Permission]bool{}
	for _, r := range Roles {
		for _, p := range r.Permissions() {
			held[p] = true
		}
	}
	if len(held) != len(AllPermissions()) {
		t.Errorf("catalog %d, held %d", len(AllPermissions()), len(held))
	}
}
