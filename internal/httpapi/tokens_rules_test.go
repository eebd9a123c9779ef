package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// tokenAnswer is the answer of POST /api/admin/api-tokens.
type tokenAnswer struct {
	Token    *string `json:"token"`
	APIToken struct {
		ID     string `json:"id"`
		UserID string `json:"user_id"`
	} `json:"api_token"`
}

// ruleToken creates an API token as c and returns its secret and id.
func ruleToken(t *testing.T, c *client, body map[string]any, headers ...string) (secret, id string) {
	t.Helper()
	r := c.do("POST", "/api/admin/api-tokens", body, headers...)
	mustStatus(t, r, http.StatusCreated)
	var a tokenAnswer
	r.decode(t, &a)
	if a.Token == nil || *a.Token == "" || a.APIToken.ID == "" {
		t.Fatalf("create token: no secret or id in %s", r.Body)
	}
	return *a.Token, a.APIToken.ID
}

// ruleBearer is a caller holding an API token.
func ruleBearer(e *env, secret string) *client {
	c := e.anon()
	c.bearer = secret
	return c
}

// ruleProblem is a problem document without its request id, for comparing two answers.
func ruleProblem(t *testing.T, r *resp) map[string]any {
	t.Helper()
	var p map[string]any
	r.decode(t, &p)
	delete(p, "request_id")
	return p
}

// A tenant switch is recorded in the tenant the session leaves without a word about the
// tenant it goes to: the source tenant's admins must not learn that their member belongs to
// another tenant, nor which one.
func TestSwitchLeavesNoTraceOfDestination(t *testing.T) {
	e := newEnv(t)
	type side struct {
		slug, name, owner string
		id                uuid.UUID
	}
	acme := side{"acme", "Acme Advisory", "owner@acme.test", e.demo.Acme.ID}
	globex := side{"globex", "Globex Accounting", "owner@globex.test", e.demo.Globex.ID}
	for _, tc := range []struct{ from, to side }{{globex, acme}, {acme, globex}} {
		t.Run(tc.from.slug+" to "+tc.to.slug, func(t *testing.T) {
			owner := e.login(tc.from.owner, "")
			leaks := func(body []byte) string {
				b := strings.ToLower(string(body))
				for _, s := range []string{tc.to.id.String(), tc.to.slug, strings.ToLower(tc.to.name)} {
					if strings.Contains(b, s) {
						return s
					}
				}
				return ""
			}
			before := owner.do("GET", "/api/admin/audit-logs?limit=200", nil)
			mustStatus(t, before, http.StatusOK)
			if s := leaks(before.Body); s != "" {
				t.Fatalf("%s's audit log names %q before any switch; the test cannot tell", tc.from.slug, s)
			}

			c := e.login("consultant@demo.test", tc.from.slug)
			r := c.do("POST", "/api/tenant/switch", map[string]string{"tenant": tc.to.slug})
			mustStatus(t, r, http.StatusOK)
			var s struct {
				Tenant struct {
					ID string `json:"id"`
				} `json:"tenant"`
			}
			r.decode(t, &s)
			if s.Tenant.ID != tc.to.id.String() {
				t.Fatalf("switch answered tenant %s, want %s", s.Tenant.ID, tc.to.id)
			}

			out := owner.do("GET", "/api/admin/audit-logs?action=session.switch_out", nil)
			mustStatus(t, out, http.StatusOK)
			var list struct {
				Items []struct {
					ActorUserID string `json:"actor_user_id"`
				} `json:"items"`
			}
			out.decode(t, &list)
			if len(list.Items) != 1 || list.Items[0].ActorUserID != e.demo.Consultant.String() {
				t.Fatalf("%s's log should record the consultant leaving once: %s", tc.from.slug, out.Body)
			}
			all := owner.do("GET", "/api/admin/audit-logs?limit=200", nil)
			mustStatus(t, all, http.StatusOK)
			if s := leaks(all.Body); s != "" {
				t.Fatalf("%s's audit log names the destination (%q) after the switch: %s", tc.from.slug, s, all.Body)
			}
		})
	}
}

