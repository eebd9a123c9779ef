package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/store"
)

func TestReqTeamMembers(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	staff := e.login("staff@acme.test", "")
	client := e.login("client@acme.test", "")
	globex := e.login("owner@globex.test", "")

	t.Run("list", func(t *testing.T) {
		all := reqList[store.TeamMember](t, staff, "/api/admin/team-members")
		if len(all) < 2 {
			t.Fatalf("want the demo team, got %d", len(all))
		}
		reqInvalid(t, owner.do("GET", "/api/admin/team-members?active=maybe", nil), "active")
		mustStatus(t, client.do("GET", "/api/admin/team-members", nil), http.StatusForbidden, "forbidden")
	})

	var robin store.TeamMember
	t.Run("create", func(t *testing.T) {
		r := owner.do("POST", "/api/admin/team-members", map[string]any{"name": "Robin Reviewer", "email": "robin@example.test", "title": "Reviewer", "capacity_hours_per_week": 25})
		mustStatus(t, r, http.StatusCreated)
		r.decode(t, &robin)
		if robin.Name != "Robin Reviewer" || robin.CapacityHoursPerWeek != 25 || !robin.Active || robin.UserID != nil {
			t.Fatalf("created %+v", robin)
		}
		r = owner.do("POST", "/api/admin/team-members", map[string]any{"name": "Default Dana"})
		mustStatus(t, r, http.StatusCreated)
		var dana store.TeamMember
		r.decode(t, &dana)
		if dana.CapacityHoursPerWeek != 40 || !dana.Active {
			t.Fatalf("defaults %+v", dana)
		}
		// Linked to a member user, name and email default to the user's.
		r = owner.do("POST", "/api/admin/team-members", map[string]any{"user_id": e.demo.Consultant, "title": "Advisor"})
		mustStatus(t, r, http.StatusCreated)
		var casey store.TeamMember
		r.decode(t, &casey)
		if casey.UserID == nil || *casey.UserID != e.demo.Consultant || casey.Name != "Casey Consultant" || casey.Email != "consultant@demo.test" {
			t.Fatalf("linked %+v", casey)
		}
		mustStatus(t, owner.do("POST", "/api/admin/team-members", map[string]any{"user_id": e.demo.Consultant}), http.StatusConflict, "conflict")
		mustStatus(t, staff.do("POST", "/api/admin/team-members", map[string]any{"name": "By staff"}), http.StatusForbidden, "forbidden")

		for name, tc := range map[string]struct {
			body   any
			fields []string
		}{
			"empty":         {map[string]any{}, []string{"name"}},
			"capacity":      {map[string]any{"name": "x", "capacity_hours_per_week": 169}, []string{"capacity_hours_per_week"}},
			"negative":      {map[string]any{"name": "x", "capacity_hours_per_week": -1}, []string{"capacity_hours_per_week"}},
			"email":         {map[string]any{"name": "x", "email": "not an email"}, []string{"email"}},
			"client user":   {map[string]any{"name": "x", "user_id": e.demo.Acme.Client}, []string{"user_id"}},
			"globex user":   {map[string]any{"name": "x", "user_id": e.demo.Globex.Owner}, []string{"user_id"}},
			"unknown user":  {map[string]any{"name": "x", "user_id": uuid.NewString()}, []string{"user_id"}},
			"unknown field": {map[string]any{"name": "x", "hourly_rate": 100}, []string{"hourly_rate"}},
		} {
			t.Run(name, func(t *testing.T) {
				reqInvalid(t, owner.do("POST", "/api/admin/team-members", tc.body), tc.fields...)
			})
		}
	})

	t.Run("get and put", func(t *testing.T) {
		path := "/api/admin/team-members/" + robin.ID.String()
		mustStatus(t, staff.do("GET", path, nil), http.StatusOK)
		mustStatus(t, owner.do("GET", "/api/admin/team-members/"+uuid.NewString(), nil), http.StatusNotFound, "not_found")
		r := owner.do("PUT", path, map[string]any{"name": "Robin R.", "capacity_hours_per_week": 10})
		mustStatus(t, r, http.StatusOK)
		var got store.TeamMember
		r.decode(t, &got)
		if got.Name != "Robin R." || got.CapacityHoursPerWeek != 10 || got.Email != "" || got.Title != "" || !got.Active {
			t.Fatalf("replaced %+v", got)
		}
		r = owner.do("PUT", path, map[string]any{"name": "Robin R.", "active": false})
		mustStatus(t, r, http.StatusOK)
		r.decode(t, &got)
		if got.Active || got.CapacityHoursPerWeek != 40 {
			t.Fatalf("deactivated %+v", got)
		}
		inactive := reqList[store.TeamMember](t, owner, "/api/admin/team-members?active=false")
		if len(inactive) != 1 || inactive[0].ID != robin.ID {
			t.Fatalf("active=false lists %+v", inactive)
		}
		reqInvalid(t, owner.do("PUT", path, map[string]any{}), "name")
		mustStatus(t, owner.do("PUT", path, map[string]any{"name": "x", "user_id": e.demo.Acme.Staff}), http.StatusConflict, "conflict")
		mustStatus(t, staff.do("PUT", path, map[string]any{"name": "x"}), http.StatusForbidden, "forbidden")
	})

	t.Run("delete", func(t *testing.T) {
		mustStatus(t, owner.do("DELETE", "/api/admin/team-members/"+robin.ID.String(), nil), http.StatusNoContent)
		mustStatus(t, owner.do("GET", "/api/admin/team-members/"+robin.ID.String(), nil), http.StatusNotFound, "not_found")
		mustStatus(t, owner.do("DELETE", "/api/admin/team-members/"+robin.ID.String(), nil), http.StatusNotFound, "not_found")
		// Someone with assignments is deactivated, not deleted.
		staffTM := reqTeamMemberOf(t, owner, e.demo.Acme.Staff)
		mustStatus(t, owner.do("DELETE", "/api/admin/team-members/"+staffTM.ID.String(), nil), http.StatusConflict, "conflict")
		mustStatus(t, owner.do("GET", "/api/admin/team-members/"+staffTM.ID.String(), nil), http.StatusOK)
	})

	t.Run("cross tenant", func(t *testing.T) {
		foreign := reqList[store.TeamMember](t, globex, "/api/admin/team-members")[0]
		path := "/api/admin/team-members/" + foreign.ID.String()
		before := globex.do("GET", path, nil)
		for _, tc := range []struct {
			method string
			body   any
		}{{"GET", nil}, {"PUT", map[string]any{}}, {"PUT", map[string]any{"name": "Poached", "active": false}}, {"DELETE", nil}} {
			got := owner.do(tc.method, path, tc.body)
			want := owner.do(tc.method, "/api/admin/team-members/"+uuid.NewString(), tc.body)
			mustStatus(t, got, http.StatusNotFound, "not_found")
			if reqNoRequestID(got.Body) != reqNoRequestID(want.Body) {
				t.Fatalf("%s: foreign %s differs from missing %s", tc.method, got.Body, want.Body)
			}
		}
		after := globex.do("GET", path, nil)
		mustStatus(t, after, http.StatusOK)
		if string(before.Body) != string(after.Body) {
			t.Fatalf("globex team member changed: %s -> %s", before.Body, after.Body)
		}
	})
}

