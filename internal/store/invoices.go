package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ErrInvoiceClient means the client named for an invoice is not an active client member of
// this tenant (a staff member, a revoked member, or nobody here at all).
var ErrInvoiceClient = errors.New("invoice client is not an active client of this tenant")

// Invoice is a bill to one client. Its total is always the sum of its items' amounts, computed
// here from quantity × unit price; it is never taken from a client.
type Invoice struct {
	ID               uuid.UUID     `json:"id"`
	Number           int64         `json:"number"`
	ClientID         uuid.UUID     `json:"client_id"`
	ServiceRequestID *uuid.UUID    `json:"service_request_id"`
	Status           string        `json:"status"`
	Currency         string        `json:"currency"`
	TotalCents       int64         `json:"total_cents"`
	DueOn            *string       `json:"due_on"` // YYYY-MM-DD
	PaidAt           *time.Time    `json:"paid_at"`
	PaymentMethod    *string       `json:"payment_method"`
	Notes            string        `json:"notes"`
	Items            []InvoiceItem `json:"items"`
	CreatedAt        time.Time     `json:"created_at"`
	UpdatedAt        time.Time     `json:"updated_at"`
}

// InvoiceItem is one line of an invoice.
type InvoiceItem struct {
	ID             uuid.UUID `json:"id"`
	Description    string    `json:"description"`
	Quantity       int       `json:"quantity"`
	UnitPriceCents int64     `json:"unit_price_cents"`
	AmountCents    int64     `json:"amount_cents"`
}

// InvoiceItemInput is a line as a caller gives it: the amount is derived, never given.
type InvoiceItemInput struct {
	Description    string
	Quantity       int
	UnitPriceCents int64
}

// InvoiceInput is the writable part of an invoice. For updates, Items is only applied when
// ReplaceItems is set (only drafts may change their items; the caller enforces that).
type InvoiceInput struct {
	ClientID         uuid.UUID
	ServiceRequestID *uuid.UUID
	Status           string
	Currency         string
	DueOn            *string
	Notes            string
	Items            []InvoiceItemInput
	ReplaceItems     bool
}

// InvoiceFilter narrows an invoice list.
type InvoiceFilter struct {
	// Own is the client-own rule: only this client's invoices, and never drafts, which are not
	// yet issued to them.
	Own      *uuid.UUID
	ClientID *uuid.UUID // a staff filter by client (drafts included)
	Status   string
}

// billInvoiceSelect reads invoices with their items in one statement; $1 is always the tenant.
const billInvoiceSelect = `SELECT v.id, v.number, v.client_id, v.service_request_id, v.status, v.currency, v.total_cents,
	to_char(v.due_on, 'YYYY-MM-DD'), v.paid_at, v.payment_method, v.notes, v.created_at, v.updated_at,
	COALESCE((SELECT json_agg(json_build_object('id', i.id, 'description', i.description, 'quantity', i.quantity,
	          'unit_price_cents', i.unit_price_cents, 'amount_cents', i.amount_cents) ORDER BY i.position, i.id)
	        FROM invoice_items i WHERE i.tenant_id = $1 AND i.invoice_id = v.id), '[]'::json)
	FROM invoices v`

func billScanInvoice(r pgx.Rows) (Invoice, error) {
	var v Invoice
	err := r.Scan(&v.ID, &v.Number, &v.ClientID, &v.ServiceRequestID, &v.Status, &v.Currency, &v.TotalCents,
		&v.DueOn, &v.PaidAt, &v.PaymentMethod, &v.Notes, &v.CreatedAt, &v.UpdatedAt, &v.Items)
	if v.Items == nil {
		v.Items = []InvoiceItem{}
	}
	return v, err
}

func (sc *Scope) oneInvoice(ctx context.Context, sql string, args ...any) (Invoice, error) {
	items, err := collect(ctx, sc, sql, args, billScanInvoice)
	if err != nil {
		return Invoice{}, err
	}
	if len(items) == 0 {
		return Invoice{}, ErrNotFound
	}
	return items[0], nil
}

