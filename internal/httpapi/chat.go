package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"tenantd/internal/auth"
	"tenantd/internal/store"
)

// Chat: one thread per client of the tenant, between that client and the firm's staff.

func (s *Server) chatRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/admin/chat", Kind: KindTenant, Permission: auth.PermChatStaff, Summary: "A client's thread (?client=<user id>)", Handler: s.adminChat},
		{Method: "POST", Pattern: "/api/admin/chat", Kind: KindTenant, Permission: auth.PermChatStaff, Creates: true, Summary: "Write to a client's thread", Handler: s.adminPostChat},
		{Method: "GET", Pattern: "/api/portal/chat", Kind: KindTenant, Permission: auth.PermChatOwn, Summary: "The caller's own thread", Handler: s.portalChat},
		{Method: "POST", Pattern: "/api/portal/chat", Kind: KindTenant, Permission: auth.PermChatOwn, Creates: true, Summary: "Write to the caller's own thread", Handler: s.portalPostChat},
	}
}

func contChatID(m store.ChatMessage) uuid.UUID { return m.ID }

// contChatBody validates a message's text.
func contChatBody(body *string, f *fields) string {
	if body == nil {
		f.add("body", "is required")
		return ""
	}
	v := strings.TrimSpace(*body)
	if v == "" || utf8.RuneCountInString(v) > 10000 {
		f.add("body", "is required (at most 10000 characters)")
	}
	return v
}

func (s *Server) adminChat(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	c := r.URL.Query().Get("client")
	if c == "" {
		return errField("client", "is required (a client's user id)")
	}
	client, err := uuid.Parse(c)
	if err != nil {
		return errField("client", "must be a user id")
	}
	// Only clients of this tenant have a thread; anyone else is the standard 404.
	if err := sc.ChatClient(r.Context(), client); err != nil {
		return err
	}
	items, err := sc.ListChat(r.Context(), client, p)
	if err != nil {
		return err
	}
	return writeList(w, items, p, contChatID)
}

type contAdminChatBody struct {
	ClientID *uuid.UUID `json:"client_id"`
	Body     *string    `json:"body"`
}

func (s *Server) adminPostChat(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	a := sc.Verified()
	var b contAdminChatBody
	if err := decode(r, &b); err != nil {
		return err
	}
	if b.ClientID == nil {
		return errField("client_id", "is required")
	}
	if err := sc.ChatClient(r.Context(), *b.ClientID); err != nil {
		return err
	}
	var f fields
	body := contChatBody(b.Body, &f)
	if err := f.err(); err != nil {
		return err
	}
	return s.contPostChat(w, r, sc, *b.ClientID, a.UserID, body)
}

func (s *Server) portalChat(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	a, err := sc.Verify(r.Context())
	if err != nil {
		return err
	}
	items, err := sc.ListChat(r.Context(), a.UserID, p)
	if err != nil {
		return err
	}
	return writeList(w, items, p, contChatID)
}

type contPortalChatBody struct {
	Body *string `json:"body"`
}

func (s *Server) portalPostChat(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	a := sc.Verified()
	var b contPortalChatBody
	if err := decode(r, &b); err != nil {
		return err
	}
	var f fields
	body := contChatBody(b.Body, &f)
	if err := f.err(); err != nil {
		return err
	}
	return s.contPostChat(w, r, sc, a.UserID, a.UserID, body)
}

func (s *Server) contPostChat(w http.ResponseWriter, r *http.Request, sc *store.Scope, client, sender uuid.UUID, body string) error {
	m, err := sc.PostChat(r.Context(), client, sender, body)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound()
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, m)
}
