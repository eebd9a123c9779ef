package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// CalendarEntry is one item of the staff calendar: a booking or a reminder.
type CalendarEntry struct {
	Type     string    `json:"type"` // "booking" or "reminder"
	ID       uuid.UUID `json:"id"`
	Title    string    `json:"title"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"` // a reminder's is its due time
	Status   string    `json:"status"`
}

// Calendar lists the bookings that start and the reminders that are due in [from, to), in
// time order, leaving out cancelled ones, at most limit of them. One query, so a read scope
// answers it in the same round trip as the caller's verification.
func (sc *Scope) Calendar(ctx context.Context, from, to time.Time, limit int) ([]CalendarEntry, error) {
	return collect(ctx, sc, `SELECT 'booking', b.id, s.name || ': ' || coalesce(u.name, ''), b.starts_at, b.ends_at, b.status
		FROM bookings b
		JOIN services s ON s.tenant_id = b.tenant_id AND s.id = b.service_id
		LEFT JOIN users u ON u.id = b.client_id
		WHERE b.tenant_id = $1 AND s.tenant_id = $1 AND b.starts_at >= $2 AND b.starts_at < $3 AND b.status <> 'cancelled'
		UNION ALL
		SELECT 'reminder', r.id, r.title, r.due_at, r.due_at, r.status
		FROM reminders r
		WHERE r.tenant_id = $1 AND r.due_at >= $2 AND r.due_at < $3 AND r.status <> 'cancelled'
		ORDER BY 4, 2 LIMIT $4`, []any{sc.TenantID(), from, to, limit}, func(r pgx.Rows) (CalendarEntry, error) {
		var e CalendarEntry
		err := r.Scan(&e.Type, &e.ID, &e.Title, &e.StartsAt, &e.EndsAt, &e.Status)
		return e, err
	})
}
