package httpapi_test

import (
	"net/http"
	"testing"
)

// An API token acts with its own role only while its creator's current role covers it, in
// rank and in permissions; a demoted creator's token acts with the creator's new role if the
// token's covers it, and a token neither covers (a CLIENT token of a staff member, minted
// before that was refused, or a staff token of a member demoted to CLIENT) does not act at
// all.
func TestTokenRoleFollowsCreator(t *testing.T) {
	cases := []struct {
		name        string
		creator     string // who mints the token
		tokenRole   string
		forgeRole   string // set in the database afterwards, as a token minted before the rule
		demoteTo    string // the creator's role changed to this afterwards
		wantStatus  int
		wantActRole string
	}{
		{name: "within its creator's role", creator: "consultant@demo.test", tokenRole: "STAFF", wantStatus: 200, wantActRole: "STAFF"},
		{name: "creator demoted below the token", creator: "consultant@demo.test", tokenRole: "ADMIN", demoteTo: "STAFF", wantStatus: 200, wantActRole: "STAFF"},
		{name: "creator demoted to client", creator: "consultant@demo.test", tokenRole: "STAFF", demoteTo: "CLIENT", wantStatus: 401},
		{name: "a client token of a staff member", creator: "staff@acme.test", tokenRole: "STAFF", forgeRole: "CLIENT", wantStatus: 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			owner := e.login("owner@acme.test", "")
			creator := e.login(tc.creator, "acme")
			r := creator.do("POST", "/api/admin/api-tokens", map[string]any{"name": "t", "role": tc.tokenRole})
			mustStatus(t, r, http.StatusCreated)
			var tok struct {
				Token    string `json:"token"`
				APIToken struct {
					ID   string `json:"id"`
					User string `json:"user_id"`
				} `json:"api_token"`
			}
			r.decode(t, &tok)
			if tc.forgeRole != "" {
				superExec(t, e, `UPDATE api_tokens SET role = '`+tc.forgeRole+`' WHERE id = '`+tok.APIToken.ID+`'`)
			}
			if tc.demoteTo != "" {
				var user struct {
					User struct {
						ID string `json:"id"`
					} `json:"user"`
				}
				creator.do("GET", "/api/auth/session", nil).decode(t, &user)
				mustStatus(t, owner.do("PATCH", "/api/admin/users/"+user.User.ID, map[string]any{"role": tc.demoteTo}), http.StatusOK)
			}
			bearer := e.anon()
			bearer.bearer = tok.Token
			r = bearer.do("GET", "/api/auth/session", nil)
			mustStatus(t, r, tc.wantStatus)
			if tc.wantStatus == http.StatusOK {
				var s struct {
					Role string `json:"role"`
				}
				r.decode(t, &s)
				if s.Role != tc.wantActRole {
					t.Fatalf("the token acts as %s, want %s", s.Role, tc.wantActRole)
				}
			}
		})
	}
}
