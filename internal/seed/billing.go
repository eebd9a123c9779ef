package seed

import (
	"context"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/store"
)

func init() { Register(billFill) }

// billFill adds invoices (with items, over both clients, in every state that matters), their
// payment sessions, expenses and outbox messages.
func billFill(ctx context.Context, sc *store.Scope, t *Tenant) error {
	due := time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly)
	type inv struct {
		client uuid.UUID
		status string
		items  []store.InvoiceItemInput
	}
	var ids []uuid.UUID
	for _, v := range []inv{
		{t.Client, "sent", []store.InvoiceItemInput{{Description: "Annual tax return", Quantity: 1, UnitPriceCents: 25000}, {Description: "Supporting schedules", Quantity: 2, UnitPriceCents: 3500}}},
		{t.Client, "paid", []store.InvoiceItemInput{{Description: "Strategy session", Quantity: 1, UnitPriceCents: 15000}}},
		{t.Client2, "sent", []store.InvoiceItemInput{{Description: "Monthly bookkeeping", Quantity: 3, UnitPriceCents: 40000}}},
		{t.Client2, "draft", []store.InvoiceItemInput{{Description: "Quarterly review", Quantity: 1, UnitPriceCents: 20000}}},
	} {
		status := v.status
		if status == "paid" {
			status = "sent"
		}
		d := due
		created, err := sc.CreateInvoice(ctx, store.InvoiceInput{ClientID: v.client, Status: status, Currency: "USD",
			DueOn: &d, Notes: "Demo invoice", Items: v.items})
		if err != nil {
			return err
		}
		if v.status == "paid" {
			if _, err := sc.PayInvoice(ctx, created.ID, "manual"); err != nil {
				return err
			}
		}
		ids = append(ids, created.ID)
	}
	// A card checkout still open on the first invoice, and a cash collection pending on the
	// third: one payment session for each client.
	card, err := sc.CreatePaymentSession(ctx, ids[0], "card", "open", &t.Client)
	if err != nil {
		return err
	}
	if err := sc.AddPaymentSessionRoute(ctx, card.ID); err != nil {
		return err
	}
	if _, err := sc.CreatePaymentSession(ctx, ids[2], "cod", "pending_collection", &t.Client2); err != nil {
		return err
	}

	today := time.Now().UTC()
	for i, e := range []store.ExpenseInput{
		{Description: "Accounting software subscription", Category: "software", AmountCents: 4900, CreatedBy: t.Owner},
		{Description: "Client visit travel", Category: "travel", AmountCents: 12850, CreatedBy: t.Staff},
		{Description: "Office supplies", Category: "general", AmountCents: 2300, CreatedBy: t.Staff},
	} {
		e.Currency = "USD"
		e.IncurredOn = today.AddDate(0, 0, -7*(i+1)).Format(time.DateOnly)
		if _, err := sc.CreateExpense(ctx, e); err != nil {
			return err
		}
	}

	from := "no-reply@" + t.Slug + ".test"
	for i, m := range []store.OutboxInput{
		{To: "client@" + t.Slug + ".test", Subject: "Your invoice is ready", Body: "Your invoice is ready in the client portal."},
		{To: "client2@" + t.Slug + ".test", Subject: "Your invoice is ready", Body: "Your invoice is ready in the client portal."},
	} {
		m.From = from
		msg, err := sc.EnqueueEmail(ctx, m)
		if err != nil {
			return err
		}
		if i == 0 {
			if err := sc.MarkOutboxSent(ctx, msg.ID); err != nil {
				return err
			}
		}
	}
	return nil
}
