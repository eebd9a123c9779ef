package httpapi

import (
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"tenantd/internal/store/queue"

	"github.com/google/uuid"

	"tenantd/internal/store"
)

var billOutboxStatuses = []string{"pending", "sent", "failed"}

func billOutboxID(v store.OutboxMessage) uuid.UUID { return v.ID }

type billTestEmailBody struct {
	To string `json:"to"`
}

// sendTestEmail queues a test message in the tenant's outbox, signed the way the tenant's
// communication settings say (sender name, sender address, signature), so that staff can
// check those settings. Without a configured sender address the tenant's no-reply address on
// this deployment's domain is used.
func (s *Server) sendTestEmail(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	var b billTestEmailBody
	if err := decode(r, &b); err != nil {
		return err
	}
	to := strings.TrimSpace(b.To)
	addr, err := mail.ParseAddress(to)
	if to == "" || len(to) > 254 || err != nil || addr.Address != to {
		return errField("to", "must be a plain email address")
	}
	cs, err := sc.GetCommunicationSettings(r.Context())
	if err != nil {
		return err
	}
	a := sc.Verified()
	name := cs.FromName
	if name == "" {
		name = a.TenantName
	}
	from := cs.FromEmail
	if from == "" {
		from = "no-reply@" + a.TenantSlug + "." + s.cfg.BaseDomain
	}
	body := "Hello,\n\nthis is a test message from " + name + ". If you can read it, email from " + name + " reaches you.\n"
	if sig := strings.TrimSpace(cs.EmailSignature); sig != "" {
		body += "\n-- \n" + sig + "\n"
	}
	m, err := sc.EnqueueEmail(r.Context(), store.OutboxInput{To: to, From: (&mail.Address{Name: name, Address: from}).String(),
		Subject: "Test message from " + name, Body: body})
	if err != nil {
		return err
	}
	if err := queue.EnqueueOutboxDelivery(r.Context(), sc); err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "email.test", "outbox_message", m.ID.String(), map[string]any{"to": to}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, m)
}

// listOutbox lists the tenant's outgoing messages; ?status= narrows it.
func (s *Server) listOutbox(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains(billOutboxStatuses, status) {
		return errField("status", "must be one of pending, sent, failed")
	}
	items, err := sc.ListOutbox(r.Context(), status, p)
	if err != nil {
		return err
	}
	return writeList(w, items, p, billOutboxID)
}