// ListInvoices lists invoices, newest first.
func (sc *Scope) ListInvoices(ctx context.Context, f InvoiceFilter, p Page) ([]Invoice, error) {
	client, hideDrafts := f.ClientID, false
	if f.Own != nil {
		client, hideDrafts = f.Own, true
	}
	return collect(ctx, sc, billInvoiceSelect+`
		WHERE v.tenant_id = $1 AND ($2::uuid IS NULL OR v.id < $2) AND ($3::uuid IS NULL OR v.client_id = $3)
		  AND ($4 = '' OR v.status = $4) AND (NOT $5 OR v.status <> 'draft')
		ORDER BY v.id DESC LIMIT $6`,
		[]any{sc.TenantID(), p.Before, client, f.Status, hideDrafts, p.limitPlusOne()}, billScanInvoice)
}

// GetInvoice returns one invoice. clientID, when not nil, is the client-own rule: another
// client's invoice, or a draft not yet issued, is ErrNotFound exactly like a missing one.
func (sc *Scope) GetInvoice(ctx context.Context, id uuid.UUID, clientID *uuid.UUID) (Invoice, error) {
	return sc.oneInvoice(ctx, billInvoiceSelect+`
		WHERE v.tenant_id = $1 AND v.id = $2 AND ($3::uuid IS NULL OR (v.client_id = $3 AND v.status <> 'draft'))`,
		sc.TenantID(), id, clientID)
}

// LockInvoice is GetInvoice that also locks the row until the write transaction ends, so that
// a state check and the change that follows cannot interleave with another request's.
func (sc *Scope) LockInvoice(ctx context.Context, id uuid.UUID, clientID *uuid.UUID) (Invoice, error) {
	return sc.oneInvoice(ctx, billInvoiceSelect+`
		WHERE v.tenant_id = $1 AND v.id = $2 AND ($3::uuid IS NULL OR (v.client_id = $3 AND v.status <> 'draft'))
		FOR UPDATE OF v`,
		sc.TenantID(), id, clientID)
}

