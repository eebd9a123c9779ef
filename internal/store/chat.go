package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ChatMessage is one message of a client's thread with the firm.
type ChatMessage struct {
	ID        uuid.UUID `json:"id"`
	ClientID  uuid.UUID `json:"client_id"`
	SenderID  uuid.UUID `json:"sender_id"`
	FromStaff bool      `json:"from_staff"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

const contChatColumns = `id, client_id, sender_id, sender_id <> client_id, body, created_at`

func contScanChat(r pgx.Rows) (ChatMessage, error) {
	var m ChatMessage
	err := r.Scan(&m.ID, &m.ClientID, &m.SenderID, &m.FromStaff, &m.Body, &m.CreatedAt)
	return m, err
}

// ChatClient checks that id is a client (a CLIENT membership, active or not) of this tenant:
// only clients have threads. Anyone else, including users of other tenants, is ErrNotFound.
func (sc *Scope) ChatClient(ctx context.Context, id uuid.UUID) error {
	var got uuid.UUID
	return sc.queryRow(ctx, `SELECT user_id FROM memberships WHERE tenant_id = $1 AND user_id = $2 AND role = 'CLIENT'`,
		[]any{sc.TenantID(), id}, &got)
}

// ListChat lists one client's thread, newest first.
func (sc *Scope) ListChat(ctx context.Context, client uuid.UUID, p Page) ([]ChatMessage, error) {
	return collect(ctx, sc, `SELECT `+contChatColumns+` FROM chat_messages
		WHERE tenant_id = $1 AND client_id = $2 AND ($3::uuid IS NULL OR id < $3)
		ORDER BY id DESC LIMIT $4`, []any{sc.TenantID(), client, p.Before, p.limitPlusOne()}, contScanChat)
}

// PostChat adds a message from sender to client's thread. The client must be a client of this
// tenant (ErrNotFound otherwise); sender must be a member of it (the composite foreign key
// refuses anyone else).
func (sc *Scope) PostChat(ctx context.Context, client, sender uuid.UUID, body string) (ChatMessage, error) {
	items, err := collect(ctx, sc, `INSERT INTO chat_messages (tenant_id, id, client_id, sender_id, body)
		SELECT $1, $2, m.user_id, $4, $5 FROM memberships m
		WHERE m.tenant_id = $1 AND m.user_id = $3 AND m.role = 'CLIENT'
		RETURNING `+contChatColumns, []any{sc.TenantID(), NewID(), client, sender, body}, contScanChat)
	if err != nil {
		return ChatMessage{}, err
	}
	if len(items) == 0 {
		return ChatMessage{}, ErrNotFound
	}
	return items[0], nil
}
