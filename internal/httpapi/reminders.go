package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"tenantd/internal/store/queue"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"tenantd/internal/auth"
	"tenantd/internal/store"
)

// Reminders: staff-managed notes due at a time; running them queues e-mail in the outbox.

func (s *Server) reminderRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/admin/reminders", Kind: KindTenant, Permission: auth.PermReminders, Summary: "List reminders", Handler: s.listReminders},
		{Method: "POST", Pattern: "/api/admin/reminders", Kind: KindTenant, Permission: auth.PermReminders, Creates: true, Summary: "Create a reminder", Handler: s.createReminder},
		{Method: "DELETE", Pattern: "/api/admin/reminders/{id}", Kind: KindTenant, Permission: auth.PermReminders, Summary: "Delete a reminder", Handler: s.deleteReminder},
		{Method: "POST", Pattern: "/api/admin/reminders/run", Kind: KindTenant, Permission: auth.PermReminders, Summary: "Send this tenant's due reminders now", Handler: s.runReminders},
	}
}

var contReminderStatuses = []string{"pending", "sent", "failed", "cancelled"}

func (s *Server) listReminders(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains(contReminderStatuses, status) {
		return errField("status", "must be one of pending, sent, failed, cancelled")
	}
	items, err := sc.ListReminders(r.Context(), status, p)
	if err != nil {
		return err
	}
	return writeList(w, items, p, func(v store.Reminder) uuid.UUID { return v.ID })
}

type contReminderBody struct {
	Title     string     `json:"title"`
	Message   string     `json:"message"`
	DueAt     *time.Time `json:"due_at"`
	UserID    *uuid.UUID `json:"user_id"`
	BookingID *uuid.UUID `json:"booking_id"`
}

func (s *Server) createReminder(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	a := sc.Verified()
	var b contReminderBody
	if err := decode(r, &b); err != nil {
		return err
	}
	var f fields
	b.Title = strings.TrimSpace(b.Title)
	if b.Title == "" || utf8.RuneCountInString(b.Title) > 200 || strings.ContainsFunc(b.Title, unicode.IsControl) {
		// The title becomes an e-mail subject: no line breaks.
		f.add("title", "is required (at most 200 characters, on one line)")
	}
	if utf8.RuneCountInString(b.Message) > 5000 {
		f.add("message", "is at most 5000 characters")
	}
	if b.DueAt == nil {
		f.add("due_at", "is required (RFC 3339)")
	}
	if err := f.err(); err != nil {
		return err
	}
	v, err := sc.CreateReminder(r.Context(), store.ReminderInput{Title: b.Title, Message: b.Message, DueAt: *b.DueAt,
		UserID: b.UserID, BookingID: b.BookingID, CreatedBy: &a.UserID})
	if err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "reminder.create", "reminder", v.ID.String(), nil); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Server) deleteReminder(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := sc.DeleteReminder(r.Context(), id); err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "reminder.delete", "reminder", id.String(), nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// runReminders sends the tenant's due reminders inside the request's transaction: if
// anything fails, no reminder is marked sent and no e-mail is queued.
func (s *Server) runReminders(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	n, err := sc.RunDueReminders(r.Context(), s.now())
	if err != nil {
		return err
	}
	if n > 0 {
		// Delivery is queued in the same transaction as the messages it delivers.
		if err := queue.EnqueueOutboxDelivery(r.Context(), sc); err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, map[string]int{"ran": n})
}
