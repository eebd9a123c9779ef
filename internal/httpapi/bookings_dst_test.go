package httpapi_test

import (
	"net/http"
	"testing"
	"time"
)

// Opening hours are clock times in the firm's time zone: on the days daylight saving time
// starts or ends (23 or 25 hours long) the booking page offers 09:00 to 17:00 local time as on
// any other day, and an online booking takes exactly those times.
func TestAvailabilityAcrossDaylightSavingChanges(t *testing.T) {
	e := newEnv(t)
	owner := e.login("owner@acme.test", "")
	client := e.login("client@acme.test", "")
	mustStatus(t, owner.do("PUT", "/api/admin/booking-settings", map[string]any{
		"allow_online_booking": true, "require_confirmation": true, "slot_minutes": 60, "min_notice_minutes": 0,
		"max_advance_days": 730, "day_start_minute": 9 * 60, "day_end_minute": 17 * 60, "working_days": []int{1, 2, 3, 4, 5, 6, 7},
		"timezone": "Europe/Berlin"}), http.StatusOK)
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	var slug string
	contSQL(t, e, `SELECT slug FROM services WHERE id = $1`, []any{e.demo.Acme.Services[0]}, &slug)

	// The next day clocks go forward, the next they go back, and an ordinary day.
	var days []time.Time
	d := time.Now().In(loc).AddDate(0, 0, 2)
	d = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
	for len(days) < 2 {
		next := d.AddDate(0, 0, 1)
		if next.Sub(d) != 24*time.Hour {
			days = append(days, d)
		}
		d = next
	}
	days = append(days, days[0].AddDate(0, 0, 1))

	for _, day := range days {
		t.Run(day.Format(time.DateOnly), func(t *testing.T) {
			r := e.anon().onHost("acme.localhost").do("GET", "/api/bookings/availability?service="+slug+"&date="+day.Format(time.DateOnly), nil)
			mustStatus(t, r, http.StatusOK)
			var out struct {
				Slots []rrSlot `json:"slots"`
			}
			r.decode(t, &out)
			if len(out.Slots) == 0 {
				t.Fatalf("no slots: %s", r.Body)
			}
			first, last := out.Slots[0], out.Slots[len(out.Slots)-1]
			if got := first.StartsAt.In(loc).Format("15:04"); got != "09:00" {
				t.Errorf("first slot starts at %s local, want 09:00", got)
			}
			if got := last.EndsAt.In(loc); got.Hour()*60+got.Minute() > 17*60 || got.Hour() < 16 {
				t.Errorf("last slot ends at %s local, want by 17:00 and after 16:00", got.Format("15:04"))
			}
			// Online booking follows the same hours: 09:00 local is taken, 08:00 local is not.
			open := time.Date(day.Year(), day.Month(), day.Day(), 9, 0, 0, 0, loc)
			early := open.Add(-time.Hour)
			mustInvalid(t, client.do("POST", "/api/bookings", map[string]any{"service_id": e.demo.Acme.Services[0], "starts_at": early.UTC()}), "starts_at")
			mustStatus(t, client.do("POST", "/api/bookings", map[string]any{"service_id": e.demo.Acme.Services[0], "starts_at": open.UTC()}), http.StatusCreated)
		})
	}
}
