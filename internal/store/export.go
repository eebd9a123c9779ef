package store

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ExportFormat names the bundle format in its manifest, so that a reader can tell a tenantd
// export from any other tarball and know which layout to expect.
const (
	ExportFormat        = "tenantd-tenant-export"
	ExportFormatVersion = 1
)

// ExportManifest is manifest.json, the first entry of an export bundle. It says what the
// bundle holds and how to check it: every table file and every attachment carries its size and
// SHA-256, and the bundle's own checksum is reported beside it (in the offboarding
// certificate, for instance).
type ExportManifest struct {
	Format        string        `json:"format"`
	FormatVersion int           `json:"format_version"`
	CreatedAt     time.Time     `json:"created_at"`
	Tenant        ExportSubject `json:"tenant"`
	Snapshot      string        `json:"snapshot"`
	Tables        []ExportTable `json:"tables"`
	Files         []ExportFile  `json:"files"`
}

// ExportSubject identifies the exported tenant.
type ExportSubject struct {
	ID     uuid.UUID `json:"id"`
	Slug   string    `json:"slug"`
	Name   string    `json:"name"`
	Status string    `json:"status"`
}

// ExportTable describes one tables/<name>.jsonl file: one JSON object per row. Scope is
// "tenant" for tenant-owned tables (every row whose tenant_id is the tenant's), "tenant-row" for
// the tenant's own row of the tenants table and "members" for the user rows of its members
// (id, email and name only; never password hashes).
type ExportTable struct {
	Name   string `json:"name"`
	File   string `json:"file"`
	Scope  string `json:"scope"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// ExportFile describes one stored attachment: files/<key> in the bundle, or, when the bytes
// could not be found under the storage directory, an entry marked missing (the export goes on:
// a lost file must not make the rest of the tenant's data unexportable).
type ExportFile struct {
	AttachmentID uuid.UUID `json:"attachment_id"`
	Key          string    `json:"key"`
	File         string    `json:"file,omitempty"`
	Size         int64     `json:"size"`
	SHA256       string    `json:"sha256,omitempty"`
	Missing      bool      `json:"missing,omitempty"`
	Reason       string    `json:"reason,omitempty"`
}

// ExportResult is a written bundle: its manifest, its size and the SHA-256 of its bytes (the
// gzip stream as written).
type ExportResult struct {
	Manifest ExportManifest `json:"manifest"`
	Size     int64          `json:"size"`
	SHA256   string         `json:"sha256"`
}

// ExportTenant writes tenant id's export bundle (tar.gz) to w. Every row is read in one
// read-only REPEATABLE READ transaction in the tenant's scope, so the bundle is one consistent
// picture of the tenant; attachments are read from storageDir. The export is recorded in the
// tenant's audit log and the platform log.
func (p *Platform) ExportTenant(ctx context.Context, id uuid.UUID, storageDir string, w io.Writer) (*ExportResult, error) {
	tx, err := platBegin(ctx, p.s, id, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	snap, err := platSnapshot(ctx, tx, id)
	if rerr := tx.Rollback(context.WithoutCancel(ctx)); err == nil && rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) {
		err = rerr
	}
	if err != nil {
		return nil, err
	}
	defer snap.remove()
	res, err := snap.writeBundle(w, storageDir)
	if err != nil {
		return nil, err
	}
	if err := p.recordExport(ctx, id, res); err != nil {
		return nil, err
	}
	return res, nil
}

// recordExport writes the export's audit events: data left the system.
func (p *Platform) recordExport(ctx context.Context, id uuid.UUID, res *ExportResult) error {
	sc := p.s.TrustedScope(id, false)
	if err := sc.Begin(ctx); err != nil {
		return err
	}
	err := p.event(ctx, sc, "tenant.export", map[string]any{"sha256": res.SHA256, "size": res.Size,
		"tables": len(res.Manifest.Tables), "files": len(res.Manifest.Files)})
	return errors.Join(err, sc.End(context.WithoutCancel(ctx), err == nil))
}

// platBegin opens a transaction with opts and binds it to tenant, the way a Scope does: the
// setting dies with the transaction. It reads or deletes a whole tenant and writes files
// between statements, so it lifts the connection's timeouts (connectionTimeouts) for itself.
func platBegin(ctx context.Context, s *Store, tenant uuid.UUID, opts pgx.TxOptions) (pgx.Tx, error) {
	tx, err := s.pool.BeginTx(ctx, opts)
	if err != nil {
		return nil, translate(err)
	}
	if _, err := tx.Exec(ctx, `SELECT set_config('app.tenant_id', $1, true), set_config('app.user_id', '', true),
		set_config('statement_timeout', '0', true), set_config('idle_in_transaction_session_timeout', '0', true)`, tenant.String()); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, translate(err)
	}
	return tx, nil
}

// platTable is a table of the catalog that holds a tenant_id column, with its primary key
// columns (the order its rows are exported in).
type platTable struct {
	Name string
	Key  []string
}

// platTenantTables reads the tenant-owned tables from the catalog: every table of schema public
// with a tenant_id column. The list is never written by hand, so a table added by a later
// migration is exported and counted without anyone remembering to.
func platTenantTables(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) ([]platTable, error) {
	rows, err := q.Query(ctx, `
SELECT c.relname,
  coalesce((SELECT array_agg(ka.attname::text ORDER BY k.ord)
    FROM pg_index i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute ka ON ka.attrelid = i.indrelid AND ka.attnum = k.attnum
    WHERE i.indrelid = c.oid AND i.indisprimary), '{}')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname`)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (platTable, error) {
		var t platTable
		err := r.Scan(&t.Name, &t.Key)
		return t, err
	})
	return out, translate(err)
}

// sql returns the table's quoted name and the ORDER BY clause of its primary key.
func (t platTable) sql() (name, order string) {
	name = pgx.Identifier{"public", t.Name}.Sanitize()
	for i, k := range t.Key {
		if i == 0 {
			order = " ORDER BY "
		} else {
			order += ", "
		}
		order += pgx.Identifier{k}.Sanitize()
	}
	return name, order
}

// platAttachment is what the bundle needs to know of an attachment row.
type platAttachment struct {
	ID     uuid.UUID
	Key    string
	Size   int64
	SHA256 string
}

// platSnap is a tenant's rows, read in one transaction and spooled to a private temporary
// directory (a tar entry needs its size before its bytes), waiting to be written as a bundle.
type platSnap struct {
	dir         string
	tenant      Tenant
	tables      []ExportTable
	attachments []platAttachment
	members     []uuid.UUID
	counts      map[string]int64 // tenant-owned tables only
	created     time.Time
}

func (s *platSnap) remove() { _ = os.RemoveAll(s.dir) }

// platSnapshot reads everything of tenant id that tx (bound to the tenant) can see. Every
// query on a tenant-owned table filters on tenant_id besides row level security.
func platSnapshot(ctx context.Context, tx pgx.Tx, id uuid.UUID) (_ *platSnap, err error) {
	t, err := scanTenant(tx.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1`, id))
	if err != nil {
		return nil, err
	}
	tables, err := platTenantTables(ctx, tx)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tenantd-export-")
	if err != nil {
		return nil, err
	}
	snap := &platSnap{dir: dir, tenant: t, counts: map[string]int64{}, created: time.Now().UTC()}
	defer func() {
		if err != nil {
			snap.remove()
		}
	}()
	spool := func(name, scope, sql string, args ...any) (int64, error) {
		file := "tables/" + url.PathEscape(name) + ".jsonl"
		et, err := platSpool(ctx, tx, filepath.Join(dir, fmt.Sprintf("%03d.jsonl", len(snap.tables))), sql, args...)
		if err != nil {
			return 0, fmt.Errorf("export %s: %w", name, err)
		}
		et.Name, et.File, et.Scope = name, file, scope
		snap.tables = append(snap.tables, et)
		return et.Rows, nil
	}
	if _, err := spool("tenants", "tenant-row", `SELECT to_jsonb(t)::text FROM tenants t WHERE t.id = $1`, id); err != nil {
		return nil, err
	}
	if _, err := spool("users", "members", `SELECT jsonb_build_object('id', u.id, 'email', u.email, 'name', u.name)::text
		FROM users u WHERE u.id IN (SELECT m.user_id FROM memberships m WHERE m.tenant_id = $1) ORDER BY u.id`, id); err != nil {
		return nil, err
	}
	for _, tb := range tables {
		name, order := tb.sql()
		n, err := spool(tb.Name, "tenant", `SELECT to_jsonb(t)::text FROM `+name+` t WHERE t.tenant_id = $1`+order, id)
		if err != nil {
			return nil, err
		}
		snap.counts[tb.Name] = n
	}
	if _, ok := snap.counts["attachments"]; ok {
		rows, err := tx.Query(ctx, `SELECT id, storage_key, size_bytes, sha256 FROM attachments WHERE tenant_id = $1 ORDER BY id`, id)
		if err != nil {
			return nil, translate(err)
		}
		snap.attachments, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (platAttachment, error) {
			var a platAttachment
			err := r.Scan(&a.ID, &a.Key, &a.Size, &a.SHA256)
			return a, err
		})
		if err != nil {
			return nil, translate(err)
		}
	}
	if _, ok := snap.counts["memberships"]; ok {
		rows, err := tx.Query(ctx, `SELECT user_id FROM memberships WHERE tenant_id = $1 ORDER BY user_id`, id)
		if err != nil {
			return nil, translate(err)
		}
		if snap.members, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]); err != nil {
			return nil, translate(err)
		}
	}
	return snap, nil
}

