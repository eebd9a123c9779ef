package httpapi_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"tenantd/internal/httpapi"
	"tenantd/internal/pgtest"
	"tenantd/internal/seed"
	"tenantd/internal/tenancy"
)

// newPlatEnv is newEnv with one storage directory shared by the seed and the server, so that
// the demo attachments exist as files (exports carry them, offboarding removes them).
func newPlatEnv(t *testing.T) (*env, string) {
	t.Helper()
	st, db := pgtest.Store(t)
	dir := t.TempDir()
	demo, err := seed.DemoWithFiles(context.Background(), st, dir)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	kr, err := tenancy.NewKeyring(testSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(st, httpapi.Config{BaseDomain: "localhost", Keyring: kr, OperatorToken: testOperator,
		StorageDir: dir, LoginPerMinute: 1000, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &env{t: t, st: st, db: db, api: api, srv: srv, demo: demo, keyring: kr}, dir
}

// platOperator is a caller holding the operator token.
func platOperator(e *env) *client {
	c := e.anon()
	c.bearer = testOperator
	return c
}

// platSuper connects as the cluster superuser, who sees every tenant's rows.
func platSuper(t testing.TB, e *env) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.db.SuperURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// platTables lists the tenant-owned tables (every public table with a tenant_id column).
func platTables(t testing.TB, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attname = 'tenant_id' AND NOT a.attisdropped ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) < 20 {
		t.Fatalf("only %d tenant-owned tables found: %v", len(tables), tables)
	}
	return tables
}

// platCounts counts tenant's rows in every tenant-owned table.
func platCounts(t testing.TB, conn *pgx.Conn, tenant uuid.UUID) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, tb := range platTables(t, conn) {
		var n int64
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM `+pgx.Identifier{tb}.Sanitize()+` WHERE tenant_id = $1`, tenant).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[tb] = n
	}
	return out
}

// platIDs lists the id of every row of tenant in every tenant-owned table, by table.
func platIDs(t testing.TB, conn *pgx.Conn, tenant uuid.UUID) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, tb := range platTables(t, conn) {
		rows, err := conn.Query(context.Background(), `SELECT id::text FROM `+pgx.Identifier{tb}.Sanitize()+` WHERE tenant_id = $1`, tenant)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		out[tb] = ids
	}
	return out
}

// platFingerprint digests every row of tenant (every tenant-owned table, its tenant row and its
// members' user rows), to prove that something else happening changed none of it.
func platFingerprint(t testing.TB, conn *pgx.Conn, tenant uuid.UUID) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, tb := range platTables(t, conn) {
		var sum *string
		if err := conn.QueryRow(ctx, `SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) FROM `+pgx.Identifier{tb}.Sanitize()+` x WHERE tenant_id = $1`, tenant).Scan(&sum); err != nil {
			t.Fatal(err)
		}
		if sum != nil {
			b.WriteString(tb + "=" + *sum + ";")
		}
	}
	var sum *string
	if err := conn.QueryRow(ctx, `SELECT md5(x::text) FROM tenants x WHERE id = $1`, tenant).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	b.WriteString("tenant=" + *sum + ";")
	if err := conn.QueryRow(ctx, `SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) FROM users x
		WHERE id IN (SELECT user_id FROM memberships WHERE tenant_id = $1)`, tenant).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	b.WriteString("users=" + *sum)
	return b.String()
}

// platDirDigest lists every file under dir with its SHA-256.
func platDirDigest(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// platEntry is one file of a bundle.
type platEntry struct {
	name string
	data []byte
}

// platUnpack reads a tar.gz bundle, keeping the entry order.
func platUnpack(t testing.TB, bundle []byte) []platEntry {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(bundle))
	if err != nil {
		t.Fatalf("bundle is not gzip: %v", err)
	}
	tr := tar.NewReader(gz)
	var out []platEntry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("bundle is not a tar: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, platEntry{name: h.Name, data: data})
	}
	return out
}

var platParam = regexp.MustCompile(`\{[A-Za-z_]+\}`)

// platTenantRoutes lists the tenant routes of the table with their path parameters filled by
// value.
func platTenantRoutes(e *env, value string) []httpapi.Route {
	var out []httpapi.Route
	for _, rt := range e.api.Routes() {
		if rt.Kind == httpapi.KindTenant {
			rt.Pattern = platParam.ReplaceAllString(rt.Pattern, value)
			out = append(out, rt)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Method+out[i].Pattern < out[j].Method+out[j].Pattern })
	return out
}

// platBody is what the matrix tests send: nothing to reads, {} to everything else.
func platBody(method string) any {
	if method == http.MethodGet || method == http.MethodHead {
		return nil
	}
	return map[string]any{}
}

// platRaw sends a request as c from any goroutine (it reports errors instead of failing the
// test, which only the test's own goroutine may do).
func platRaw(c *client, method, path string) (int, error) {
	req, err := http.NewRequest(method, c.e.srv.URL+path, nil)
	if err != nil {
		return 0, err
	}
	if c.host != "" {
		req.Host = c.host
	}
	for _, k := range c.cookies {
		req.AddCookie(k)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	res, err := c.e.srv.Client().Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, nil
}