// checkInvoiceClient refuses a client that is not an active CLIENT member of this tenant.
func (sc *Scope) checkInvoiceClient(ctx context.Context, client uuid.UUID) error {
	var ok bool
	err := sc.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM memberships
		WHERE tenant_id = $1 AND user_id = $2 AND role = 'CLIENT' AND status = 'active')`,
		[]any{sc.TenantID(), client}, &ok)
	if err != nil {
		return err
	}
	if !ok {
		return ErrInvoiceClient
	}
	return nil
}

// CreateInvoice adds an invoice with the next number of this tenant's sequence. The sequence
// row is bumped inside the caller's transaction, so concurrent creations queue on that row
// and never share a number, and a rolled-back creation leaves no gap.
func (sc *Scope) CreateInvoice(ctx context.Context, in InvoiceInput) (Invoice, error) {
	if err := sc.checkInvoiceClient(ctx, in.ClientID); err != nil {
		return Invoice{}, err
	}
	if in.Status == "" {
		in.Status = "draft"
	}
	var number int64
	if err := sc.queryRow(ctx, `UPDATE invoice_sequences SET next_number = next_number + 1 WHERE tenant_id = $1 RETURNING next_number - 1`,
		[]any{sc.TenantID()}, &number); err != nil {
		return Invoice{}, err
	}
	id := NewID()
	if _, err := sc.exec(ctx, `INSERT INTO invoices (tenant_id, id, number, client_id, service_request_id, status, currency, due_on, notes)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8::date, $9)`,
		sc.TenantID(), id, number, in.ClientID, in.ServiceRequestID, in.Status, in.Currency, in.DueOn, in.Notes); err != nil {
		return Invoice{}, err
	}
	if err := sc.writeInvoiceItems(ctx, id, in.Items); err != nil {
		return Invoice{}, err
	}
	return sc.GetInvoice(ctx, id, nil)
}

// writeInvoiceItems replaces the invoice's items and recomputes its total from them.
func (sc *Scope) writeInvoiceItems(ctx context.Context, invoiceID uuid.UUID, items []InvoiceItemInput) error {
	if _, err := sc.exec(ctx, `DELETE FROM invoice_items WHERE tenant_id = $1 AND invoice_id = $2`, sc.TenantID(), invoiceID); err != nil {
		return err
	}
	if len(items) > 0 {
		ids := make([]uuid.UUID, len(items))
		descs := make([]string, len(items))
		qtys := make([]int32, len(items))
		prices := make([]int64, len(items))
		for i, it := range items {
			ids[i], descs[i], qtys[i], prices[i] = NewID(), it.Description, int32(it.Quantity), it.UnitPriceCents
		}
		if _, err := sc.exec(ctx, `INSERT INTO invoice_items (tenant_id, id, invoice_id, description, quantity, unit_price_cents, amount_cents, position)
			SELECT $1, x.id, $2, x.description, x.quantity, x.price, x.quantity::bigint * x.price, x.ord::int - 1
			FROM unnest($3::uuid[], $4::text[], $5::int[], $6::bigint[]) WITH ORDINALITY AS x(id, description, quantity, price, ord)`,
			sc.TenantID(), invoiceID, ids, descs, qtys, prices); err != nil {
			return err
		}
	}
	_, err := sc.exec(ctx, `UPDATE invoices SET total_cents = COALESCE((SELECT sum(amount_cents) FROM invoice_items
		    WHERE tenant_id = $1 AND invoice_id = $2), 0), updated_at = now()
		WHERE tenant_id = $1 AND id = $2`, sc.TenantID(), invoiceID)
	return err
}

// UpdateInvoice replaces an invoice's writable fields (and, with ReplaceItems, its items). The
// caller has locked the row and checked which changes its status allows; a changed client must
// still be an active client of this tenant.
func (sc *Scope) UpdateInvoice(ctx context.Context, id uuid.UUID, cur Invoice, in InvoiceInput) (Invoice, error) {
	if in.ClientID != cur.ClientID {
		if err := sc.checkInvoiceClient(ctx, in.ClientID); err != nil {
			return Invoice{}, err
		}
	}
	tag, err := sc.exec(ctx, `UPDATE invoices SET client_id = $3, service_request_id = $4, status = $5, currency = $6,
		    due_on = $7::date, notes = $8, updated_at = now()
		WHERE tenant_id = $1 AND id = $2`,
		sc.TenantID(), id, in.ClientID, in.ServiceRequestID, in.Status, in.Currency, in.DueOn, in.Notes)
	if err != nil {
		return Invoice{}, err
	}
	if tag.RowsAffected() == 0 {
		return Invoice{}, ErrNotFound
	}
	if in.ReplaceItems {
		if err := sc.writeInvoiceItems(ctx, id, in.Items); err != nil {
			return Invoice{}, err
		}
	}
	return sc.GetInvoice(ctx, id, nil)
}

// PayInvoice marks a sent invoice paid by method. An invoice in any other state is a
// ConflictError (draft: not issued yet; paid: already paid; void: cancelled); a missing one is
// ErrNotFound.
func (sc *Scope) PayInvoice(ctx context.Context, id uuid.UUID, method string) (Invoice, error) {
	tag, err := sc.exec(ctx, `UPDATE invoices SET status = 'paid', paid_at = now(), payment_method = $3, updated_at = now()
		WHERE tenant_id = $1 AND id = $2 AND status = 'sent'`, sc.TenantID(), id, method)
	if err != nil {
		return Invoice{}, err
	}
	if tag.RowsAffected() == 0 {
		if _, err := sc.GetInvoice(ctx, id, nil); err != nil {
			return Invoice{}, err
		}
		return Invoice{}, &ConflictError{Constraint: "invoice_status"}
	}
	return sc.GetInvoice(ctx, id, nil)
}

// DeleteDraftInvoice removes a draft invoice and its items. Issued invoices are kept for the
// books: deleting one is a ConflictError (void it instead).
func (sc *Scope) DeleteDraftInvoice(ctx context.Context, id uuid.UUID) error {
	tag, err := sc.exec(ctx, `DELETE FROM invoices WHERE tenant_id = $1 AND id = $2 AND status = 'draft'`, sc.TenantID(), id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		if _, err := sc.GetInvoice(ctx, id, nil); err != nil {
			return err
		}
		return &ConflictError{Constraint: "invoice_status"}
	}
	return nil
}
