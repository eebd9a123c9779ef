package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"tenantd/internal/store"
)

var billInvoiceStatuses = []string{"draft", "sent", "paid", "void"}

// billPaymentMethodPattern bounds the free-form payment method staff record ("manual", "cash",
// "bank_transfer", "cod", ...).
var billPaymentMethodPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// Bounds on invoice items. With them a total cannot overflow: 200 × 100000 × 10^10 < 2^63.
const (
	billMaxItems     = 200
	billMaxQuantity  = 100_000
	billMaxUnitPrice = 10_000_000_000
)

func billInvoiceID(v store.Invoice) uuid.UUID { return v.ID }

// billItemBody is an invoice line as a client sends it. There is no amount: it is computed.
type billItemBody struct {
	Description    string `json:"description"`
	Quantity       *int   `json:"quantity"`
	UnitPriceCents *int64 `json:"unit_price_cents"`
}

// billInvoiceBody is an invoice as clients send it; absent fields are kept on PATCH, and the
// nullable ones can be cleared with null. Totals are not accepted: they are computed.
type billInvoiceBody struct {
	ClientID         *uuid.UUID         `json:"client_id"`
	ServiceRequestID billOpt[uuid.UUID] `json:"service_request_id"`
	Status           *string            `json:"status"`
	Currency         *string            `json:"currency"`
	DueOn            billOpt[string]    `json:"due_on"`
	Notes            *string            `json:"notes"`
	Items            *[]billItemBody    `json:"items"`
}

// billItems validates the items and converts them; quantity defaults to 1.
func billItems(items []billItemBody, f *fields) []store.InvoiceItemInput {
	if len(items) > billMaxItems {
		f.add("items", "at most 200 items")
		return nil
	}
	out := make([]store.InvoiceItemInput, 0, len(items))
	for i, it := range items {
		p := "items[" + strconv.Itoa(i) + "]."
		d := strings.TrimSpace(it.Description)
		if d == "" || charCount(d) > 500 {
			f.add(p+"description", "is required (at most 500 characters)")
		}
		q := 1
		if it.Quantity != nil {
			q = *it.Quantity
		}
		if q < 1 || q > billMaxQuantity {
			f.add(p+"quantity", "must be from 1 to 100000")
		}
		var price int64
		if it.UnitPriceCents == nil {
			f.add(p+"unit_price_cents", "is required")
		} else if price = *it.UnitPriceCents; price < 0 || price > billMaxUnitPrice {
			f.add(p+"unit_price_cents", "must be from 0 to 10000000000")
		}
		out = append(out, store.InvoiceItemInput{Description: d, Quantity: q, UnitPriceCents: price})
	}
	return out
}

// apply merges the body's fields over in and checks their form (not yet whether the invoice's
// state allows the change).
func (b billInvoiceBody) apply(in store.InvoiceInput, f *fields) store.InvoiceInput {
	if b.ClientID != nil {
		in.ClientID = *b.ClientID
	}
	if b.ServiceRequestID.Set {
		in.ServiceRequestID = b.ServiceRequestID.Value
	}
	if b.Status != nil {
		in.Status = *b.Status
		if !slices.Contains(billInvoiceStatuses, in.Status) {
			f.add("status", "must be one of draft, sent, paid, void")
		}
	}
	if b.Currency != nil {
		in.Currency = strings.ToUpper(strings.TrimSpace(*b.Currency))
		if !currencyPattern.MatchString(in.Currency) {
			f.add("currency", "must be a three-letter ISO 4217 code")
		}
	}
	if b.DueOn.Set {
		in.DueOn = b.DueOn.Value
		if in.DueOn != nil {
			if _, ok := parseDate(*in.DueOn); !ok {
				f.add("due_on", "must be a date (YYYY-MM-DD) or null")
			}
		}
	}
	if b.Notes != nil {
		in.Notes = *b.Notes
		if charCount(in.Notes) > 5000 {
			f.add("notes", "is at most 5000 characters")
		}
	}
	if b.Items != nil {
		in.Items = billItems(*b.Items, f)
		in.ReplaceItems = true
	}
	return in
}

