package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Reminder is a note due at a time, optionally for one member (who is then e-mailed) and
// about one booking.
type Reminder struct {
	ID        uuid.UUID  `json:"id"`
	Title     string     `json:"title"`
	Message   string     `json:"message"`
	DueAt     time.Time  `json:"due_at"`
	UserID    *uuid.UUID `json:"user_id"`
	BookingID *uuid.UUID `json:"booking_id"`
	Status    string     `json:"status"`
	SentAt    *time.Time `json:"sent_at"`
	CreatedBy *uuid.UUID `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
}

const contReminderColumns = `id, title, message, due_at, user_id, booking_id, status, sent_at, created_by, created_at`

func contScanReminder(r pgx.Rows) (Reminder, error) {
	var v Reminder
	err := r.Scan(&v.ID, &v.Title, &v.Message, &v.DueAt, &v.UserID, &v.BookingID, &v.Status, &v.SentAt, &v.CreatedBy, &v.CreatedAt)
	return v, err
}

// ListReminders lists the tenant's reminders, newest first; status "" means any.
func (sc *Scope) ListReminders(ctx context.Context, status string, p Page) ([]Reminder, error) {
	return collect(ctx, sc, `SELECT `+contReminderColumns+` FROM reminders
		WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id < $2) AND ($3 = '' OR status = $3)
		ORDER BY id DESC LIMIT $4`, []any{sc.TenantID(), p.Before, status, p.limitPlusOne()}, contScanReminder)
}

// ReminderInput is a new reminder.
type ReminderInput struct {
	Title     string
	Message   string
	DueAt     time.Time
	UserID    *uuid.UUID
	BookingID *uuid.UUID
	CreatedBy *uuid.UUID
}

// CreateReminder adds a pending reminder. A user or booking that is not in this tenant is
// refused by the composite foreign keys (ReferenceError).
func (sc *Scope) CreateReminder(ctx context.Context, in ReminderInput) (Reminder, error) {
	items, err := collect(ctx, sc, `INSERT INTO reminders (tenant_id, id, title, message, due_at, user_id, booking_id, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+contReminderColumns,
		[]any{sc.TenantID(), NewID(), in.Title, in.Message, in.DueAt, in.UserID, in.BookingID, in.CreatedBy}, contScanReminder)
	if err != nil {
		return Reminder{}, err
	}
	return items[0], nil
}

// DeleteReminder removes a reminder of this tenant.
func (sc *Scope) DeleteReminder(ctx context.Context, id uuid.UUID) error {
	tag, err := sc.exec(ctx, `DELETE FROM reminders WHERE tenant_id = $1 AND id = $2`, sc.TenantID(), id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// RunDueReminders sends this tenant's due reminders: every pending reminder due at or before
// now becomes sent (sent_at = now), and each one that names a user queues an e-mail to that
// user in the tenant's outbox, from the tenant's communication settings. It needs a write
// transaction (a request's, or a background job's TrustedScope after Begin) and returns how
// many reminders it sent. Rows another transaction is already sending are skipped, so the
// background worker and POST /api/admin/reminders/run never send one twice.
func (sc *Scope) RunDueReminders(ctx context.Context, now time.Time) (int, error) {
	type due struct {
		id      uuid.UUID
		title   string
		message string
		email   *string
	}
	sent, err := collect(ctx, sc, `WITH picked AS (
		    SELECT id FROM reminders
		    WHERE tenant_id = $1 AND status = 'pending' AND due_at <= $2
		    ORDER BY due_at, id
		    FOR UPDATE SKIP LOCKED)
		UPDATE reminders r SET status = 'sent', sent_at = $2
		FROM picked
		WHERE r.tenant_id = $1 AND r.id = picked.id
		RETURNING r.id, r.title, r.message,
		    (SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
		     WHERE m.tenant_id = $1 AND m.user_id = r.user_id)`,
		[]any{sc.TenantID(), now}, func(r pgx.Rows) (due, error) {
			var d due
			err := r.Scan(&d.id, &d.title, &d.message, &d.email)
			return d, err
		})
	if err != nil || len(sent) == 0 {
		return 0, err
	}
	var ids []uuid.UUID
	var to, subjects, bodies []string
	for _, d := range sent {
		if d.email == nil || *d.email == "" {
			continue
		}
		body := d.message
		if body == "" {
			body = d.title
		}
		ids = append(ids, NewID())
		to = append(to, *d.email)
		subjects = append(subjects, "Reminder: "+d.title)
		bodies = append(bodies, body)
	}
	if len(ids) > 0 {
		if _, err := sc.exec(ctx, `INSERT INTO outbox_messages (tenant_id, id, to_address, subject, body, from_address)
			SELECT $1, x.id, x.to_address, x.subject,
			       x.body || CASE WHEN coalesce(cs.email_signature, '') = '' THEN '' ELSE E'\n\n-- \n' || cs.email_signature END,
			       coalesce(cs.from_email, '')
			FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[]) AS x(id, to_address, subject, body)
			LEFT JOIN communication_settings cs ON cs.tenant_id = $1`,
			sc.TenantID(), ids, to, subjects, bodies); err != nil {
			return 0, err
		}
	}
	if err := sc.AuditEvent(ctx, "reminders.run", "reminder", "", map[string]any{"sent": len(sent), "emailed": len(ids)}); err != nil {
		return 0, err
	}
	return len(sent), nil
}
