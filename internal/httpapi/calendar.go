package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"tenantd/internal/auth"
	"tenantd/internal/store"
)

// Calendar: bookings and reminders in a time range, for staff.

func (s *Server) calendarRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/admin/calendar", Kind: KindTenant, Permission: auth.PermCalendar,
			Summary: "Bookings and reminders in [from, to)", Handler: s.calendar},
	}
}

// contMaxCalendarRange and contMaxCalendarEntries bound one calendar request: a year at most,
// and no more entries than a calendar shows (a busy firm's year asks for a shorter range).
const (
	contMaxCalendarRange   = 366 * 24 * time.Hour
	contMaxCalendarEntries = 2000
)

func (s *Server) calendar(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	var f fields
	from, err := queryTime(r, "from")
	if err != nil {
		f = append(f, asProblem(err).fields...)
	} else if from == nil {
		f.add("from", "is required (RFC 3339 time or YYYY-MM-DD)")
	}
	to, err := queryTime(r, "to")
	if err != nil {
		f = append(f, asProblem(err).fields...)
	} else if to == nil {
		f.add("to", "is required (RFC 3339 time or YYYY-MM-DD)")
	}
	if from != nil && to != nil {
		if !to.After(*from) {
			f.add("to", "must be after from")
		} else if to.Sub(*from) > contMaxCalendarRange {
			f.add("to", "the range is at most 366 days")
		}
	}
	if err := f.err(); err != nil {
		return err
	}
	items, err := sc.Calendar(r.Context(), *from, *to, contMaxCalendarEntries+1)
	if err != nil {
		return err
	}
	if len(items) > contMaxCalendarEntries {
		return errField("to", fmt.Sprintf("the range holds more than %d entries; ask for a shorter one", contMaxCalendarEntries))
	}
	if items == nil {
		items = []store.CalendarEntry{}
	}
	return writeJSON(w, http.StatusOK, List[store.CalendarEntry]{Items: items})
}