// billInvoiceFilter reads ?status= and ?client=.
func billInvoiceFilter(r *http.Request) (store.InvoiceFilter, error) {
	var f store.InvoiceFilter
	q := r.URL.Query()
	f.Status = q.Get("status")
	if f.Status != "" && !slices.Contains(billInvoiceStatuses, f.Status) {
		return f, errField("status", "must be one of draft, sent, paid, void")
	}
	if c := q.Get("client"); c != "" {
		id, err := uuid.Parse(c)
		if err != nil {
			return f, errField("client", "must be a user id")
		}
		f.ClientID = &id
	}
	return f, nil
}

func (s *Server) listInvoices(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	f, err := billInvoiceFilter(r)
	if err != nil {
		return err
	}
	items, err := sc.ListInvoices(r.Context(), f, p)
	if err != nil {
		return err
	}
	return writeList(w, items, p, billInvoiceID)
}

// portalInvoices is a client's own view: their issued invoices only (drafts are not theirs to
// see yet).
func (s *Server) portalInvoices(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	f, err := billInvoiceFilter(r)
	if err != nil {
		return err
	}
	a, err := sc.Verify(r.Context())
	if err != nil {
		return err
	}
	f.Own = &a.UserID
	items, err := sc.ListInvoices(r.Context(), f, p)
	if err != nil {
		return err
	}
	return writeList(w, items, p, billInvoiceID)
}

// billInvoiceDetail is an invoice with the payment sessions opened for it.
type billInvoiceDetail struct {
	store.Invoice
	PaymentSessions []store.PaymentSession `json:"payment_sessions"`
}

func (s *Server) getInvoice(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := sc.GetInvoice(r.Context(), id, nil)
	if err != nil {
		return err
	}
	ps, err := sc.ListInvoicePaymentSessions(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, billInvoiceDetail{Invoice: v, PaymentSessions: ps})
}

// billCheckRequest checks that the service request an invoice names belongs to the
// invoice's client.
func billCheckRequest(r *http.Request, sc *store.Scope, in store.InvoiceInput) error {
	if in.ServiceRequestID == nil {
		return nil
	}
	if _, err := sc.OwnServiceRequest(r.Context(), *in.ServiceRequestID, in.ClientID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errField("service_request_id", "no such service request for this client")
		}
		return err
	}
	return nil
}

func billClientError(err error) error {
	if errors.Is(err, store.ErrInvoiceClient) {
		return errField("client_id", "is not an active client of this tenant")
	}
	return err
}

