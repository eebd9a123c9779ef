package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// OutboxMessage is an email waiting in (or gone from) the tenant's outbox. Messages are queued
// in the transaction that causes them and sent later, so a rolled-back request sends nothing.
type OutboxMessage struct {
	ID          uuid.UUID  `json:"id"`
	ToAddress   string     `json:"to_address"`
	FromAddress string     `json:"from_address"`
	Subject     string     `json:"subject"`
	Body        string     `json:"body"`
	Status      string     `json:"status"`
	Error       string     `json:"error"`
	Attempts    int        `json:"attempts"`
	CreatedAt   time.Time  `json:"created_at"`
	SentAt      *time.Time `json:"sent_at"`
}

// OutboxInput is a message to queue.
type OutboxInput struct {
	To, From, Subject, Body string
}

const billOutboxColumns = `id, to_address, from_address, subject, body, status, error, attempts, created_at, sent_at`

func billScanOutbox(r pgx.Rows) (OutboxMessage, error) {
	var v OutboxMessage
	err := r.Scan(&v.ID, &v.ToAddress, &v.FromAddress, &v.Subject, &v.Body, &v.Status, &v.Error, &v.Attempts, &v.CreatedAt, &v.SentAt)
	return v, err
}

// EnqueueEmail queues a message in the tenant's outbox with status pending.
func (sc *Scope) EnqueueEmail(ctx context.Context, in OutboxInput) (OutboxMessage, error) {
	items, err := collect(ctx, sc, `INSERT INTO outbox_messages (tenant_id, id, to_address, from_address, subject, body)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+billOutboxColumns,
		[]any{sc.TenantID(), NewID(), in.To, in.From, in.Subject, in.Body}, billScanOutbox)
	if err != nil {
		return OutboxMessage{}, err
	}
	if len(items) == 0 {
		return OutboxMessage{}, ErrNotFound
	}
	return items[0], nil
}

// MarkOutboxSent records that a queued message was delivered (used by the sender and the demo
// data).
func (sc *Scope) MarkOutboxSent(ctx context.Context, id uuid.UUID) error {
	tag, err := sc.exec(ctx, `UPDATE outbox_messages SET status = 'sent', sent_at = now(), attempts = attempts + 1
		WHERE tenant_id = $1 AND id = $2`, sc.TenantID(), id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// ListOutbox lists the tenant's outbox, newest first; status "" means every status.
func (sc *Scope) ListOutbox(ctx context.Context, status string, p Page) ([]OutboxMessage, error) {
	return collect(ctx, sc, `SELECT `+billOutboxColumns+` FROM outbox_messages
		WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id < $2) AND ($3 = '' OR status = $3)
		ORDER BY id DESC LIMIT $4`, []any{sc.TenantID(), p.Before, status, p.limitPlusOne()}, billScanOutbox)
}
