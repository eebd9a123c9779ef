package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// PaymentSession is one attempt to pay an invoice: a card checkout with the payment provider
// (method card) or a cash collection on delivery (method cod). Its amount is the invoice's
// total at the time the session was made.
type PaymentSession struct {
	ID          uuid.UUID  `json:"id"`
	InvoiceID   uuid.UUID  `json:"invoice_id"`
	Method      string     `json:"method"`
	AmountCents int64      `json:"amount_cents"`
	Currency    string     `json:"currency"`
	Status      string     `json:"status"`
	CreatedBy   *uuid.UUID `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

const billSessionColumns = `id, invoice_id, method, amount_cents, currency, status, created_by, created_at, updated_at`

func billScanSession(r pgx.Rows) (PaymentSession, error) {
	var v PaymentSession
	err := r.Scan(&v.ID, &v.InvoiceID, &v.Method, &v.AmountCents, &v.Currency, &v.Status, &v.CreatedBy, &v.CreatedAt, &v.UpdatedAt)
	return v, err
}

func (sc *Scope) onePaymentSession(ctx context.Context, sql string, args ...any) (PaymentSession, error) {
	items, err := collect(ctx, sc, sql, args, billScanSession)
	if err != nil {
		return PaymentSession{}, err
	}
	if len(items) == 0 {
		return PaymentSession{}, ErrNotFound
	}
	return items[0], nil
}

// CreatePaymentSession opens a payment session for an invoice of this tenant. The amount and
// currency are copied from the invoice in the same statement, never taken from the caller.
// status is "open" for card checkouts and "pending_collection" for cash on delivery.
func (sc *Scope) CreatePaymentSession(ctx context.Context, invoiceID uuid.UUID, method, status string, createdBy *uuid.UUID) (PaymentSession, error) {
	return sc.onePaymentSession(ctx, `INSERT INTO payment_sessions (tenant_id, id, invoice_id, method, amount_cents, currency, status, created_by)
		SELECT $1, $2, v.id, $4, v.total_cents, v.currency, $5, $6 FROM invoices v WHERE v.tenant_id = $1 AND v.id = $3
		RETURNING `+billSessionColumns,
		sc.TenantID(), NewID(), invoiceID, method, status, createdBy)
}

// AddPaymentSessionRoute records, in the global routing table, that a payment session of this
// tenant exists, so that the provider's webhook (which names only the session) is later
// handled in this tenant and no other. Only a session that exists in this tenant can be routed.
func (sc *Scope) AddPaymentSessionRoute(ctx context.Context, sessionID uuid.UUID) error {
	tag, err := sc.exec(ctx, `INSERT INTO payment_session_routes (session_id, owner_tenant_id)
		SELECT s.id, s.tenant_id FROM payment_sessions s WHERE s.tenant_id = $1 AND s.id = $2`, sc.TenantID(), sessionID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// PaymentSessionTenant answers which tenant owns a payment session, from the routing table
// alone. It is the only way a payment webhook learns its tenant: nothing in the provider's
// payload is trusted for that. An unknown session is ErrNotFound.
func (s *Store) PaymentSessionTenant(ctx context.Context, sessionID uuid.UUID) (uuid.UUID, error) {
	var tenant uuid.UUID
	err := s.pool.QueryRow(ctx, `SELECT owner_tenant_id FROM payment_session_routes WHERE session_id = $1`, sessionID).Scan(&tenant)
	return tenant, translate(err)
}

// GetPaymentSession returns one payment session.
func (sc *Scope) GetPaymentSession(ctx context.Context, id uuid.UUID) (PaymentSession, error) {
	return sc.onePaymentSession(ctx, `SELECT `+billSessionColumns+` FROM payment_sessions WHERE tenant_id = $1 AND id = $2`, sc.TenantID(), id)
}

// ListInvoicePaymentSessions lists an invoice's payment sessions, newest first.
func (sc *Scope) ListInvoicePaymentSessions(ctx context.Context, invoiceID uuid.UUID) ([]PaymentSession, error) {
	items, err := collect(ctx, sc, `SELECT `+billSessionColumns+` FROM payment_sessions
		WHERE tenant_id = $1 AND invoice_id = $2 ORDER BY id DESC`, []any{sc.TenantID(), invoiceID}, billScanSession)
	if items == nil {
		items = []PaymentSession{}
	}
	return items, err
}

// CloseInvoicePaymentSessions ends the sessions still waiting on an invoice that was settled
// or voided by staff. When staff record the payment as "cod", a pending cash collection is
// what was paid; every other waiting session expires.
func (sc *Scope) CloseInvoicePaymentSessions(ctx context.Context, invoiceID uuid.UUID, paidBy string) error {
	_, err := sc.exec(ctx, `UPDATE payment_sessions
		SET status = CASE WHEN method = 'cod' AND status = 'pending_collection' AND $3 = 'cod' THEN 'paid' ELSE 'expired' END,
		    updated_at = now()
		WHERE tenant_id = $1 AND invoice_id = $2 AND status IN ('open', 'pending_collection')`, sc.TenantID(), invoiceID, paidBy)
	return err
}

// PaymentSettlement is the outcome of a provider's report on a card session.
type PaymentSettlement struct {
	Session       PaymentSession
	InvoiceStatus string
	Changed       bool // false when the report repeated or contradicted a final state
}

// SettlePaymentSession applies a provider's report ("paid" or "failed") to a card session of
// this tenant, together with its invoice, in the caller's transaction. It is idempotent: a
// repeated report changes nothing, a paid session never becomes failed, and the invoice is
// only marked paid when it is still awaiting payment (sent). Cash-on-delivery sessions are not
// the provider's to settle and are ErrNotFound here, like unknown ones.
//
// Locks are taken invoice first, then session, the same order as staff payments, so the two
// cannot deadlock.
func (sc *Scope) SettlePaymentSession(ctx context.Context, sessionID uuid.UUID, outcome string) (PaymentSettlement, error) {
	var out PaymentSettlement
	s, err := sc.onePaymentSession(ctx, `SELECT `+billSessionColumns+` FROM payment_sessions
		WHERE tenant_id = $1 AND id = $2 AND method = 'card'`, sc.TenantID(), sessionID)
	if err != nil {
		return out, err
	}
	if err := sc.queryRow(ctx, `SELECT status FROM invoices WHERE tenant_id = $1 AND id = $2 FOR UPDATE`,
		[]any{sc.TenantID(), s.InvoiceID}, &out.InvoiceStatus); err != nil {
		return out, err
	}
	if s, err = sc.onePaymentSession(ctx, `SELECT `+billSessionColumns+` FROM payment_sessions
		WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, sc.TenantID(), sessionID); err != nil {
		return out, err
	}
	out.Session = s
	switch {
	case outcome == "paid" && s.Status != "paid":
		if out.Session, err = sc.onePaymentSession(ctx, `UPDATE payment_sessions SET status = 'paid', updated_at = now()
			WHERE tenant_id = $1 AND id = $2 RETURNING `+billSessionColumns, sc.TenantID(), sessionID); err != nil {
			return out, err
		}
		if out.InvoiceStatus == "sent" {
			if _, err := sc.exec(ctx, `UPDATE invoices SET status = 'paid', paid_at = now(), payment_method = 'card', updated_at = now()
				WHERE tenant_id = $1 AND id = $2 AND status = 'sent'`, sc.TenantID(), s.InvoiceID); err != nil {
				return out, err
			}
			out.InvoiceStatus = "paid"
			// The invoice's other waiting sessions (card checkouts, cash collections) expire,
			// as when staff settle it; a late report on a card one is still recorded.
			if _, err := sc.exec(ctx, `UPDATE payment_sessions SET status = 'expired', updated_at = now()
				WHERE tenant_id = $1 AND invoice_id = $2 AND id <> $3 AND status IN ('open', 'pending_collection')`,
				sc.TenantID(), s.InvoiceID, sessionID); err != nil {
				return out, err
			}
		}
		out.Changed = true
	case outcome == "failed" && s.Status == "open":
		if out.Session, err = sc.onePaymentSession(ctx, `UPDATE payment_sessions SET status = 'failed', updated_at = now()
			WHERE tenant_id = $1 AND id = $2 RETURNING `+billSessionColumns, sc.TenantID(), sessionID); err != nil {
			return out, err
		}
		out.Changed = true
	}
	return out, nil
}
