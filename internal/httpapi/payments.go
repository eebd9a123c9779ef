package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"tenantd/internal/store"
)

// billWebhookHeader carries the provider's signature: "sha256=" and the hex HMAC-SHA256 of the
// raw request body under the key derived for "payment-webhook".
const billWebhookHeader = "X-Payment-Signature"

// billPaymentBody names the invoice to pay.
type billPaymentBody struct {
	InvoiceID *uuid.UUID `json:"invoice_id"`
}

// billCheckout is a payment session as returned to the payer; card sessions carry the page
// where the payment is completed.
type billCheckout struct {
	store.PaymentSession
	CheckoutURL string `json:"checkout_url,omitempty"`
}

// payableInvoice reads and locks the invoice a payment is for. Clients may only pay their own
// issued invoices: another client's (or a draft) is the same 404 as a missing id, as is an id
// of another tenant. An invoice that is not awaiting payment is a conflict.
func (s *Server) payableInvoice(r *http.Request, sc *store.Scope) (store.Invoice, error) {
	var b billPaymentBody
	if err := decode(r, &b); err != nil {
		return store.Invoice{}, err
	}
	if b.InvoiceID == nil {
		return store.Invoice{}, errField("invoice_id", "is required")
	}
	v, err := sc.LockInvoice(r.Context(), *b.InvoiceID, ownFilter(sc.Verified()))
	if err != nil {
		return v, err
	}
	switch {
	case v.Status == "paid":
		return v, errConflict("The invoice is already paid.")
	case v.Status == "void":
		return v, errConflict("The invoice is void and cannot be paid.")
	case v.Status == "draft":
		return v, errConflict("The invoice has not been sent yet.")
	case v.TotalCents == 0:
		return v, errConflict("The invoice has nothing to pay.")
	}
	return v, nil
}

// paymentCheckout opens a card payment session for the invoice's total and routes the
// provider's later webhook for it to this tenant.
func (s *Server) paymentCheckout(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	inv, err := s.payableInvoice(r, sc)
	if err != nil {
		return err
	}
	a := sc.Verified()
	ps, err := sc.CreatePaymentSession(r.Context(), inv.ID, "card", "open", &a.UserID)
	if err != nil {
		return err
	}
	if err := sc.AddPaymentSessionRoute(r.Context(), ps.ID); err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "payment.checkout", "invoice", inv.ID.String(),
		map[string]any{"session_id": ps.ID.String(), "amount_cents": ps.AmountCents}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, billCheckout{PaymentSession: ps, CheckoutURL: "/pay/" + ps.ID.String()})
}

// paymentCOD records that the invoice will be paid in cash on delivery. The invoice stays
// unpaid until staff record the payment (POST /api/admin/invoices/{id}/pay with method cod).
// Only one collection may be pending per invoice. No webhook route is made: the provider has
// no say over cash.
func (s *Server) paymentCOD(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	inv, err := s.payableInvoice(r, sc)
	if err != nil {
		return err
	}
	existing, err := sc.ListInvoicePaymentSessions(r.Context(), inv.ID)
	if err != nil {
		return err
	}
	for _, e := range existing {
		if e.Method == "cod" && e.Status == "pending_collection" {
			return errConflict("A cash-on-delivery collection is already pending for this invoice.")
		}
	}
	a := sc.Verified()
	ps, err := sc.CreatePaymentSession(r.Context(), inv.ID, "cod", "pending_collection", &a.UserID)
	if err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "payment.cod", "invoice", inv.ID.String(),
		map[string]any{"session_id": ps.ID.String(), "amount_cents": ps.AmountCents}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, billCheckout{PaymentSession: ps})
}

// billWebhookBody is what we read of a provider's report. Providers add fields freely, so
// unknown ones are ignored here, and nothing in it may name the tenant: any tenant or invoice
// id it carries is never read.
type billWebhookBody struct {
	SessionID string `json:"session_id"`
	Status    string `json:"status"`
}

// billSignatureOK checks the provider's signature over the raw body in constant time.
func billSignatureOK(keys [][]byte, header string, body []byte) bool {
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	valid := false
	for _, key := range keys { // every key is tried: the time taken does not say which matched
		m := hmac.New(sha256.New, key)
		m.Write(body)
		valid = hmac.Equal(got, m.Sum(nil)) || valid
	}
	return valid
}

// WebhookPurpose names the key payment webhooks are signed with, derived from TENANTD_SECRET
// (see tenancy.Keyring.Derive; `tenantd webhook-key` prints it for the provider). Signatures
// made with the key of a secret in TENANTD_SECRET_PREVIOUS still verify, so the secret can be
// rotated before the provider is given the new key.
const WebhookPurpose = "payment-webhook"

// paymentWebhook applies a payment provider's signed report on a card session. The tenant is
// looked up from the session id in the global routing table written at checkout, and all work
// then runs in that tenant's scope, in one transaction: the session and its invoice are
// settled together, and a repeated report changes nothing.
func (s *Server) paymentWebhook(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errValidation("The request body could not be read.")
	}
	if !billSignatureOK(s.cfg.Keyring.DeriveAll(WebhookPurpose), r.Header.Get(billWebhookHeader), body) {
		s.securityEvent(r, "payment_webhook_bad_signature", uuid.Nil, nil)
		return problem(http.StatusUnauthorized, CodeUnauthenticated, "The payment signature is missing or not valid.")
	}
	// Signed or not, a body is read as JSON only when it says it is JSON.
	if err := requireJSON(r, body); err != nil {
		return err
	}
	var b billWebhookBody
	if err := json.Unmarshal(body, &b); err != nil {
		return errValidation("The request body is not a JSON object.")
	}
	var f fields
	sid, err := uuid.Parse(b.SessionID)
	if err != nil {
		f.add("session_id", "is required: a payment session id")
	}
	if b.Status != "paid" && b.Status != "failed" {
		f.add("status", "must be paid or failed")
	}
	if err := f.err(); err != nil {
		return err
	}
	ctx := r.Context()
	tenant, err := s.store.PaymentSessionTenant(ctx, sid)
	if err != nil {
		return err
	}
	sc := s.store.TrustedScope(tenant, false)
	if err := sc.Begin(ctx); err != nil {
		return err
	}
	res, err := func() (store.PaymentSettlement, error) {
		res, err := sc.SettlePaymentSession(ctx, sid, b.Status)
		if err != nil || !res.Changed {
			return res, err
		}
		return res, sc.AuditEvent(ctx, "payment.webhook", "invoice", res.Session.InvoiceID.String(),
			map[string]any{"session_id": sid.String(), "reported": b.Status, "invoice_status": res.InvoiceStatus})
	}()
	if eerr := sc.End(context.WithoutCancel(ctx), err == nil); eerr != nil && err == nil {
		err = eerr
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"session_id": sid, "status": res.Session.Status, "changed": res.Changed})
}