// A token's secret is in the first answer only: an Idempotency-Key replay returns the same
// token without it, and it is stored in no idempotency row (so no export bundle has it).
func TestTokenRulesReplayNeverRepeatsSecret(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	expires := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	body := map[string]any{"name": "replayed", "role": "STAFF", "expires_at": expires}

	first := owner.do("POST", "/api/admin/api-tokens", body, "Idempotency-Key", "k1")
	mustStatus(t, first, http.StatusCreated)
	var a tokenAnswer
	first.decode(t, &a)
	if a.Token == nil || *a.Token == "" {
		t.Fatalf("the first answer has no secret: %s", first.Body)
	}
	secret := *a.Token
	mustStatus(t, ruleBearer(e, secret).do("GET", "/api/bookings", nil), http.StatusOK)

	apiToken := func(r *resp) map[string]any {
		var v struct {
			APIToken map[string]any `json:"api_token"`
		}
		r.decode(t, &v)
		return v.APIToken
	}
	replay := func() {
		t.Helper()
		r := owner.do("POST", "/api/admin/api-tokens", body, "Idempotency-Key", "k1")
		mustStatus(t, r, http.StatusCreated)
		if r.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("not marked as a replay: %v", r.Header)
		}
		if strings.Contains(string(r.Body), secret) {
			t.Fatalf("the replay repeats the secret: %s", r.Body)
		}
		var raw map[string]json.RawMessage
		r.decode(t, &raw)
		if tok, ok := raw["token"]; !ok || string(tok) != "null" {
			t.Fatalf(`the replay should answer "token": null: %s`, r.Body)
		}
		if got, want := apiToken(r), apiToken(first); !reflect.DeepEqual(got, want) {
			t.Fatalf("the replay's token differs:\n got %v\nwant %v", got, want)
		}
	}
	replay()

	// One effect: one token of that name.
	list := owner.do("GET", "/api/admin/api-tokens?limit=200", nil)
	mustStatus(t, list, http.StatusOK)
	if n := strings.Count(string(list.Body), `"name":"replayed"`); n != 1 {
		t.Fatalf("%d tokens named replayed, want 1: %s", n, list.Body)
	}

	// The secret is in no idempotency row, as bytes or in any encoding the row could hold.
	conn := platSuper(t, e)
	rows, err := conn.Query(context.Background(), `SELECT key, coalesce(response_body, ''::bytea) FROM idempotency_keys`)
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for rows.Next() {
		var key string
		var stored []byte
		if err := rows.Scan(&key, &stored); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(stored), secret) {
			t.Fatalf("idempotency row %q stores the secret: %s", key, stored)
		}
		seen = seen || key == "k1"
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !seen {
		t.Fatal("no idempotency row for k1")
	}

	// Revoked, the replay still answers the same, still without the secret.
	mustStatus(t, owner.do("DELETE", "/api/admin/api-tokens/"+a.APIToken.ID, nil), http.StatusNoContent)
	replay()

	// The same key with another request is still refused.
	other := map[string]any{"name": "other", "role": "STAFF"}
	mustStatus(t, owner.do("POST", "/api/admin/api-tokens", other, "Idempotency-Key", "k1"),
		http.StatusUnprocessableEntity, "idempotency_key_reused")
}

// An API token cannot manage API tokens: it could otherwise mint a never-expiring child that
// survives its own revocation. A signed-in session can.
func TestTokenRulesTokenCannotManageTokens(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	secret, id := ruleToken(t, owner, map[string]any{"name": "parent", "role": "ADMIN",
		"expires_at": time.Now().Add(time.Hour).UTC()})
	parent := ruleBearer(e, secret)
	mustStatus(t, parent.do("GET", "/api/admin/api-tokens", nil), http.StatusOK)

	mustStatus(t, parent.do("POST", "/api/admin/api-tokens", map[string]any{"name": "child"}),
		http.StatusForbidden, "forbidden")
	mustStatus(t, parent.do("POST", "/api/admin/api-tokens", map[string]any{"name": "child"}, "Idempotency-Key", "mint"),
		http.StatusForbidden, "forbidden")
	mustStatus(t, parent.do("POST", "/api/admin/api-tokens", map[string]any{"name": "child"}, "Idempotency-Key", "mint"),
		http.StatusForbidden, "forbidden")

	// Revoking: refused for a token it can see; a random id is missing, as for anyone.
	mustStatus(t, parent.do("DELETE", "/api/admin/api-tokens/"+id, nil), http.StatusForbidden, "forbidden")
	mustStatus(t, parent.do("DELETE", "/api/admin/api-tokens/"+uuid.NewString(), nil), http.StatusNotFound, "not_found")
	mustStatus(t, parent.do("GET", "/api/bookings", nil), http.StatusOK)

	list := owner.do("GET", "/api/admin/api-tokens?limit=200", nil)
	mustStatus(t, list, http.StatusOK)
	if strings.Contains(string(list.Body), `"name":"child"`) {
		t.Fatalf("a token minted a token: %s", list.Body)
	}
	ruleToken(t, owner, map[string]any{"name": "from a session"})
}

