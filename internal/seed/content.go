package seed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/store"
)

func init() { Register(contFill) }

// contFill seeds attachments, reminders, chat threads, posts and communication settings.
func contFill(ctx context.Context, sc *store.Scope, t *Tenant) error {
	title := map[string]string{"acme": "Acme Advisory", "globex": "Globex Accounting"}[t.Slug]
	if title == "" {
		title = t.Slug
	}
	for _, f := range []func(context.Context, *store.Scope, *Tenant, string) error{
		contAttachments, contReminders, contChat, contPosts, contCommunication,
	} {
		if err := f(ctx, sc, t, title); err != nil {
			return err
		}
	}
	return nil
}

func contAttachments(ctx context.Context, sc *store.Scope, t *Tenant, title string) error {
	if t.StorageDir == "" {
		return nil
	}
	owner := func(id uuid.UUID) *uuid.UUID { return &id }
	for _, a := range []struct {
		name, contentType, body string
		uploader                uuid.UUID
		client                  *uuid.UUID
	}{
		{"engagement-letter.txt", "text/plain; charset=utf-8",
			"Engagement letter\n\n" + title + " will prepare your annual tax return.\n", t.Client, owner(t.Client)},
		{"receipts.csv", "text/csv; charset=utf-8",
			"date,description,amount\n2024-01-15,Office supplies,42.50\n2024-02-03,Travel,118.00\n", t.Staff, owner(t.Client2)},
		{"intake-checklist.txt", "text/plain; charset=utf-8",
			"Client intake checklist\n- Identity documents\n- Prior year return\n", t.Owner, nil},
	} {
		id := store.NewID()
		key := store.AttachmentKey(t.ID, id, time.Now())
		path, err := store.AttachmentPath(t.StorageDir, t.ID, key)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return fmt.Errorf("seed attachment: %w", err)
		}
		if err := os.WriteFile(path, []byte(a.body), 0o640); err != nil {
			return fmt.Errorf("seed attachment: %w", err)
		}
		sum := sha256.Sum256([]byte(a.body))
		if _, err := sc.CreateAttachment(ctx, store.AttachmentInput{ID: id, StorageKey: key, FileName: a.name,
			ContentType: a.contentType, SizeBytes: int64(len(a.body)), SHA256: hex.EncodeToString(sum[:]),
			UploadedBy: a.uploader, ClientID: a.client}); err != nil {
			os.Remove(path)
			return err
		}
	}
	return nil
}

func contReminders(ctx context.Context, sc *store.Scope, t *Tenant, _ string) error {
	now := time.Now().UTC().Truncate(time.Minute)
	var booking *uuid.UUID
	due := now.Add(24 * time.Hour)
	if len(t.Bookings) > 0 {
		b, err := sc.GetBooking(ctx, t.Bookings[0], nil)
		if err != nil {
			return err
		}
		booking, due = &b.ID, b.StartsAt.Add(-24*time.Hour)
	}
	for _, r := range []store.ReminderInput{
		{Title: "Bring your documents", Message: "Please bring last year's return to tomorrow's appointment.",
			DueAt: due, UserID: &t.Client, BookingID: booking},
		{Title: "Monthly bookkeeping upload", Message: "Please upload this month's receipts.",
			DueAt: now.AddDate(0, 0, 5), UserID: &t.Client2},
		{Title: "Review open requests", Message: "Weekly review of open service requests.",
			DueAt: now.Add(-time.Hour), UserID: &t.Staff},
	} {
		r.CreatedBy = &t.Owner
		if _, err := sc.CreateReminder(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

func contChat(ctx context.Context, sc *store.Scope, t *Tenant, _ string) error {
	for _, m := range []struct {
		client, sender uuid.UUID
		body           string
	}{
		{t.Client, t.Client, "Hello, I have a question about my tax return."},
		{t.Client, t.Staff, "Happy to help. What would you like to know?"},
		{t.Client2, t.Staff, "Your bookkeeping review is scheduled; please upload your receipts."},
		{t.Client2, t.Client2, "Thanks, I have uploaded them."},
	} {
		if _, err := sc.PostChat(ctx, m.client, m.sender, m.body); err != nil {
			return err
		}
	}
	return nil
}

func contPosts(ctx context.Context, sc *store.Scope, t *Tenant, title string) error {
	for _, p := range []store.PostInput{
		{Slug: "welcome", Title: "Welcome to " + title, Body: "We help firms and families with their finances.", Status: "published"},
		{Slug: t.Slug + "-year-in-review", Title: title + ": our year in review", Body: "A look back at the year.", Status: "published"},
		{Slug: "pricing-update", Title: "Pricing update (draft)", Body: "Our new prices take effect next quarter.", Status: "draft"},
	} {
		if _, err := sc.CreatePost(ctx, &t.Owner, p); err != nil {
			return err
		}
	}
	return nil
}

// contCommunication leaves the SMTP host empty on purpose: the demo must never try to reach a
// mail server outside this machine, so its outbox messages fail with the clear "no SMTP server
// configured" state until an admin configures one. The stored credentials still exercise the
// rule that a password is never returned.
func contCommunication(ctx context.Context, sc *store.Scope, t *Tenant, title string) error {
	_, err := sc.PutCommunicationSettings(ctx, store.CommunicationSettings{
		FromName: title, FromEmail: "hello@" + t.Slug + ".test", ReplyTo: "office@" + t.Slug + ".test",
		SMTPHost: "", SMTPPort: 587, SMTPUsername: "mailer",
		SMTPPassword:   "demo-smtp-secret-" + t.Slug,
		EmailSignature: title, NotifyOnBooking: true, NotifyOnInvoice: true,
	})
	return err
}