// platSpool writes the single text column of every row of sql to path, one row per line, and
// returns the file's row count, size and SHA-256.
func platSpool(ctx context.Context, tx pgx.Tx, path, sql string, args ...any) (ExportTable, error) {
	var et ExportTable
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return et, err
	}
	defer f.Close()
	h := sha256.New()
	cw := &platCounter{w: io.MultiWriter(f, h)}
	bw := bufio.NewWriterSize(cw, 64<<10)
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return et, translate(err)
	}
	defer rows.Close()
	var line []byte
	for rows.Next() {
		line = line[:0]
		if err := rows.Scan(&line); err != nil {
			return et, translate(err)
		}
		bw.Write(line)
		bw.WriteByte('\n')
		et.Rows++
	}
	if err := rows.Err(); err != nil {
		return et, translate(err)
	}
	if err := bw.Flush(); err != nil {
		return et, err
	}
	et.Bytes, et.SHA256 = cw.n, hex.EncodeToString(h.Sum(nil))
	return et, f.Close()
}

// platCounter counts the bytes written through it.
type platCounter struct {
	w io.Writer
	n int64
}

func (c *platCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeBundle writes the snapshot as a tar.gz to w: manifest.json first (so a reader knows what
// follows before reading it), then tables/, then files/. Attachments are hashed once to fill
// the manifest and again while copied; a file that changed in between fails the export rather
// than producing a bundle whose manifest lies.
func (s *platSnap) writeBundle(w io.Writer, storageDir string) (*ExportResult, error) {
	m := ExportManifest{Format: ExportFormat, FormatVersion: ExportFormatVersion, CreatedAt: s.created,
		Tenant:   ExportSubject{ID: s.tenant.ID, Slug: s.tenant.Slug, Name: s.tenant.Name, Status: s.tenant.Status},
		Snapshot: "one REPEATABLE READ transaction", Tables: s.tables, Files: []ExportFile{}}
	paths := make([]string, len(s.attachments))
	for i, a := range s.attachments {
		f := ExportFile{AttachmentID: a.ID, Key: a.Key}
		path, err := AttachmentPath(storageDir, s.tenant.ID, a.Key)
		if err != nil {
			f.Missing, f.Reason = true, "the storage key does not name a file of this tenant"
			m.Files = append(m.Files, f)
			continue
		}
		size, sum, err := platHashFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			f.Missing, f.Reason = true, "no file at the storage key"
		case err != nil:
			return nil, fmt.Errorf("export attachment %s: %w", a.ID, err)
		default:
			f.File, f.Size, f.SHA256 = "files/"+a.Key, size, sum
			paths[i] = path
		}
		m.Files = append(m.Files, f)
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	out := &platCounter{w: io.MultiWriter(w, h)}
	gz := gzip.NewWriter(out)
	tw := tar.NewWriter(gz)
	entry := func(name string, size int64) error {
		return tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: s.created, Typeflag: tar.TypeReg, Format: tar.FormatPAX})
	}
	if err := entry("manifest.json", int64(len(manifest))); err != nil {
		return nil, err
	}
	if _, err := tw.Write(manifest); err != nil {
		return nil, err
	}
	for i, t := range s.tables {
		if err := platCopyInto(tw, entry, t.File, filepath.Join(s.dir, fmt.Sprintf("%03d.jsonl", i)), t.Bytes, t.SHA256); err != nil {
			return nil, err
		}
	}
	for i, f := range m.Files {
		if f.Missing {
			continue
		}
		if err := platCopyInto(tw, entry, f.File, paths[i], f.Size, f.SHA256); err != nil {
			return nil, fmt.Errorf("export attachment %s: %w", f.AttachmentID, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return &ExportResult{Manifest: m, Size: out.n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// platCopyInto adds the file at path as entry name, checking that it still has the size and
// SHA-256 the manifest records.
func platCopyInto(tw *tar.Writer, entry func(string, int64) error, name, path string, size int64, sum string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := entry(name, size); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tw, h), io.LimitReader(f, size))
	if err != nil {
		return err
	}
	if n != size || hex.EncodeToString(h.Sum(nil)) != sum {
		return fmt.Errorf("%s changed while it was being exported", name)
	}
	return nil
}

// platHashFile returns the size and SHA-256 of the regular file at path.
func platHashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, "", err
	}
	if !st.Mode().IsRegular() {
		return 0, "", fmt.Errorf("%s is not a regular file: %w", path, fs.ErrNotExist)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