// Token management follows the membership hierarchy of PATCH /api/admin/users/{id}: a caller
// lists and revokes their own tokens and those of members whose role is not above their own.
// A token out of reach is answered exactly like one that does not exist.
func TestTokenRulesHierarchy(t *testing.T) {
	e := newEnv(t)
	callers := map[string]*client{
		"owner":      e.login("owner@acme.test", ""),
		"consultant": e.login("consultant@demo.test", "acme"), // ADMIN in acme
		"staff":      e.login("staff@acme.test", ""),
	}
	users := map[string]uuid.UUID{"owner": e.demo.Acme.Owner, "consultant": e.demo.Consultant, "staff": e.demo.Acme.Staff}
	// The hierarchy is the one patchUser applies.
	mustStatus(t, callers["consultant"].do("PATCH", "/api/admin/users/"+e.demo.Acme.Owner.String(), map[string]any{"role": "STAFF"}),
		http.StatusForbidden, "forbidden")

	missing := callers["consultant"].do("DELETE", "/api/admin/api-tokens/"+uuid.NewString(), nil)
	mustStatus(t, missing, http.StatusNotFound, "not_found")
	notFound := ruleProblem(t, missing)

	for _, tc := range []struct {
		name, actor, holder string
		want                int
	}{
		{"admin revokes the owner's token", "consultant", "owner", http.StatusNotFound},
		{"staff revokes the owner's token", "staff", "owner", http.StatusNotFound},
		{"staff revokes the admin's token", "staff", "consultant", http.StatusNotFound},
		{"owner revokes the admin's token", "owner", "consultant", http.StatusNoContent},
		{"owner revokes the staff's token", "owner", "staff", http.StatusNoContent},
		{"admin revokes the staff's token", "consultant", "staff", http.StatusNoContent},
		{"admin revokes their own token", "consultant", "consultant", http.StatusNoContent},
		{"owner revokes their own token", "owner", "owner", http.StatusNoContent},
		{"staff revokes their own token", "staff", "staff", http.StatusNoContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secret, id := ruleToken(t, callers[tc.holder], map[string]any{"name": tc.name})
			r := callers[tc.actor].do("DELETE", "/api/admin/api-tokens/"+id, nil)
			mustStatus(t, r, tc.want)
			after := ruleBearer(e, secret).do("GET", "/api/auth/session", nil)
			if tc.want == http.StatusNotFound {
				if got := ruleProblem(t, r); !reflect.DeepEqual(got, notFound) {
					t.Fatalf("refused revoke answered %v, a missing token %v", got, notFound)
				}
				mustStatus(t, after, http.StatusOK)
			} else {
				mustStatus(t, after, http.StatusUnauthorized, "unauthenticated")
			}
		})
	}

	// Lists: the ADMIN sees their own and the staff's tokens, none of the owner's; the owner
	// sees everyone's; staff only their own.
	for _, tc := range []struct {
		actor   string
		visible map[string]bool
	}{
		{"consultant", map[string]bool{"owner": false, "consultant": true, "staff": true}},
		{"owner", map[string]bool{"owner": true, "consultant": true, "staff": true}},
		{"staff", map[string]bool{"owner": false, "consultant": false, "staff": true}},
	} {
		t.Run("list as "+tc.actor, func(t *testing.T) {
			r := callers[tc.actor].do("GET", "/api/admin/api-tokens?limit=200", nil)
			mustStatus(t, r, http.StatusOK)
			var list struct {
				Items []struct {
					UserID string `json:"user_id"`
				} `json:"items"`
			}
			r.decode(t, &list)
			for who, want := range tc.visible {
				got := false
				for _, it := range list.Items {
					got = got || it.UserID == users[who].String()
				}
				if got != want {
					t.Errorf("%s's list shows %s's tokens: %v, want %v", tc.actor, who, got, want)
				}
			}
		})
	}
}