func (s *Server) createInvoice(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	var b billInvoiceBody
	if err := decode(r, &b); err != nil {
		return err
	}
	defs, err := sc.GetServiceDefaults(r.Context())
	if err != nil {
		return err
	}
	var f fields
	in := b.apply(store.InvoiceInput{Status: "draft", Currency: defs.DefaultCurrency}, &f)
	if b.ClientID == nil {
		f.add("client_id", "is required")
	}
	if in.Status != "draft" && in.Status != "sent" {
		f.add("status", "a new invoice is draft or sent")
	}
	if in.Status == "sent" && len(in.Items) == 0 {
		f.add("items", "an invoice needs at least one item to be sent")
	}
	if err := f.err(); err != nil {
		return err
	}
	if err := billCheckRequest(r, sc, in); err != nil {
		return err
	}
	v, err := sc.CreateInvoice(r.Context(), in)
	if err != nil {
		return billClientError(err)
	}
	if err := sc.AuditEvent(r.Context(), "invoice.create", "invoice", v.ID.String(),
		map[string]any{"number": v.Number, "status": v.Status, "total_cents": v.TotalCents}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

// billTransitionOK is the invoice life cycle: draft → sent → paid, and draft|sent → void.
// Paying goes through POST .../pay, so PATCH never moves an invoice to paid.
func billTransitionOK(from, to string) bool {
	switch {
	case from == to:
		return true
	case from == "draft":
		return to == "sent" || to == "void"
	case from == "sent":
		return to == "void"
	}
	return false
}

// patchInvoice changes an invoice. Only drafts may change client, currency, service request or
// items; due dates may change until the invoice is settled; notes always.
func (s *Server) patchInvoice(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b billInvoiceBody
	if err := decode(r, &b); err != nil {
		return err
	}
	cur, err := sc.LockInvoice(r.Context(), id, nil)
	if err != nil {
		return err
	}
	var f fields
	in := b.apply(store.InvoiceInput{ClientID: cur.ClientID, ServiceRequestID: cur.ServiceRequestID, Status: cur.Status,
		Currency: cur.Currency, DueOn: cur.DueOn, Notes: cur.Notes}, &f)
	if in.Status == "paid" && cur.Status != "paid" {
		f.add("status", "is set to paid by POST /api/admin/invoices/{id}/pay")
	}
	if err := f.err(); err != nil {
		return err
	}
	changesContent := in.ReplaceItems || in.ClientID != cur.ClientID || in.Currency != cur.Currency ||
		!billSameID(in.ServiceRequestID, cur.ServiceRequestID)
	if changesContent && cur.Status != "draft" {
		return errConflict("Only a draft invoice may change its client, currency, service request or items.")
	}
	if !billSameString(in.DueOn, cur.DueOn) && (cur.Status == "paid" || cur.Status == "void") {
		return errConflict("A " + cur.Status + " invoice's due date can no longer change.")
	}
	if !billTransitionOK(cur.Status, in.Status) {
		return errConflict("An invoice cannot go from " + cur.Status + " to " + in.Status + ".")
	}
	if in.Status == "sent" && cur.Status == "draft" {
		n := len(cur.Items)
		if in.ReplaceItems {
			n = len(in.Items)
		}
		if n == 0 {
			return errConflict("An invoice needs at least one item before it is sent.")
		}
	}
	if in.ClientID != cur.ClientID || !billSameID(in.ServiceRequestID, cur.ServiceRequestID) {
		if err := billCheckRequest(r, sc, in); err != nil {
			return err
		}
	}
	v, err := sc.UpdateInvoice(r.Context(), id, cur, in)
	if err != nil {
		return billClientError(err)
	}
	if v.Status == "void" && cur.Status != "void" {
		if err := sc.CloseInvoicePaymentSessions(r.Context(), id, ""); err != nil {
			return err
		}
	}
	detail := map[string]any{}
	if v.Status != cur.Status {
		detail["status"] = map[string]string{"from": cur.Status, "to": v.Status}
	}
	if in.ReplaceItems {
		detail["total_cents"] = v.TotalCents
	}
	if err := sc.AuditEvent(r.Context(), "invoice.update", "invoice", id.String(), detail); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func billSameID(a, b *uuid.UUID) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func billSameString(a, b *string) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

// deleteInvoice removes a draft. Issued invoices stay for the books (void them instead).
func (s *Server) deleteInvoice(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	cur, err := sc.LockInvoice(r.Context(), id, nil)
	if err != nil {
		return err
	}
	if cur.Status != "draft" {
		return errConflict("Only a draft invoice can be deleted; void it instead.")
	}
	if err := sc.DeleteDraftInvoice(r.Context(), id); err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "invoice.delete", "invoice", id.String(), map[string]any{"number": cur.Number}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type billPayBody struct {
	PaymentMethod *string `json:"payment_method"`
}

// payInvoice records that staff received payment for a sent invoice (default method
// "manual"). The body is optional. Waiting payment sessions are closed: a pending cash
// collection is marked paid when the method is "cod", anything else expires.
func (s *Server) payInvoice(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b billPayBody
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errValidation("The request body could not be read.")
	}
	if err := requireJSON(r, raw); err != nil { // (the body is optional, but JSON when given)
		return err
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := decodeBytes(raw, &b); err != nil {
			return err
		}
	}
	cur, err := sc.LockInvoice(r.Context(), id, nil)
	if err != nil {
		return err
	}
	method := "manual"
	if b.PaymentMethod != nil {
		method = strings.TrimSpace(*b.PaymentMethod)
		if !billPaymentMethodPattern.MatchString(method) {
			return errField("payment_method", "must be a short lowercase name such as manual, cash, bank_transfer or cod")
		}
	}
	switch cur.Status {
	case "paid":
		return errConflict("The invoice is already paid.")
	case "void":
		return errConflict("The invoice is void and cannot be paid.")
	case "draft":
		return errConflict("The invoice has not been sent yet.")
	}
	v, err := sc.PayInvoice(r.Context(), id, method)
	if err != nil {
		return err
	}
	if err := sc.CloseInvoicePaymentSessions(r.Context(), id, method); err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "invoice.pay", "invoice", id.String(),
		map[string]any{"payment_method": method, "total_cents": v.TotalCents}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}
