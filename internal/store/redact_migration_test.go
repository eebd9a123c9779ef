package store_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Migration 00005 removes API token secrets from answers stored for Idempotency-Key replays
// before the secret stopped being stored, in every tenant, and leaves every other stored
// answer alone.
func TestRedactStoredTokenSecretsMigration(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	stored := []struct {
		tenant   uuid.UUID
		key      string
		body     string
		wantBody string
	}{
		{f.demo.Acme.ID, "token-1", `{"token":"tdt_secret_one","api_token":{"id":"x","name":"ci"}}`, `{"token":null,"api_token":{"id":"x","name":"ci"}}`},
		{f.demo.Globex.ID, "token-2", `{"token":"tdt_secret_two","api_token":{"id":"y"}}`, `{"token":null,"api_token":{"id":"y"}}`},
		{f.demo.Acme.ID, "not-a-token", `{"id":"s","token":"kept: no api_token beside it"}`, `{"id":"s","token":"kept: no api_token beside it"}`},
		{f.demo.Acme.ID, "already-redacted", `{"token":null,"api_token":{"id":"z"}}`, `{"token":null,"api_token":{"id":"z"}}`},
	}
	for _, s := range stored {
		if _, err := f.super.Exec(ctx, `INSERT INTO idempotency_keys (tenant_id, id, user_id, key, request_hash, status_code, response_body, response_type)
			VALUES ($1, $2, $3, $4, '\x00', 201, convert_to($5, 'UTF8'), 'application/json')`, s.tenant, uuid.New(), uuid.New(), s.key, s.body); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile("migrations/00005_redact_stored_token_secrets.sql")
	if err != nil {
		t.Fatal(err)
	}
	up := string(raw)
	up = up[strings.Index(up, "-- +goose StatementBegin")+len("-- +goose StatementBegin") : strings.Index(up, "-- +goose StatementEnd")]
	owner, err := pgx.Connect(ctx, f.db.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	if _, err := owner.Exec(ctx, up); err != nil {
		t.Fatalf("migration: %v", err)
	}
	for _, s := range stored {
		t.Run(s.key, func(t *testing.T) {
			var same bool
			if err := f.super.QueryRow(ctx, `SELECT convert_from(response_body, 'UTF8')::jsonb = $3::jsonb FROM idempotency_keys WHERE tenant_id = $1 AND key = $2`,
				s.tenant, s.key, s.wantBody).Scan(&same); err != nil {
				t.Fatal(err)
			}
			if !same {
				t.Fatalf("stored answer is not %s", s.wantBody)
			}
		})
	}
}
