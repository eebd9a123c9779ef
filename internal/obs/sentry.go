package obs

import (
	"context"
	"fmt"
	"time"

	"github.com/getsentry/sentry-go"
)

// Reporter sends unexpected errors and panics to Sentry, tagged with the request's identity.
// The zero value (no DSN) reports nothing.
type Reporter struct {
	enabled bool
}

// NewReporter connects to Sentry when dsn is set.
func NewReporter(dsn, environment string) (*Reporter, error) {
	if dsn == "" {
		return &Reporter{}, nil
	}
	if err := sentry.Init(sentry.ClientOptions{Dsn: dsn, Environment: environment, AttachStacktrace: true}); err != nil {
		return nil, fmt.Errorf("sentry: %w", err)
	}
	return &Reporter{enabled: true}, nil
}

// Report sends err with the request_id, tenant_id and user_id found in ctx.
func (r *Reporter) Report(ctx context.Context, err error) {
	if r == nil || !r.enabled || err == nil {
		return
	}
	hub := sentry.CurrentHub().Clone()
	hub.ConfigureScope(func(s *sentry.Scope) {
		if ri := Request(ctx); ri != nil {
			t, u := ri.Identity()
			s.SetTag("request_id", ri.RequestID)
			s.SetTag("tenant_id", t)
			s.SetTag("user_id", u)
			if ri.Route != "" {
				s.SetTag("route", ri.Route)
			}
		}
	})
	hub.CaptureException(err)
}

// Flush waits up to timeout for queued events to be sent.
func (r *Reporter) Flush(timeout time.Duration) {
	if r != nil && r.enabled {
		sentry.Flush(timeout)
	}
}
