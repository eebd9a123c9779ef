package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"tenantd/internal/store"
)

// ErrNoSMTP is the error a message fails with when its tenant has no SMTP server configured:
// retrying cannot help until someone configures one, so the message fails at once.
var ErrNoSMTP = errors.New("no SMTP server configured for this tenant")

// outboxDeliverer runs outbox.deliver.
type outboxDeliverer struct {
	maxAttempts int
	batch       int
	smtpTimeout time.Duration
}

// DeliveryResult is the output an outbox.deliver job records on its River row.
type DeliveryResult struct {
	Sent     int  `json:"sent"`
	Failed   int  `json:"failed"`   // failed for good in this run
	Retrying int  `json:"retrying"` // failed this time, tried again later
	More     bool `json:"more"`     // a further job was queued for the rest of the outbox
}

// deliver sends a batch of the tenant's pending messages through the tenant's own SMTP
// settings. Sent messages are marked sent; a message that cannot be sent counts an attempt and
// fails for good on a permanent error or after maxAttempts; while any message is still to be
// retried, the job commits its progress and fails, so River runs it again after a backoff.
func (d *outboxDeliverer) deliver(ctx context.Context, sc *store.Scope, job *river.Job[OutboxDeliverArgs]) error {
	cs, err := sc.GetCommunicationSettings(ctx)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	msgs, err := sc.ClaimPendingOutbox(ctx, d.batch+1)
	if err != nil {
		return err
	}
	var res DeliveryResult
	if len(msgs) > d.batch {
		msgs, res.More = msgs[:d.batch], true
	}
	var connErr, lastErr error
	for _, m := range msgs {
		var err error
		switch {
		case cs.SMTPHost == "":
			err = &smtpError{err: ErrNoSMTP, permanent: true}
		case connErr != nil:
			// The server could not be reached or refused us: the rest of the batch would fare
			// no better, and each would wait out its own timeout.
			err = connErr
		default:
			err = sendMail(ctx, cs, m, d.smtpTimeout)
			var se *smtpError
			if errors.As(err, &se) && se.session {
				connErr = err
			}
		}
		if err == nil {
			if err := sc.MarkOutboxSent(ctx, m.ID); err != nil {
				return err
			}
			res.Sent++
			continue
		}
		var se *smtpError
		final := errors.As(err, &se) && se.permanent
		failed, rerr := sc.RecordOutboxFailure(ctx, m.ID, jobTrim(err.Error(), 1000), final, d.maxAttempts)
		if rerr != nil {
			return rerr
		}
		if failed {
			res.Failed++
		} else {
			res.Retrying++
			lastErr = err
		}
	}
	if res.Retrying > 0 {
		// The retry picks the remaining messages up too.
		res.More = false
	}
	if res.More {
		if err := EnqueueOutboxDelivery(ctx, sc); err != nil {
			return err
		}
	}
	if err := river.RecordOutput(ctx, res); err != nil {
		return err
	}
	if res.Retrying > 0 {
		return KeepChanges(fmt.Errorf("%d message(s) not delivered yet: %w", res.Retrying, lastErr))
	}
	return nil
}

// jobTrim shortens s to at most n bytes (and valid UTF-8) for storage.
func jobTrim(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "")
}
