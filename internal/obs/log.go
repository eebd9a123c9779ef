// Package obs carries request identity into logs: every line written while serving a request
// gets its request_id, tenant_id and user_id from the context, not from repeated arguments.
package obs

import (
	"context"
	"io"
	"log/slog"
	"sync"
)

type ctxKey struct{}

// RequestInfo is the identity of the request being served. The tenant and user are filled in
// once the tenant wrapper has verified them; before that they are empty.
type RequestInfo struct {
	mu        sync.Mutex
	RequestID string
	tenantID  string
	userID    string
	Route     string
}

// SetIdentity records the verified tenant and user.
func (ri *RequestInfo) SetIdentity(tenantID, userID string) {
	ri.mu.Lock()
	ri.tenantID, ri.userID = tenantID, userID
	ri.mu.Unlock()
}

// Identity returns the verified tenant and user, if any.
func (ri *RequestInfo) Identity() (tenantID, userID string) {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	return ri.tenantID, ri.userID
}

// WithRequest attaches ri to ctx.
func WithRequest(ctx context.Context, ri *RequestInfo) context.Context {
	return context.WithValue(ctx, ctxKey{}, ri)
}

// Request returns the request info in ctx, or nil.
func Request(ctx context.Context) *RequestInfo {
	ri, _ := ctx.Value(ctxKey{}).(*RequestInfo)
	return ri
}

// contextHandler adds the request's identity to every record logged with a context.
type contextHandler struct{ slog.Handler }

// NewLogger returns a JSON logger whose records carry request_id, tenant_id and user_id when
// logged with a request context.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(contextHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if ri := Request(ctx); ri != nil {
		t, u := ri.Identity()
		r.AddAttrs(slog.String("request_id", ri.RequestID), slog.String("tenant_id", t), slog.String("user_id", u))
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(as)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}
