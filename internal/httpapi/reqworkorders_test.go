package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"tenantd/internal/store"
)

func TestReqWorkOrders(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	staff := e.login("staff@acme.test", "")
	client := e.login("client@acme.test", "")
	globex := e.login("owner@globex.test", "")
	staffTM := reqTeamMemberOf(t, owner, e.demo.Acme.Staff)
	requests := reqList[store.ServiceRequest](t, owner, "/api/admin/service-requests")

	t.Run("list", func(t *testing.T) {
		all := reqList[store.WorkOrder](t, owner, "/api/admin/work-orders")
		if len(all) < 2 {
			t.Fatalf("want the demo work orders, got %d", len(all))
		}
		for _, v := range reqList[store.WorkOrder](t, staff, "/api/admin/work-orders?status=open&assignee="+staffTM.ID.String()) {
			if v.Status != "open" || v.AssigneeID == nil || *v.AssigneeID != staffTM.ID {
				t.Fatalf("filter ignored: %+v", v)
			}
		}
		reqInvalid(t, owner.do("GET", "/api/admin/work-orders?status=closed", nil), "status")
		reqInvalid(t, owner.do("GET", "/api/admin/work-orders?service_request=x", nil), "service_request")
		mustStatus(t, client.do("GET", "/api/admin/work-orders", nil), http.StatusForbidden, "forbidden")
	})

	var wo store.WorkOrder
	t.Run("create", func(t *testing.T) {
		r := staff.do("POST", "/api/admin/work-orders", map[string]any{"code": "AC-7", "title": " File extension ",
			"service_request_id": requests[0].ID, "assignee_id": staffTM.ID, "due_on": "2030-04-15", "estimated_hours": 2.346})
		mustStatus(t, r, http.StatusCreated)
		r.decode(t, &wo)
		if wo.Code != "AC-7" || wo.Title != "File extension" || wo.Status != "open" || wo.DueOn == nil || *wo.DueOn != "2030-04-15" ||
			wo.EstimatedHours != 2.35 || wo.ServiceRequestID == nil || *wo.ServiceRequestID != requests[0].ID {
			t.Fatalf("created %+v", wo)
		}
		globexTM := reqList[store.TeamMember](t, globex, "/api/admin/team-members")[0]
		globexSR := reqList[store.ServiceRequest](t, globex, "/api/admin/service-requests")[0]
		for name, tc := range map[string]struct {
			body   any
			fields []string
		}{
			"empty":           {map[string]any{}, []string{"code", "title"}},
			"code with space": {map[string]any{"code": "A 1", "title": "x"}, []string{"code"}},
			"code too long":   {map[string]any{"code": strings.Repeat("A", 65), "title": "x"}, []string{"code"}},
			"bad status":      {map[string]any{"code": "A-1", "title": "x", "status": "closed"}, []string{"status"}},
			"bad date":        {map[string]any{"code": "A-1", "title": "x", "due_on": "15/04/2030"}, []string{"due_on"}},
			"negative hours":  {map[string]any{"code": "A-1", "title": "x", "estimated_hours": -1}, []string{"estimated_hours"}},
			"hours as text":   {map[string]any{"code": "A-1", "title": "x", "estimated_hours": "2"}, []string{"estimated_hours"}},
			"globex request":  {map[string]any{"code": "A-1", "title": "x", "service_request_id": globexSR.ID}, []string{"service_request_id"}},
			"globex assignee": {map[string]any{"code": "A-1", "title": "x", "assignee_id": globexTM.ID}, []string{"assignee_id"}},
		} {
			t.Run(name, func(t *testing.T) {
				reqInvalid(t, owner.do("POST", "/api/admin/work-orders", tc.body), tc.fields...)
			})
		}
	})

	t.Run("code unique per tenant", func(t *testing.T) {
		mustStatus(t, owner.do("POST", "/api/admin/work-orders", map[string]any{"code": "AC-7", "title": "Again"}), http.StatusConflict, "conflict")
		// The demo codes exist in both tenants, and a new code may be taken in each.
		mustStatus(t, owner.do("POST", "/api/admin/work-orders", map[string]any{"code": "WO-1001", "title": "Again"}), http.StatusConflict, "conflict")
		mustStatus(t, globex.do("POST", "/api/admin/work-orders", map[string]any{"code": "AC-7", "title": "Same code, other firm"}), http.StatusCreated)
		mustStatus(t, owner.do("POST", "/api/admin/work-orders", map[string]any{"code": "SHARED-1", "title": "x"}), http.StatusCreated)
		mustStatus(t, globex.do("POST", "/api/admin/work-orders", map[string]any{"code": "SHARED-1", "title": "x"}), http.StatusCreated)
		mustStatus(t, globex.do("POST", "/api/admin/work-orders", map[string]any{"code": "SHARED-1", "title": "x"}), http.StatusConflict, "conflict")
	})

	t.Run("get", func(t *testing.T) {
		r := owner.do("GET", "/api/admin/work-orders/"+wo.ID.String(), nil)
		mustStatus(t, r, http.StatusOK)
		var got store.WorkOrder
		r.decode(t, &got)
		if got.ID != wo.ID || got.Code != "AC-7" {
			t.Fatalf("got %+v", got)
		}
		mustStatus(t, owner.do("GET", "/api/admin/work-orders/"+uuid.NewString(), nil), http.StatusNotFound, "not_found")
	})

	t.Run("put", func(t *testing.T) {
		path := "/api/admin/work-orders/" + wo.ID.String()
		r := owner.do("PUT", path, map[string]any{"code": "AC-7", "title": "File extension", "status": "in_progress", "estimated_hours": 3})
		mustStatus(t, r, http.StatusOK)
		var got store.WorkOrder
		r.decode(t, &got)
		// PUT replaces: what is absent is cleared, except the status.
		if got.Status != "in_progress" || got.EstimatedHours != 3 || got.DueOn != nil || got.AssigneeID != nil || got.ServiceRequestID != nil {
			t.Fatalf("replaced %+v", got)
		}
		r = owner.do("PUT", path, map[string]any{"code": "AC-8", "title": "Renamed"})
		mustStatus(t, r, http.StatusOK)
		r.decode(t, &got)
		if got.Status != "in_progress" || got.Code != "AC-8" {
			t.Fatalf("status not kept: %+v", got)
		}
		mustStatus(t, owner.do("PUT", path, map[string]any{"code": "WO-1002", "title": "x"}), http.StatusConflict, "conflict")
		reqInvalid(t, owner.do("PUT", path, map[string]any{}), "code", "title")
		reqInvalid(t, owner.do("PUT", path, map[string]any{"code": "AC-8", "title": "x", "status": "closed"}), "status")
		mustStatus(t, owner.do("PUT", "/api/admin/work-orders/"+uuid.NewString(), map[string]any{"code": "Z", "title": "x"}), http.StatusNotFound, "not_found")
	})

	t.Run("delete", func(t *testing.T) {
		mustStatus(t, staff.do("DELETE", "/api/admin/work-orders/"+wo.ID.String(), nil), http.StatusNoContent)
		mustStatus(t, owner.do("GET", "/api/admin/work-orders/"+wo.ID.String(), nil), http.StatusNotFound, "not_found")
		mustStatus(t, owner.do("DELETE", "/api/admin/work-orders/"+wo.ID.String(), nil), http.StatusNotFound, "not_found")
		// The code is free again.
		mustStatus(t, owner.do("POST", "/api/admin/work-orders", map[string]any{"code": "AC-8", "title": "Reused"}), http.StatusCreated)
	})

	t.Run("cross tenant", func(t *testing.T) {
		foreign := reqList[store.WorkOrder](t, globex, "/api/admin/work-orders")[0]
		path := "/api/admin/work-orders/" + foreign.ID.String()
		before := globex.do("GET", path, nil)
		for _, tc := range []struct {
			method string
			body   any
		}{
			{"GET", nil},
			{"PUT", map[string]any{}},
			{"PUT", map[string]any{"code": "MINE", "title": "Taken over"}},
			{"DELETE", nil},
		} {
			got := owner.do(tc.method, path, tc.body)
			want := owner.do(tc.method, "/api/admin/work-orders/"+uuid.NewString(), tc.body)
			mustStatus(t, got, http.StatusNotFound, "not_found")
			if reqNoRequestID(got.Body) != reqNoRequestID(want.Body) {
				t.Fatalf("%s: foreign %s differs from missing %s", tc.method, got.Body, want.Body)
			}
		}
		after := globex.do("GET", path, nil)
		mustStatus(t, after, http.StatusOK)
		if string(before.Body) != string(after.Body) {
			t.Fatalf("globex work order changed: %s -> %s", before.Body, after.Body)
		}
	})
}
