package store_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Migration 00007 rewrites the emails earlier provisioning and member events put in the
// platform log into user ids, and drops those of users who are gone.
func TestPlatformLogUserIDsMigration(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	owner := f.demo.Acme.Owner
	events := []struct {
		kind, detail, want string
	}{
		{"tenant.create", `{"slug":"acme","owner_email":"OWNER@acme.test"}`, `{"slug":"acme","owner_user_id":"` + owner.String() + `"}`},
		{"member.add", `{"email":"owner@acme.test","role":"ADMIN"}`, `{"role":"ADMIN","user_id":"` + owner.String() + `"}`},
		{"member.add", `{"email":"gone@nowhere.test","role":"CLIENT"}`, `{"role":"CLIENT"}`},
		{"tenant.suspend", `{"email":"kept@elsewhere.test"}`, `{"email":"kept@elsewhere.test"}`},
	}
	ids := make([]uuid.UUID, len(events))
	for i, ev := range events {
		ids[i] = uuid.New()
		if _, err := f.super.Exec(ctx, `INSERT INTO platform_events (id, subject_tenant_id, kind, actor, detail) VALUES ($1, $2, $3, 'test', $4)`,
			ids[i], f.demo.Acme.ID, ev.kind, ev.detail); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile("migrations/00007_platform_log_user_ids.sql")
	if err != nil {
		t.Fatal(err)
	}
	up := string(raw)
	up = up[strings.Index(up, "-- +goose Up"):strings.Index(up, "-- +goose Down")]
	ownerConn, err := pgx.Connect(ctx, f.db.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer ownerConn.Close(ctx)
	if _, err := ownerConn.Exec(ctx, up); err != nil {
		t.Fatalf("migration: %v", err)
	}
	for i, ev := range events {
		var same bool
		if err := f.super.QueryRow(ctx, `SELECT detail = $2::jsonb FROM platform_events WHERE id = $1`, ids[i], ev.want).Scan(&same); err != nil {
			t.Fatal(err)
		}
		if !same {
			t.Errorf("%s %s: detail is not %s", ev.kind, ev.detail, ev.want)
		}
	}
}
