package store

import (
	"context"
	"errors"

	"github.com/google/uuid"
)

// ClaimPendingOutbox locks up to limit of the tenant's pending outbox messages, oldest first,
// for the rest of the scope's write transaction. Messages another transaction is already
// delivering are skipped, so two deliveries running at once never send the same message.
func (sc *Scope) ClaimPendingOutbox(ctx context.Context, limit int) ([]OutboxMessage, error) {
	if sc.conn == nil {
		return nil, errors.New("store: claiming outbox messages needs a write transaction")
	}
	return collect(ctx, sc, `SELECT `+billOutboxColumns+` FROM outbox_messages
		WHERE tenant_id = $1 AND status = 'pending'
		ORDER BY created_at, id LIMIT $2
		FOR UPDATE SKIP LOCKED`, []any{sc.TenantID(), limit}, billScanOutbox)
}

// RecordOutboxFailure records a failed delivery attempt of a pending message: attempts goes
// up by one and the error is kept. The message fails for good (status failed) when final is
// set (an error no retry can fix) or when it has now been tried maxAttempts times; otherwise it
// stays pending for the next attempt. It reports whether the message failed for good.
func (sc *Scope) RecordOutboxFailure(ctx context.Context, id uuid.UUID, reason string, final bool, maxAttempts int) (bool, error) {
	var status string
	err := sc.queryRow(ctx, `UPDATE outbox_messages
		SET attempts = attempts + 1, error = $3,
		    status = CASE WHEN $4 OR attempts + 1 >= $5 THEN 'failed' ELSE status END
		WHERE tenant_id = $1 AND id = $2 AND status = 'pending'
		RETURNING status`, []any{sc.TenantID(), id, reason, final, maxAttempts}, &status)
	return status == "failed", err
}

// HasPendingOutbox reports whether the tenant has messages waiting for delivery. The minutely
// reminders run uses it to sweep up messages whose delivery job gave up (a mail server that was
// down for a while), so that nothing waits for the tenant's next message to be sent.
func (sc *Scope) HasPendingOutbox(ctx context.Context) (bool, error) {
	var pending bool
	err := sc.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox_messages WHERE tenant_id = $1 AND status = 'pending')`,
		[]any{sc.TenantID()}, &pending)
	return pending, err
}
