package store

import (
	"context"
	"time"
)

// CommunicationSettings is how the tenant sends e-mail. The SMTP password is readable by the
// mailer only: it has no JSON name, so no response can ever carry it; SMTPPasswordSet tells
// clients whether one is stored.
type CommunicationSettings struct {
	FromName        string    `json:"from_name"`
	FromEmail       string    `json:"from_email"`
	ReplyTo         string    `json:"reply_to"`
	SMTPHost        string    `json:"smtp_host"`
	SMTPPort        int       `json:"smtp_port"`
	SMTPUsername    string    `json:"smtp_username"`
	SMTPPassword    string    `json:"-"`
	SMTPPasswordSet bool      `json:"smtp_password_set"`
	EmailSignature  string    `json:"email_signature"`
	NotifyOnBooking bool      `json:"notify_on_booking"`
	NotifyOnInvoice bool      `json:"notify_on_invoice"`
	UpdatedAt       time.Time `json:"updated_at"`
}

const contCommColumns = `from_name, from_email, reply_to, smtp_host, smtp_port, smtp_username, smtp_password,
	smtp_password <> '', email_signature, notify_on_booking, notify_on_invoice, updated_at`

func (c *CommunicationSettings) contDest() []any {
	return []any{&c.FromName, &c.FromEmail, &c.ReplyTo, &c.SMTPHost, &c.SMTPPort, &c.SMTPUsername, &c.SMTPPassword,
		&c.SMTPPasswordSet, &c.EmailSignature, &c.NotifyOnBooking, &c.NotifyOnInvoice, &c.UpdatedAt}
}

// GetCommunicationSettings reads the tenant's communication settings singleton.
func (sc *Scope) GetCommunicationSettings(ctx context.Context) (CommunicationSettings, error) {
	var c CommunicationSettings
	err := sc.queryRow(ctx, `SELECT `+contCommColumns+` FROM communication_settings WHERE tenant_id = $1`,
		[]any{sc.TenantID()}, c.contDest()...)
	return c, err
}

// GetCommunicationSettingsForUpdate is GetCommunicationSettings inside a write transaction, with
// the row locked until the transaction ends: whether a PUT without a password keeps the stored
// one is decided on the password, host and user stored now, so it never writes back a password
// that a concurrent PUT has just replaced.
func (sc *Scope) GetCommunicationSettingsForUpdate(ctx context.Context) (CommunicationSettings, error) {
	var c CommunicationSettings
	err := sc.queryRow(ctx, `SELECT `+contCommColumns+` FROM communication_settings WHERE tenant_id = $1 FOR UPDATE`,
		[]any{sc.TenantID()}, c.contDest()...)
	return c, err
}

// PutCommunicationSettings replaces the tenant's communication settings, SMTPPassword
// included (the caller decides whether to keep the stored one).
func (sc *Scope) PutCommunicationSettings(ctx context.Context, in CommunicationSettings) (CommunicationSettings, error) {
	var c CommunicationSettings
	err := sc.queryRow(ctx, `UPDATE communication_settings SET from_name = $2, from_email = $3, reply_to = $4, smtp_host = $5,
		smtp_port = $6, smtp_username = $7, smtp_password = $8, email_signature = $9, notify_on_booking = $10,
		notify_on_invoice = $11, updated_at = now()
		WHERE tenant_id = $1 RETURNING `+contCommColumns,
		[]any{sc.TenantID(), in.FromName, in.FromEmail, in.ReplyTo, in.SMTPHost, in.SMTPPort, in.SMTPUsername, in.SMTPPassword,
			in.EmailSignature, in.NotifyOnBooking, in.NotifyOnInvoice}, c.contDest()...)
	return c, err
}

// Thresholds are the tenant's limits and alert levels.
type Thresholds struct {
	OverdueInvoiceDays       int       `json:"overdue_invoice_days"`
	MaxOpenRequestsPerMember int       `json:"max_open_requests_per_member"`
	ExpenseApprovalCents     int64     `json:"expense_approval_cents"`
	RequestsPerMinute        int       `json:"requests_per_minute"`
	UpdatedAt                time.Time `json:"updated_at"`
}

const contThresholdColumns = `overdue_invoice_days, max_open_requests_per_member, expense_approval_cents, requests_per_minute, updated_at`

func (t *Thresholds) contDest() []any {
	return []any{&t.OverdueInvoiceDays, &t.MaxOpenRequestsPerMember, &t.ExpenseApprovalCents, &t.RequestsPerMinute, &t.UpdatedAt}
}

// GetThresholds reads the tenant's thresholds singleton.
func (sc *Scope) GetThresholds(ctx context.Context) (Thresholds, error) {
	var t Thresholds
	err := sc.queryRow(ctx, `SELECT `+contThresholdColumns+` FROM thresholds WHERE tenant_id = $1`, []any{sc.TenantID()}, t.contDest()...)
	return t, err
}

// PutThresholds replaces the tenant's thresholds.
func (sc *Scope) PutThresholds(ctx context.Context, in Thresholds) (Thresholds, error) {
	var t Thresholds
	err := sc.queryRow(ctx, `UPDATE thresholds SET overdue_invoice_days = $2, max_open_requests_per_member = $3,
		expense_approval_cents = $4, requests_per_minute = $5, updated_at = now()
		WHERE tenant_id = $1 RETURNING `+contThresholdColumns,
		[]any{sc.TenantID(), in.OverdueInvoiceDays, in.MaxOpenRequestsPerMember, in.ExpenseApprovalCents, in.RequestsPerMinute},
		t.contDest()...)
	return t, err
}
