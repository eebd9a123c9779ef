package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"tenantd/internal/store"
)

// reqList GETs a list route and returns its items, failing unless it answers 200.
func reqList[T any](t *testing.T, c *client, path string) []T {
	t.Helper()
	r := c.do("GET", path, nil)
	mustStatus(t, r, http.StatusOK)
	var out struct {
		Items []T `json:"items"`
	}
	r.decode(t, &out)
	return out.Items
}

// reqNoRequestID returns a problem document without its request id, to compare two answers.
func reqNoRequestID(b []byte) string {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return string(b)
	}
	delete(m, "request_id")
	out, _ := json.Marshal(m)
	return string(out)
}

// reqFields returns the field names of a validation problem.
func reqFields(t *testing.T, r *resp) []string {
	t.Helper()
	var p struct {
		Errors []struct {
			Field string `json:"field"`
		} `json:"errors"`
	}
	r.decode(t, &p)
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

// reqInvalid fails unless r is a 422 validation_failed naming every one of fields.
func reqInvalid(t *testing.T, r *resp, fields ...string) {
	t.Helper()
	mustStatus(t, r, http.StatusUnprocessableEntity, "validation_failed")
	got := strings.Join(reqFields(t, r), ",")
	for _, f := range fields {
		if !strings.Contains(","+got+",", ","+f+",") {
			t.Fatalf("validation errors %q do not name %q: %s", got, f, r.Body)
		}
	}
}

// reqTeamMemberOf finds the team member linked to user (as seeded).
func reqTeamMemberOf(t *testing.T, c *client, user uuid.UUID) store.TeamMember {
	t.Helper()
	for _, m := range reqList[store.TeamMember](t, c, "/api/admin/team-members") {
		if m.UserID != nil && *m.UserID == user {
			return m
		}
	}
	t.Fatalf("no team member linked to %s", user)
	return store.TeamMember{}
}

// reqInactiveService returns the id of a demo service that is not offered any more.
func reqInactiveService(t *testing.T, c *client) uuid.UUID {
	t.Helper()
	for _, v := range reqList[store.Service](t, c, "/api/admin/services?limit=200") {
		if !v.Active {
			return v.ID
		}
	}
	t.Fatal("no inactive demo service")
	return uuid.Nil
}

// reqFindRequest returns the first service request in list that satisfies ok.
func reqFindRequest(t *testing.T, list []store.ServiceRequest, ok func(store.ServiceRequest) bool) store.ServiceRequest {
	t.Helper()
	for _, v := range list {
		if ok(v) {
			return v
		}
	}
	t.Fatal("no matching service request in the demo data")
	return store.ServiceRequest{}
}

func TestReqAdminServiceRequests(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	staff := e.login("staff@acme.test", "")
	client := e.login("client@acme.test", "")
	globex := e.login("owner@globex.test", "")
	acme := e.demo.Acme
	staffTM := reqTeamMemberOf(t, owner, acme.Staff)

	t.Run("list", func(t *testing.T) {
		all := reqList[store.ServiceRequest](t, owner, "/api/admin/service-requests")
		seen := map[uuid.UUID]bool{}
		for _, v := range all {
			seen[v.ClientID] = true
		}
		if len(all) < 4 || !seen[acme.Client] || !seen[acme.Client2] {
			t.Fatalf("want the demo requests of both clients, got %+v", all)
		}
		for _, v := range reqList[store.ServiceRequest](t, owner, "/api/admin/service-requests?status=new&client="+acme.Client.String()) {
			if v.Status != "new" || v.ClientID != acme.Client {
				t.Fatalf("filter ignored: %+v", v)
			}
		}
		page := reqList[store.ServiceRequest](t, owner, "/api/admin/service-requests?limit=1")
		if len(page) != 1 {
			t.Fatalf("limit=1 gave %d items", len(page))
		}
		reqInvalid(t, owner.do("GET", "/api/admin/service-requests?status=bogus", nil), "status")
		reqInvalid(t, owner.do("GET", "/api/admin/service-requests?assignee=nope", nil), "assignee")
		mustStatus(t, client.do("GET", "/api/admin/service-requests", nil), http.StatusForbidden, "forbidden")
	})

	var created store.ServiceRequest
	t.Run("create", func(t *testing.T) {
		r := owner.do("POST", "/api/admin/service-requests", map[string]any{
			"client_id": acme.Client2, "service_id": acme.Services[0], "assignee_id": staffTM.ID,
			"title": "  Onboarding  ", "description": "New client onboarding.", "priority": "urgent"})
		mustStatus(t, r, http.StatusCreated)
		r.decode(t, &created)
		if created.Title != "Onboarding" || created.Status != "new" || created.Priority != "urgent" || created.ClientID != acme.Client2 ||
			created.AssigneeID == nil || *created.AssigneeID != staffTM.ID || created.ServiceID == nil || created.ID == uuid.Nil {
			t.Fatalf("created %+v", created)
		}
		// A staff member may open requests but not assign them.
		mustStatus(t, staff.do("POST", "/api/admin/service-requests", map[string]any{"client_id": acme.Client, "title": "By staff"}), http.StatusCreated)
		mustStatus(t, staff.do("POST", "/api/admin/service-requests", map[string]any{"client_id": acme.Client, "title": "By staff", "assignee_id": staffTM.ID}),
			http.StatusForbidden, "forbidden")

		globexTM := reqList[store.TeamMember](t, globex, "/api/admin/team-members")[0]
		for name, tc := range map[string]struct {
			body   any
			fields []string
		}{
			"empty":              {map[string]any{}, []string{"title", "client_id"}},
			"blank title":        {map[string]any{"client_id": acme.Client, "title": "  "}, []string{"title"}},
			"long title":         {map[string]any{"client_id": acme.Client, "title": strings.Repeat("x", 201)}, []string{"title"}},
			"staff as client":    {map[string]any{"client_id": acme.Staff, "title": "x"}, []string{"client_id"}},
			"globex client":      {map[string]any{"client_id": e.demo.Globex.Client, "title": "x"}, []string{"client_id"}},
			"globex service":     {map[string]any{"client_id": acme.Client, "title": "x", "service_id": e.demo.Globex.Services[0]}, []string{"service_id"}},
			"globex assignee":    {map[string]any{"client_id": acme.Client, "title": "x", "assignee_id": globexTM.ID}, []string{"assignee_id"}},
			"bad priority":       {map[string]any{"client_id": acme.Client, "title": "x", "priority": "asap"}, []string{"priority"}},
			"not new":            {map[string]any{"client_id": acme.Client, "title": "x", "status": "completed"}, []string{"status"}},
			"id not a uuid":      {map[string]any{"client_id": "someone", "title": "x"}, []string{"client_id"}},
			"unknown field":      {map[string]any{"client_id": acme.Client, "title": "x", "tenant_id": e.demo.Globex.ID}, []string{"tenant_id"}},
			"wrong type of text": {map[string]any{"client_id": acme.Client, "title": 7}, []string{"title"}},
		} {
			t.Run(name, func(t *testing.T) {
				reqInvalid(t, owner.do("POST", "/api/admin/service-requests", tc.body), tc.fields...)
			})
		}
	})

	t.Run("get", func(t *testing.T) {
		r := owner.do("GET", "/api/admin/service-requests/"+created.ID.String(), nil)
		mustStatus(t, r, http.StatusOK)
		var got store.ServiceRequest
		r.decode(t, &got)
		if got.ID != created.ID || got.Title != "Onboarding" {
			t.Fatalf("got %+v", got)
		}
		mustStatus(t, owner.do("GET", "/api/admin/service-requests/"+uuid.NewString(), nil), http.StatusNotFound, "not_found")
		mustStatus(t, owner.do("GET", "/api/admin/service-requests/not-an-id", nil), http.StatusNotFound, "not_found")
	})

	t.Run("patch", func(t *testing.T) {
		path := "/api/admin/service-requests/" + created.ID.String()
		r := staff.do("PATCH", path, map[string]any{"title": "Onboarding (2 entities)", "priority": "high", "service_id": nil})
		mustStatus(t, r, http.StatusOK)
		var got store.ServiceRequest
		r.decode(t, &got)
		if got.Title != "Onboarding (2 entities)" || got.Priority != "high" || got.ServiceID != nil || got.Description != "New client onboarding." {
			t.Fatalf("patched %+v", got)
		}
		reqInvalid(t, owner.do("PATCH", path, map[string]any{}))
		reqInvalid(t, owner.do("PATCH", path, map[string]any{"title": ""}), "title")
		reqInvalid(t, owner.do("PATCH", path, map[string]any{"status": "completed"}), "status")
		reqInvalid(t, owner.do("PATCH", path, map[string]any{"assignee_id": nil}), "assignee_id")
		reqInvalid(t, owner.do("PATCH", path, map[string]any{"client_id": acme.Client}), "client_id")
		reqInvalid(t, owner.do("PATCH", path, map[string]any{"service_id": e.demo.Globex.Services[0]}), "service_id")
		mustStatus(t, owner.do("PATCH", "/api/admin/service-requests/"+uuid.NewString(), map[string]any{"title": "x"}), http.StatusNotFound, "not_found")
	})

	t.Run("assign", func(t *testing.T) {
		path := "/api/admin/service-requests/" + created.ID.String() + "/assign"
		ownerTM := reqTeamMemberOf(t, owner, acme.Owner)
		r := owner.do("POST", path, map[string]any{"assignee_id": ownerTM.ID})
		mustStatus(t, r, http.StatusOK)
		var got store.ServiceRequest
		r.decode(t, &got)
		if got.AssigneeID == nil || *got.AssigneeID != ownerTM.ID {
			t.Fatalf("assigned %+v", got)
		}
		r = owner.do("POST", path, map[string]any{"assignee_id": nil})
		mustStatus(t, r, http.StatusOK)
		r.decode(t, &got)
		if got.AssigneeID != nil {
			t.Fatalf("unassign left %v", got.AssigneeID)
		}
		reqInvalid(t, owner.do("POST", path, map[string]any{}), "assignee_id")
		reqInvalid(t, owner.do("POST", path, map[string]any{"assignee_id": uuid.NewString()}), "assignee_id")
		inactive := owner.do("POST", "/api/admin/team-members", map[string]any{"name": "Gone", "active": false})
		mustStatus(t, inactive, http.StatusCreated)
		var tm store.TeamMember
		inactive.decode(t, &tm)
		reqInvalid(t, owner.do("POST", path, map[string]any{"assignee_id": tm.ID}), "assignee_id")
		mustStatus(t, staff.do("POST", path, map[string]any{"assignee_id": staffTM.ID}), http.StatusForbidden, "forbidden")
		// A finished request keeps its assignee.
		done := reqFindRequest(t, reqList[store.ServiceRequest](t, owner, "/api/admin/service-requests?status=completed"), func(store.ServiceRequest) bool { return true })
		mustStatus(t, owner.do("POST", "/api/admin/service-requests/"+done.ID.String()+"/assign", map[string]any{"assignee_id": nil}), http.StatusConflict, "conflict")
	})

	t.Run("status", func(t *testing.T) {
		path := "/api/admin/service-requests/" + created.ID.String() + "/status"
		for _, step := range []struct {
			to     string
			status int
			code   string
		}{
			{"new", http.StatusOK, ""}, // the status it has: a no-op
			{"completed", http.StatusConflict, "conflict"},
			{"in_progress", http.StatusOK, ""},
			{"new", http.StatusConflict, "conflict"},
			{"on_hold", http.StatusOK, ""},
			{"completed", http.StatusConflict, "conflict"},
			{"in_progress", http.StatusOK, ""},
			{"completed", http.StatusOK, ""},
			{"completed", http.StatusConflict, "conflict"}, // final
			{"cancelled", http.StatusConflict, "conflict"},
			{"in_progress", http.StatusConflict, "conflict"},
		} {
			r := staff.do("PATCH", path, map[string]any{"status": step.to})
			if step.code == "" {
				mustStatus(t, r, step.status)
				var got store.ServiceRequest
				r.decode(t, &got)
				if got.Status != step.to {
					t.Fatalf("status %s, want %s", got.Status, step.to)
				}
			} else {
				mustStatus(t, r, step.status, step.code)
			}
		}
		fresh := owner.do("POST", "/api/admin/service-requests", map[string]any{"client_id": acme.Client, "title": "To cancel"})
		mustStatus(t, fresh, http.StatusCreated)
		var v store.ServiceRequest
		fresh.decode(t, &v)
		p := "/api/admin/service-requests/" + v.ID.String() + "/status"
		reqInvalid(t, owner.do("PATCH", p, map[string]any{}), "status")
		reqInvalid(t, owner.do("PATCH", p, map[string]any{"status": "done"}), "status")
		mustStatus(t, owner.do("PATCH", p, map[string]any{"status": "cancelled"}), http.StatusOK)
		mustStatus(t, owner.do("PATCH", p, map[string]any{"status": "new"}), http.StatusConflict, "conflict")
	})

	t.Run("delete", func(t *testing.T) {
		r := owner.do("POST", "/api/admin/service-requests", map[string]any{"client_id": acme.Client, "title": "Mistake"})
		mustStatus(t, r, http.StatusCreated)
		var v store.ServiceRequest
		r.decode(t, &v)
		mustStatus(t, owner.do("DELETE", "/api/admin/service-requests/"+v.ID.String(), nil), http.StatusNoContent)
		mustStatus(t, owner.do("GET", "/api/admin/service-requests/"+v.ID.String(), nil), http.StatusNotFound, "not_found")
		mustStatus(t, owner.do("DELETE", "/api/admin/service-requests/"+v.ID.String(), nil), http.StatusNotFound, "not_found")
		// A request that work orders refer to stays.
		wo := reqList[store.WorkOrder](t, owner, "/api/admin/work-orders")
		var ref *uuid.UUID
		for _, w := range wo {
			if w.ServiceRequestID != nil {
				ref = w.ServiceRequestID
			}
		}
		if ref == nil {
			t.Fatal("no demo work order refers to a request")
		}
		mustStatus(t, owner.do("DELETE", "/api/admin/service-requests/"+ref.String(), nil), http.StatusConflict, "conflict")
		mustStatus(t, owner.do("GET", "/api/admin/service-requests/"+ref.String(), nil), http.StatusOK)
	})

	t.Run("idempotent create", func(t *testing.T) {
		body := map[string]any{"client_id": acme.Client, "title": "Once"}
		a := owner.do("POST", "/api/admin/service-requests", body, "Idempotency-Key", "req-once")
		b := owner.do("POST", "/api/admin/service-requests", body, "Idempotency-Key", "req-once")
		mustStatus(t, a, http.StatusCreated)
		mustStatus(t, b, http.StatusCreated)
		if string(a.Body) != string(b.Body) {
			t.Fatalf("replay differs: %s vs %s", a.Body, b.Body)
		}
	})
}

func TestReqPortalServiceRequests(t *testing.T) {
	e := newEnv(t)
	acme := e.demo.Acme
	owner := e.login("owner@acme.test", "")
	client := e.login("client@acme.test", "")
	client2 := e.login("client2@acme.test", "")
	staff := e.login("staff@acme.test", "")

	mine := reqList[store.ServiceRequest](t, client, "/api/portal/service-requests")
	if len(mine) < 2 {
		t.Fatalf("client sees %d requests, want the 2 demo ones", len(mine))
	}
	for _, v := range mine {
		if v.ClientID != acme.Client {
			t.Fatalf("client sees another client's request %+v", v)
		}
	}
	theirs := reqList[store.ServiceRequest](t, client2, "/api/portal/service-requests")
	if len(theirs) < 2 {
		t.Fatalf("client2 sees %d requests", len(theirs))
	}
	other := theirs[0]
	mustStatus(t, staff.do("GET", "/api/portal/service-requests", nil), http.StatusForbidden, "forbidden")
	reqInvalid(t, client.do("GET", "/api/portal/service-requests?status=bogus", nil), "status")

	t.Run("create", func(t *testing.T) {
		r := client.do("POST", "/api/portal/service-requests", map[string]any{"title": "Need help with VAT", "service_id": acme.Services[1], "priority": "high"})
		mustStatus(t, r, http.StatusCreated)
		var v store.ServiceRequest
		r.decode(t, &v)
		if v.ClientID != acme.Client || v.Status != "new" || v.AssigneeID != nil || v.Priority != "high" {
			t.Fatalf("created %+v", v)
		}
		for name, tc := range map[string]struct {
			body   any
			fields []string
		}{
			"no title":         {map[string]any{"description": "x"}, []string{"title"}},
			"for someone else": {map[string]any{"title": "x", "client_id": acme.Client2}, []string{"client_id"}},
			"self-assign":      {map[string]any{"title": "x", "assignee_id": uuid.NewString()}, []string{"assignee_id"}},
			"inactive service": {map[string]any{"title": "x", "service_id": reqInactiveService(t, owner)}, []string{"service_id"}},
			"globex service":   {map[string]any{"title": "x", "service_id": e.demo.Globex.Services[0]}, []string{"service_id"}},
			"status":           {map[string]any{"title": "x", "status": "in_progress"}, []string{"status"}},
		} {
			t.Run(name, func(t *testing.T) {
				reqInvalid(t, client.do("POST", "/api/portal/service-requests", tc.body), tc.fields...)
			})
		}
	})

	t.Run("get own only", func(t *testing.T) {
		mustStatus(t, client.do("GET", "/api/portal/service-requests/"+mine[0].ID.String(), nil), http.StatusOK)
		foreign := client.do("GET", "/api/portal/service-requests/"+other.ID.String(), nil)
		missing := client.do("GET", "/api/portal/service-requests/"+uuid.NewString(), nil)
		mustStatus(t, foreign, http.StatusNotFound, "not_found")
		mustStatus(t, missing, http.StatusNotFound, "not_found")
		if reqNoRequestID(foreign.Body) != reqNoRequestID(missing.Body) {
			t.Fatalf("another client's request %s differs from a missing one %s", foreign.Body, missing.Body)
		}
	})

	t.Run("patch", func(t *testing.T) {
		r := client.do("POST", "/api/portal/service-requests", map[string]any{"title": "Draft"})
		mustStatus(t, r, http.StatusCreated)
		var v store.ServiceRequest
		r.decode(t, &v)
		path := "/api/portal/service-requests/" + v.ID.String()
		r = client.do("PATCH", path, map[string]any{"title": "Final title", "description": "More detail"})
		mustStatus(t, r, http.StatusOK)
		r.decode(t, &v)
		if v.Title != "Final title" || v.Description != "More detail" || v.Status != "new" {
			t.Fatalf("patched %+v", v)
		}
		reqInvalid(t, client.do("PATCH", path, map[string]any{}))
		reqInvalid(t, client.do("PATCH", path, map[string]any{"title": ""}), "title")
		reqInvalid(t, client.do("PATCH", path, map[string]any{"priority": "urgent"}), "priority")
		reqInvalid(t, client.do("PATCH", path, map[string]any{"status": "completed"}), "status")
		reqInvalid(t, client.do("PATCH", path, map[string]any{"service_id": nil}), "service_id")

		// Once staff work on it, the content is fixed, but the client may still cancel.
		mustStatus(t, owner.do("PATCH", "/api/admin/service-requests/"+v.ID.String()+"/status", map[string]any{"status": "in_progress"}), http.StatusOK)
		mustStatus(t, client.do("PATCH", path, map[string]any{"title": "Too late"}), http.StatusConflict, "conflict")
		// Resending the unchanged content with the cancellation is fine.
		r = client.do("PATCH", path, map[string]any{"title": "Final title", "description": "More detail", "status": "cancelled"})
		mustStatus(t, r, http.StatusOK)
		r.decode(t, &v)
		if v.Status != "cancelled" || v.Title != "Final title" {
			t.Fatalf("cancelled %+v", v)
		}
		mustStatus(t, client.do("PATCH", path, map[string]any{"status": "cancelled"}), http.StatusConflict, "conflict")

		// A new request can be edited and cancelled in one go.
		r = client.do("POST", "/api/portal/service-requests", map[string]any{"title": "Oops"})
		mustStatus(t, r, http.StatusCreated)
		r.decode(t, &v)
		r = client.do("PATCH", "/api/portal/service-requests/"+v.ID.String(), map[string]any{"description": "Opened by mistake", "status": "cancelled"})
		mustStatus(t, r, http.StatusOK)
		r.decode(t, &v)
		if v.Status != "cancelled" || v.Description != "Opened by mistake" {
			t.Fatalf("edit+cancel %+v", v)
		}
	})

	t.Run("another client's request is not found and unchanged", func(t *testing.T) {
		path := "/api/portal/service-requests/" + other.ID.String()
		before := owner.do("GET", "/api/admin/service-requests/"+other.ID.String(), nil)
		for _, body := range []any{map[string]any{}, map[string]any{"title": "Hijacked"}, map[string]any{"status": "cancelled"}} {
			got := client.do("PATCH", path, body)
			want := client.do("PATCH", "/api/portal/service-requests/"+uuid.NewString(), body)
			mustStatus(t, got, http.StatusNotFound, "not_found")
			if reqNoRequestID(got.Body) != reqNoRequestID(want.Body) {
				t.Fatalf("bodies differ: %s vs %s", got.Body, want.Body)
			}
		}
		after := owner.do("GET", "/api/admin/service-requests/"+other.ID.String(), nil)
		if string(before.Body) != string(after.Body) {
			t.Fatalf("another client's request changed: %s -> %s", before.Body, after.Body)
		}
	})
}

func TestReqServiceRequestsCrossTenant(t *testing.T) {
	e := newEnv(t)
	acmeOwner := e.login("owner@acme.test", "")
	acmeClient := e.login("client@acme.test", "")
	globexOwner := e.login("owner@globex.test", "")
	globexClient := e.login("client@globex.test", "")
	foreign := reqList[store.ServiceRequest](t, globexOwner, "/api/admin/service-requests")
	foreignOwn := reqList[store.ServiceRequest](t, globexClient, "/api/portal/service-requests")
	if len(foreign) < 4 || len(foreignOwn) < 1 {
		t.Fatalf("globex demo requests missing: %d, %d", len(foreign), len(foreignOwn))
	}
	acmeTM := reqTeamMemberOf(t, acmeOwner, e.demo.Acme.Staff)
	target := foreign[0].ID.String()
	before := globexOwner.do("GET", "/api/admin/service-requests/"+target, nil)
	for _, tc := range []struct {
		c      *client
		method string
		path   string
		body   any
	}{
		{acmeOwner, "GET", "/api/admin/service-requests/%s", nil},
		{acmeOwner, "PATCH", "/api/admin/service-requests/%s", map[string]any{}},
		{acmeOwner, "PATCH", "/api/admin/service-requests/%s", map[string]any{"title": "Taken over"}},
		{acmeOwner, "POST", "/api/admin/service-requests/%s/assign", map[string]any{"assignee_id": acmeTM.ID}},
		{acmeOwner, "POST", "/api/admin/service-requests/%s/assign", map[string]any{}},
		{acmeOwner, "PATCH", "/api/admin/service-requests/%s/status", map[string]any{"status": "cancelled"}},
		{acmeOwner, "DELETE", "/api/admin/service-requests/%s", nil},
		{acmeClient, "GET", "/api/portal/service-requests/%s", nil},
		{acmeClient, "PATCH", "/api/portal/service-requests/%s", map[string]any{"status": "cancelled"}},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			id := target
			if strings.HasPrefix(tc.path, "/api/portal/") {
				id = foreignOwn[0].ID.String()
			}
			got := tc.c.do(tc.method, strings.Replace(tc.path, "%s", id, 1), tc.body)
			want := tc.c.do(tc.method, strings.Replace(tc.path, "%s", uuid.NewString(), 1), tc.body)
			mustStatus(t, got, http.StatusNotFound, "not_found")
			if reqNoRequestID(got.Body) != reqNoRequestID(want.Body) {
				t.Fatalf("foreign %s differs from missing %s", got.Body, want.Body)
			}
		})
	}
	after := globexOwner.do("GET", "/api/admin/service-requests/"+target, nil)
	if string(before.Body) != string(after.Body) {
		t.Fatalf("globex request changed: %s -> %s", before.Body, after.Body)
	}
	mustStatus(t, globexClient.do("GET", "/api/portal/service-requests/"+foreignOwn[0].ID.String(), nil), http.StatusOK)
	for _, v := range reqList[store.ServiceRequest](t, acmeOwner, "/api/admin/service-requests?limit=200") {
		for _, f := range foreign {
			if v.ID == f.ID {
				t.Fatalf("acme lists globex request %s", f.ID)
			}
		}
	}
	// A globex request cannot be named as a work order's request in acme either.
	reqInvalid(t, acmeOwner.do("POST", "/api/admin/work-orders", map[string]any{"code": "X-1", "title": "x", "service_request_id": target}), "service_request_id")
}
