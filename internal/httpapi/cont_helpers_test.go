package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// contEnv is newEnv; it also returns the storage directory the seed and the server share.
func contEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := newEnv(t)
	return e, e.files
}

// contSQL runs sql as the cluster superuser (fixtures and assertions that must see every
// tenant's rows) and scans the single row into dest, if any.
func contSQL(t testing.TB, e *env, sql string, args []any, dest ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.db.SuperURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if len(dest) == 0 {
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return
	}
	if err := conn.QueryRow(ctx, sql, args...).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// contSnapshot fingerprints every tenant-owned table, to prove a request changed nothing.
func contSnapshot(t testing.TB, e *env) string {
	t.Helper()
	var tables []string
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.db.SuperURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attname = 'tenant_id' AND c.relname <> 'audit_events' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	if tables, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, tb := range tables {
		var sum *string
		if err := conn.QueryRow(ctx, `SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) FROM `+pgx.Identifier{tb}.Sanitize()+` x`).Scan(&sum); err != nil {
			t.Fatal(err)
		}
		if sum != nil {
			fmt.Fprintf(&b, "%s=%s;", tb, *sum)
		}
	}
	return b.String()
}

// contFiles lists the regular files under dir, relative and slash-separated.
func contFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// contPart is one part of a hand-made multipart body. disposition, when set, is the whole
// Content-Disposition value (to send names no well-behaved encoder would).
type contPart struct {
	name, filename, disposition string
	data                        []byte
}

const contBoundary = "cont-test-boundary-7c1e"

// contMultipart builds a multipart/form-data body and its Content-Type.
func contMultipart(parts ...contPart) (string, []byte) {
	var b bytes.Buffer
	for _, p := range parts {
		b.WriteString("--" + contBoundary + "\r\n")
		d := p.disposition
		if d == "" {
			d = `form-data; name="` + p.name + `"`
			if p.filename != "" {
				d += `; filename="` + p.filename + `"`
			}
		}
		b.WriteString("Content-Disposition: " + d + "\r\n")
		if p.filename != "" || p.disposition != "" {
			b.WriteString("Content-Type: application/octet-stream\r\n")
		}
		b.WriteString("\r\n")
		b.Write(p.data)
		b.WriteString("\r\n")
	}
	b.WriteString("--" + contBoundary + "--\r\n")
	return "multipart/form-data; boundary=" + contBoundary, b.Bytes()
}

// contUpload posts parts to /api/uploads.
func (c *client) contUpload(parts ...contPart) *resp {
	c.e.t.Helper()
	ct, body := contMultipart(parts...)
	return c.do("POST", "/api/uploads", body, "Content-Type", ct)
}
