package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrOffboarding is returned for a change to a tenant that is being offboarded: from the moment
// offboarding starts the tenant can only be exported or finish offboarding.
var ErrOffboarding = errors.New("the tenant is being offboarded")

// ListTenants lists every tenant, newest first (keyset on id).
func (p *Platform) ListTenants(ctx context.Context, pg Page) ([]Tenant, error) {
	rows, err := p.s.pool.Query(ctx, `SELECT `+tenantColumns+` FROM tenants
		WHERE ($1::uuid IS NULL OR id < $1) ORDER BY id DESC LIMIT $2`, pg.Before, pg.limitPlusOne())
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Tenant, error) { return scanTenant(r) })
	return out, translate(err)
}

// TenantBySlug finds a tenant by its slug (the platform API's and the CLI's name for it).
func (p *Platform) TenantBySlug(ctx context.Context, slug string) (Tenant, error) {
	return scanTenant(p.s.pool.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE slug = $1`, slug))
}

// TenantChange is a change to a tenant's names; nil fields stay as they are.
type TenantChange struct {
	Slug                  *string
	Name                  *string
	PrimaryDomain         *string
	ClearPrimaryDomain    bool
	AllowSelfRegistration *bool
}

// UpdateTenant applies a change to tenant id. A slug or domain another tenant holds is a
// *ConflictError; a tenant being offboarded cannot be changed (ErrOffboarding).
func (p *Platform) UpdateTenant(ctx context.Context, id uuid.UUID, c TenantChange) (Tenant, error) {
	var out Tenant
	err := p.inTenant(ctx, id, func(sc *Scope, before Tenant) error {
		if before.Status == "offboarding" {
			return ErrOffboarding
		}
		domain := before.PrimaryDomain
		if c.ClearPrimaryDomain {
			domain = nil
		} else if c.PrimaryDomain != nil {
			domain = c.PrimaryDomain
		}
		var err error
		out, err = scanTenant(sc.conn.QueryRow(ctx, `UPDATE tenants SET slug = coalesce($2, slug), name = coalesce($3, name),
			primary_domain = $4, allow_self_registration = coalesce($5, allow_self_registration), updated_at = now()
			WHERE id = $1 RETURNING `+tenantColumns, id, c.Slug, c.Name, domain, c.AllowSelfRegistration))
		if err != nil {
			return err
		}
		detail := map[string]any{}
		if before.Slug != out.Slug {
			detail["slug"] = map[string]string{"from": before.Slug, "to": out.Slug}
		}
		if before.Name != out.Name {
			detail["name"] = map[string]string{"from": before.Name, "to": out.Name}
		}
		if platDeref(before.PrimaryDomain) != platDeref(out.PrimaryDomain) {
			detail["primary_domain"] = map[string]any{"from": before.PrimaryDomain, "to": out.PrimaryDomain}
		}
		if before.AllowSelfRegistration != out.AllowSelfRegistration {
			detail["allow_self_registration"] = out.AllowSelfRegistration
		}
		if len(detail) == 0 {
			return nil
		}
		return p.event(ctx, sc, "tenant.update", detail)
	})
	return out, err
}

func platDeref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// SetTenantStatus suspends ("suspended") or resumes ("active") tenant id. Asking for the
// status a tenant already has changes nothing and records nothing; a tenant being offboarded
// can be neither suspended nor resumed (ErrOffboarding).
func (p *Platform) SetTenantStatus(ctx context.Context, id uuid.UUID, status string) (Tenant, error) {
	if status != "active" && status != "suspended" {
		return Tenant{}, fmt.Errorf("store: status %q cannot be set directly", status)
	}
	var out Tenant
	err := p.inTenant(ctx, id, func(sc *Scope, before Tenant) error {
		if before.Status == "offboarding" {
			return ErrOffboarding
		}
		if before.Status == status {
			out = before
			return nil
		}
		var err error
		out, err = scanTenant(sc.conn.QueryRow(ctx, `UPDATE tenants SET status = $2, updated_at = now() WHERE id = $1 RETURNING `+tenantColumns, id, status))
		if err != nil {
			return err
		}
		action := map[string]string{"active": "tenant.resume", "suspended": "tenant.suspend"}[status]
		return p.event(ctx, sc, action, map[string]any{"from": before.Status, "to": status})
	})
	return out, err
}

// inTenant runs fn in a write transaction in tenant id's scope, with the tenant's row locked
// (so that concurrent lifecycle changes of one tenant apply one after the other).
func (p *Platform) inTenant(ctx context.Context, id uuid.UUID, fn func(sc *Scope, before Tenant) error) error {
	sc := p.s.TrustedScope(id, false)
	if err := sc.Begin(ctx); err != nil {
		return err
	}
	err := func() error {
		before, err := scanTenant(sc.conn.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		return fn(sc, before)
	}()
	return errors.Join(err, sc.End(context.WithoutCancel(ctx), err == nil))
}

// TenantRowCounts counts tenant id's rows in every tenant-owned table of the catalog, in one
// read-only transaction of the tenant's scope.
func (p *Platform) TenantRowCounts(ctx context.Context, id uuid.UUID) (map[string]int64, error) {
	tables, err := platTenantTables(ctx, p.s.pool)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(tables))
	if len(tables) == 0 {
		return out, nil
	}
	var q strings.Builder
	for i, t := range tables {
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		name, _ := t.sql()
		fmt.Fprintf(&q, "SELECT %d, count(*) FROM %s WHERE tenant_id = $1", i, name)
	}
	rows, err := p.s.TrustedScope(id, true).query(ctx, q.String(), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var i int
		var n int64
		if err := rows.Scan(&i, &n); err != nil {
			return nil, translate(err)
		}
		out[tables[i].Name] = n
	}
	return out, translate(rows.Err())
}

// DeletionCertificate is the record of an offboarding: what was removed, when, and the
// checksum of the export bundle written just before. Row counts are taken in the deleting
// transaction itself, from the same snapshot the bundle was read from, so the bundle holds
// exactly the rows the certificate says were removed.
type DeletionCertificate struct {
	TenantID  uuid.UUID `json:"tenant_id"`
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	DeletedAt time.Time `json:"deleted_at"`
	Actor     string    `json:"actor"`
	// Tables counts the rows removed per table: every tenant-owned table, the tenant's own row
	// ("tenants") and rows of global tables that referred to the tenant (sessions, say).
	Tables map[string]int64 `json:"tables"`
	// UsersRemoved counts users who had no membership left in any tenant: they were removed
	// with all their sessions (also counted in Tables).
	UsersRemoved int64 `json:"users_removed"`
	FilesRemoved int64 `json:"files_removed"`
	BytesRemoved int64 `json:"bytes_removed"`
	// EarlierBundlesRemoved counts export bundles of the tenant made before its offboarding
	// (StorageDir/exports/<tenant id>-*.tar.gz): copies of its data, removed like its files.
	// The offboarding's own bundle (Bundle) is kept for the tenant.
	EarlierBundlesRemoved int64        `json:"earlier_bundles_removed"`
	FileErrors            []string     `json:"file_errors,omitempty"`
	Bundle                BundleRecord `json:"bundle"`
}

// BundleRecord locates an export bundle and says how to check it.
type BundleRecord struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// OffboardTenant removes tenant id for good:
//
//  1. its status becomes offboarding, so no credential works for it from then on;
//  2. in one REPEATABLE READ transaction of its scope, every row is read into the export
//     bundle (written to bundlePath), counted, and deleted (the tenant's row, whose deletion
//     cascades through every tenant-owned table), together with the users left without any
//     membership and their sessions. A write that slipped in after the snapshot makes the
//     deletion fail with a serialization error, and the whole step is retried, so the bundle
//     and the certificate always describe exactly what was deleted;
//  3. the tenant's stored files under storageDir/<tenant id>/ are removed;
//  4. the deletion certificate is recorded in the platform log and returned.
//
// Other tenants are not touched and keep working throughout. Running it again after an
// interruption before step 2 committed finishes the job.
func (p *Platform) OffboardTenant(ctx context.Context, id uuid.UUID, storageDir, bundlePath string) (*DeletionCertificate, error) {
	if bundlePath == "" {
		return nil, errors.New("store: offboarding needs a path for the export bundle")
	}
	err := p.inTenant(ctx, id, func(sc *Scope, before Tenant) error {
		if before.Status == "offboarding" {
			return nil
		}
		if _, err := sc.exec(ctx, `UPDATE tenants SET status = 'offboarding', updated_at = now() WHERE id = $1`, id); err != nil {
			return err
		}
		return p.event(ctx, sc, "tenant.offboard.start", map[string]any{"from": before.Status})
	})
	if errors.Is(err, ErrNotFound) {
		return p.FinishInterruptedOffboarding(ctx, id, "", storageDir)
	}
	if err != nil {
		return nil, err
	}
	var cert *DeletionCertificate
	for attempt := 1; ; attempt++ {
		cert, err = p.offboardRows(ctx, id, storageDir, bundlePath)
		var pgErr *pgconn.PgError
		if err != nil && errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01") && attempt < 5 {
			continue
		}
		if err != nil {
			return nil, err
		}
		break
	}
	return p.offboardFiles(ctx, cert, storageDir)
}

// offboardFiles is steps 3 and 4 of OffboardTenant, once the tenant's rows are gone: remove
// its stored files and record the deletion certificate.
func (p *Platform) offboardFiles(ctx context.Context, cert *DeletionCertificate, storageDir string) (*DeletionCertificate, error) {
	if storageDir != "" {
		cert.FilesRemoved, cert.BytesRemoved, cert.FileErrors = platRemoveFiles(filepath.Join(storageDir, cert.TenantID.String()))
		var problems []string
		cert.EarlierBundlesRemoved, problems = platRemoveEarlierBundles(storageDir, cert.TenantID, cert.Bundle.Path)
		cert.FileErrors = append(cert.FileErrors, problems...)
	}
	if err := p.s.RecordPlatformEvent(context.WithoutCancel(ctx), cert.TenantID, "tenant.offboard", p.actor, platCertDetail(cert)); err != nil {
		return cert, fmt.Errorf("record deletion certificate: %w", err)
	}
	if len(cert.FileErrors) > 0 {
		return cert, fmt.Errorf("offboarding %s: %d stored file(s) could not be removed", cert.Slug, len(cert.FileErrors))
	}
	return cert, nil
}

// FinishInterruptedOffboarding finishes an offboarding that stopped after its rows were deleted
// but before the tenant's stored files were removed and the certificate recorded (the process
// died in between): the rows' deletion recorded the certificate so far in the platform log,
// and it is finished from there. The tenant is named by its former id, or (id uuid.Nil) by its
// former slug. With no such offboarding pending it returns ErrNotFound.
func (p *Platform) FinishInterruptedOffboarding(ctx context.Context, id uuid.UUID, slug, storageDir string) (*DeletionCertificate, error) {
	var tenant *uuid.UUID
	if id != uuid.Nil {
		tenant = &id
	}
	var raw []byte
	err := p.s.pool.QueryRow(ctx, `SELECT r.detail->'certificate' FROM platform_events r
		WHERE r.kind = 'tenant.offboard.rows'
		  AND ($1::uuid IS NULL OR r.subject_tenant_id = $1)
		  AND ($2 = '' OR r.detail->'certificate'->>'slug' = $2)
		  AND NOT EXISTS (SELECT 1 FROM platform_events f WHERE f.kind = 'tenant.offboard'
		                  AND f.subject_tenant_id = r.subject_tenant_id AND f.created_at >= r.created_at)
		ORDER BY r.created_at DESC LIMIT 1`, tenant, slug).Scan(&raw)
	if err != nil {
		return nil, translate(err)
	}
	var cert DeletionCertificate
	if err := json.Unmarshal(raw, &cert); err != nil {
		return nil, fmt.Errorf("interrupted offboarding: read its certificate: %w", err)
	}
	if cert.TenantID == uuid.Nil {
		return nil, errors.New("interrupted offboarding: its certificate names no tenant")
	}
	return p.offboardFiles(ctx, &cert, storageDir)
}

// platCertDetail is a certificate as an event's detail.
func platCertDetail(c *DeletionCertificate) map[string]any {
	return map[string]any{"certificate": c}
}

// offboardRows is step 2 of OffboardTenant: one attempt at export, count and delete.
func (p *Platform) offboardRows(ctx context.Context, id uuid.UUID, storageDir, bundlePath string) (_ *DeletionCertificate, err error) {
	tx, err := platBegin(ctx, p.s, id, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadWrite})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	snap, err := platSnapshot(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	defer snap.remove()
	bundle, tmp, err := platWriteBundleFile(snap, storageDir, bundlePath)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp) // a no-op once it has been moved into place
	cert := &DeletionCertificate{TenantID: id, Slug: snap.tenant.Slug, Name: snap.tenant.Name, Actor: p.actor,
		Tables: map[string]int64{"tenants": 1}, Bundle: bundle}
	for t, n := range snap.counts {
		cert.Tables[t] = n
	}
	// Global tables that point at the tenant and go with it (sessions, payment routes).
	refs, err := platTenantRefs(ctx, tx)
	if err != nil {
		return nil, err
	}
	for _, r := range refs {
		var n int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{"public", r.table}.Sanitize()+
			` WHERE `+pgx.Identifier{r.column}.Sanitize()+` = $1`, id).Scan(&n); err != nil {
			return nil, translate(err)
		}
		cert.Tables[r.table] += n
	}
	rows, err := tx.Query(ctx, `SELECT id FROM users WHERE default_tenant_id = $1
		UNION SELECT user_id FROM memberships WHERE tenant_id = $1`, id)
	if err != nil {
		return nil, translate(err)
	}
	candidates, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, translate(err)
	}
	if tag, err := tx.Exec(ctx, `DELETE FROM tenants WHERE id = $1`, id); err != nil {
		return nil, translate(err)
	} else if tag.RowsAffected() != 1 {
		return nil, ErrNotFound
	}
	if err := platCheckGone(ctx, tx, id, refs); err != nil {
		return nil, err
	}
	if err := p.removeOrphans(ctx, tx, candidates, cert); err != nil {
		return nil, err
	}
	if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&cert.DeletedAt); err != nil {
		return nil, translate(err)
	}
	cert.DeletedAt = cert.DeletedAt.UTC()
	if _, err := tx.Exec(ctx, `INSERT INTO platform_events (id, subject_tenant_id, kind, actor, detail) VALUES ($1, $2, $3, $4, $5)`,
		NewID(), id, "tenant.offboard.rows", p.actor, platCertDetail(cert)); err != nil {
		return nil, translate(err)
	}
	// The bundle takes its final name only now, so that bundlePath never holds the export of
	// an attempt that did not delete anything.
	if err := os.Rename(tmp, bundle.Path); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		_ = os.Remove(bundle.Path)
		return nil, translate(err)
	}
	return cert, nil
}

// platWriteBundleFile writes the snapshot's bundle to a temporary file in the directory of
// path (on the same file system, so that it can be renamed into place) and returns the record
// the certificate will carry and the temporary file's name.
func platWriteBundleFile(snap *platSnap, storageDir, path string) (BundleRecord, string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return BundleRecord{}, "", err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return BundleRecord{}, "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(abs), ".partial-*.tar.gz")
	if err != nil {
		return BundleRecord{}, "", err
	}
	res, err := snap.writeBundle(tmp, storageDir)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return BundleRecord{}, "", err
	}
	return BundleRecord{Path: abs, Size: res.Size, SHA256: res.SHA256}, tmp.Name(), nil
}

// platRef is a single-column reference from a global table (no tenant_id) to tenants that
// deletes its rows with the tenant.
type platRef struct{ table, column string }

func platTenantRefs(ctx context.Context, tx pgx.Tx) ([]platRef, error) {
	rows, err := tx.Query(ctx, `
SELECT c.relname, a.attname
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
WHERE k.contype = 'f' AND k.confrelid = 'public.tenants'::regclass AND k.confdeltype = 'c'
  AND cardinality(k.conkey) = 1 AND n.nspname = 'public' AND a.attname <> 'tenant_id'
  AND NOT EXISTS (SELECT 1 FROM pg_attribute t WHERE t.attrelid = c.oid AND t.attname = 'tenant_id' AND NOT t.attisdropped)
ORDER BY 1, 2`)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (platRef, error) {
		var x platRef
		err := r.Scan(&x.table, &x.column)
		return x, err
	})
	return out, translate(err)
}

// platCheckGone proves, inside the deleting transaction, that no row of the tenant is left in
// any tenant-owned table or referring global table: a table whose rows do not cascade with the
// tenant would otherwise keep them silently.
func platCheckGone(ctx context.Context, tx pgx.Tx, id uuid.UUID, refs []platRef) error {
	tables, err := platTenantTables(ctx, tx)
	if err != nil {
		return err
	}
	var q strings.Builder
	q.WriteString("SELECT ''::text, 0::bigint WHERE false")
	for _, t := range tables {
		name, _ := t.sql()
		fmt.Fprintf(&q, " UNION ALL SELECT %s, count(*) FROM %s WHERE tenant_id = $1", platQuote(t.Name), name)
	}
	for _, r := range refs {
		fmt.Fprintf(&q, " UNION ALL SELECT %s, count(*) FROM %s WHERE %s = $1", platQuote(r.table),
			pgx.Identifier{"public", r.table}.Sanitize(), pgx.Identifier{r.column}.Sanitize())
	}
	rows, err := tx.Query(ctx, q.String(), id)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var table string
		var n int64
		if err := rows.Scan(&table, &n); err != nil {
			return translate(err)
		}
		if n != 0 {
			return fmt.Errorf("offboarding: %d row(s) of table %s did not go with the tenant", n, table)
		}
	}
	return translate(rows.Err())
}

// platQuote makes a SQL string literal of a catalog name.
func platQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// removeOrphans deletes the candidates (former members of the tenant, or users whose default
// tenant it was) who are left without any membership, and their sessions. Memberships in other
// tenants are visible only to their own user (the member_self_read policy), so each candidate
// is looked up, and deleted, as that user.
func (p *Platform) removeOrphans(ctx context.Context, tx pgx.Tx, candidates []uuid.UUID, cert *DeletionCertificate) error {
	if len(candidates) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, u := range candidates {
		b.Queue(`SELECT set_config('app.user_id', $1, true)`, u.String())
		b.Queue(`SELECT EXISTS (SELECT 1 FROM memberships WHERE user_id = $1)`, u)
	}
	b.Queue(`SELECT set_config('app.user_id', '', true)`)
	br := tx.SendBatch(ctx, b)
	var orphans []uuid.UUID
	for _, u := range candidates {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return translate(err)
		}
		var member bool
		if err := br.QueryRow().Scan(&member); err != nil {
			br.Close()
			return translate(err)
		}
		if !member {
			orphans = append(orphans, u)
		}
	}
	if _, err := br.Exec(); err != nil {
		br.Close()
		return translate(err)
	}
	if err := br.Close(); err != nil {
		return translate(err)
	}
	if len(orphans) == 0 {
		return nil
	}
	// A user row is deleted as that user (the users_delete_self policy), which takes their
	// sessions with it; a user still a member anywhere would be refused by the foreign key.
	d := &pgx.Batch{}
	for _, u := range orphans {
		d.Queue(`SELECT set_config('app.user_id', $1, true)`, u.String())
		d.Queue(`SELECT count(*) FROM sessions WHERE user_id = $1`, u)
		d.Queue(`DELETE FROM users WHERE id = $1`, u)
	}
	d.Queue(`SELECT set_config('app.user_id', '', true)`)
	dr := tx.SendBatch(ctx, d)
	defer dr.Close()
	for range orphans {
		if _, err := dr.Exec(); err != nil {
			return translate(err)
		}
		var sessions int64
		if err := dr.QueryRow().Scan(&sessions); err != nil {
			return translate(err)
		}
		tag, err := dr.Exec()
		if err != nil {
			return translate(err)
		}
		if tag.RowsAffected() == 1 {
			cert.Tables["sessions"] += sessions
			cert.UsersRemoved++
		}
	}
	cert.Tables["users"] = cert.UsersRemoved
	if _, err := dr.Exec(); err != nil {
		return translate(err)
	}
	return translate(dr.Close())
}

// platRemoveEarlierBundles removes the tenant's export bundles under storageDir/exports other
// than keep (the offboarding's own bundle) and counts them.
func platRemoveEarlierBundles(storageDir string, tenant uuid.UUID, keep string) (removed int64, problems []string) {
	matches, err := filepath.Glob(filepath.Join(storageDir, "exports", tenant.String()+"-*"))
	if err != nil {
		return 0, []string{err.Error()}
	}
	kept, _ := filepath.Abs(keep)
	for _, path := range matches {
		if abs, err := filepath.Abs(path); err == nil && keep != "" && abs == kept {
			continue
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			problems = append(problems, err.Error())
			continue
		}
		removed++
	}
	return removed, problems
}

// platRemoveFiles removes the directory of a tenant's stored files and reports how many files
// and bytes it held, and what could not be removed.
func platRemoveFiles(dir string) (files, bytes int64, problems []string) {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				problems = append(problems, err.Error())
			}
			return nil
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				files++
				bytes += info.Size()
			}
		}
		return nil
	})
	if err != nil {
		problems = append(problems, err.Error())
	}
	if err := os.RemoveAll(dir); err != nil {
		problems = append(problems, err.Error())
	}
	return files, bytes, problems
}