// reqBookingHours is the length of a booking in hours, as the API reports it.
func reqBookingHours(t *testing.T, c *client, id uuid.UUID) float64 {
	t.Helper()
	r := c.do("GET", "/api/bookings/"+id.String(), nil)
	mustStatus(t, r, http.StatusOK)
	var b store.Booking
	r.decode(t, &b)
	return b.EndsAt.Sub(b.StartsAt).Hours()
}

func TestReqTeamReports(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	staff := e.login("staff@acme.test", "")
	client := e.login("client@acme.test", "")
	acme := e.demo.Acme
	staffTM := reqTeamMemberOf(t, owner, acme.Staff)
	ownerTM := reqTeamMemberOf(t, owner, acme.Owner)

	workload := func(t *testing.T, id uuid.UUID) store.TeamWorkload {
		t.Helper()
		for _, w := range reqList[store.TeamWorkload](t, staff, "/api/admin/team-management/workload") {
			if w.TeamMemberID == id {
				return w
			}
		}
		t.Fatalf("no workload row for %s", id)
		return store.TeamWorkload{}
	}

	t.Run("workload", func(t *testing.T) {
		// The demo data assigns the staff member one request in progress (and one completed),
		// one work order in progress of 6 hours, and one upcoming booking.
		w := workload(t, staffTM.ID)
		if w.OpenServiceRequests != 1 || w.OpenWorkOrders != 1 || w.EstimatedOpenHours != 6 || w.UpcomingBookings != 1 ||
			w.CapacityHoursPerWeek != 40 || w.Utilization == nil || *w.Utilization != 0.15 || w.OverCapacity {
			t.Fatalf("staff workload %+v", w)
		}
		// New work shows up at once; finished work drops out.
		mustStatus(t, owner.do("POST", "/api/admin/work-orders", map[string]any{"code": "BIG-1", "title": "Audit prep", "assignee_id": staffTM.ID, "estimated_hours": 40}), http.StatusCreated)
		inProgress := reqList[store.ServiceRequest](t, owner, "/api/admin/service-requests?status=in_progress&assignee="+staffTM.ID.String())
		if len(inProgress) != 1 {
			t.Fatalf("want one request in progress for staff, got %d", len(inProgress))
		}
		mustStatus(t, owner.do("PATCH", "/api/admin/service-requests/"+inProgress[0].ID.String()+"/status", map[string]any{"status": "completed"}), http.StatusOK)
		w = workload(t, staffTM.ID)
		if w.OpenServiceRequests != 0 || w.OpenWorkOrders != 2 || w.EstimatedOpenHours != 46 || !w.OverCapacity {
			t.Fatalf("staff workload after changes %+v", w)
		}
		// Inactive members are not listed.
		r := owner.do("POST", "/api/admin/team-members", map[string]any{"name": "Away", "active": false})
		mustStatus(t, r, http.StatusCreated)
		var away store.TeamMember
		r.decode(t, &away)
		for _, w := range reqList[store.TeamWorkload](t, owner, "/api/admin/team-management/workload") {
			if w.TeamMemberID == away.ID {
				t.Fatal("inactive member in the workload")
			}
		}
		mustStatus(t, client.do("GET", "/api/admin/team-management/workload", nil), http.StatusForbidden, "forbidden")
	})

	t.Run("availability", func(t *testing.T) {
		staffBooked := reqBookingHours(t, owner, acme.Bookings[0])
		ownerBooked := reqBookingHours(t, owner, acme.Bookings[1])
		rows := reqList[store.TeamAvailability](t, staff, "/api/admin/team-management/availability")
		found := 0
		for _, a := range rows {
			if a.To.Sub(a.From) != 7*24*time.Hour {
				t.Fatalf("window %v..%v", a.From, a.To)
			}
			switch a.TeamMemberID {
			case staffTM.ID:
				found++
				if a.CapacityHours != 40 || a.BookedHours != staffBooked || a.FreeHours != 40-staffBooked || a.Bookings != 1 {
					t.Fatalf("staff availability %+v (booked %v)", a, staffBooked)
				}
			case ownerTM.ID:
				found++
				if a.CapacityHours != 30 || a.BookedHours != ownerBooked || a.FreeHours != 30-ownerBooked {
					t.Fatalf("owner availability %+v (booked %v)", a, ownerBooked)
				}
			}
		}
		if found != 2 {
			t.Fatalf("availability rows %+v", rows)
		}
		for _, a := range reqList[store.TeamAvailability](t, owner, "/api/admin/team-management/availability?from=2100-01-01") {
			if a.BookedHours != 0 || a.FreeHours != a.CapacityHours {
				t.Fatalf("far future availability %+v", a)
			}
		}
		reqInvalid(t, owner.do("GET", "/api/admin/team-management/availability?from=soon", nil), "from")
	})

	t.Run("assignments", func(t *testing.T) {
		all := reqList[store.TeamAssignment](t, staff, "/api/admin/team-management/assignments")
		kinds := map[string]int{}
		for _, a := range all {
			kinds[a.Type]++
			if a.AssigneeName == "" || a.AssigneeID == uuid.Nil {
				t.Fatalf("assignment without assignee %+v", a)
			}
			if a.Status == "completed" || a.Status == "done" || a.Status == "cancelled" {
				t.Fatalf("finished work listed %+v", a)
			}
		}
		if kinds["service_request"] == 0 || kinds["work_order"] == 0 || kinds["booking"] == 0 {
			t.Fatalf("assignments by type %v", kinds)
		}
		for _, a := range reqList[store.TeamAssignment](t, owner, "/api/admin/team-management/assignments?type=booking&assignee="+staffTM.ID.String()) {
			if a.Type != "booking" || a.AssigneeID != staffTM.ID || a.StartsAt == nil || a.ClientID == nil {
				t.Fatalf("filtered %+v", a)
			}
		}
		reqInvalid(t, owner.do("GET", "/api/admin/team-management/assignments?type=invoice", nil), "type")
		reqInvalid(t, owner.do("GET", "/api/admin/team-management/assignments?assignee=me", nil), "assignee")
	})
}
