package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"tenantd/internal/auth"
)

// Claim is what the edge has checked cryptographically (a tenant_sig HMAC, or the shape of an
// API token) but the database has not yet confirmed: that the session or token is live, that
// the user is an active member of the tenant, that the tenant is active and that the host
// names the same tenant.
type Claim struct {
	TenantID    uuid.UUID
	UserID      uuid.UUID // session claims only
	SessionID   uuid.UUID // session claims only
	SessionHash []byte    // hash of the session cookie's token
	TokenHash   []byte    // hash of a bearer API token (instead of a session)
	HostSlug    string    // the host's <slug>.BASE_DOMAIN label, or ""
	HostDomain  string    // the host itself when it may be a primary domain, or ""
}

// Access is a verified claim: the tenant, the user and the role of their membership there.
type Access struct {
	TenantID     uuid.UUID
	TenantSlug   string
	TenantName   string
	TenantStatus string
	UserID       uuid.UUID
	Role         string
	SessionID    uuid.UUID // zero for API tokens
	TokenID      uuid.UUID // zero for sessions
	// RequestsPerMinute is the tenant's configured request rate (its thresholds row).
	RequestsPerMinute int
	// TenantKey and UserKey are the ids as text, made once per verification (logs, headers
	// and rate-limit keys need them on every request).
	TenantKey string
	UserKey   string
}

// Denial says why a claim was refused.
type Denial int

// The reasons, in the order they are checked.
const (
	DenyUnauthenticated Denial = iota + 1 // session or token missing, revoked or expired
	DenySignature                         // tenant_sig names another user, session or tenant
	DenyHostUnknown                       // the host names no tenant
	DenyHostMismatch                      // the host names another tenant
	DenySuspended                         // the tenant is suspended or being offboarded
	DenyNotMember                         // no active membership in the tenant
	DenyForbidden                         // the role lacks the route's permission
)

// DenialError is returned by any scope operation whose claim the database refused. Tenant and
// User are what the claim named (verified as far as the reason allows), for the security log.
type DenialError struct {
	Reason Denial
	Tenant uuid.UUID
	User   uuid.UUID
	// Verified: the caller's credential verified (the refusal is of what it asked, not of who
	// it is), so User is the caller, whose answer names them like any authenticated answer.
	Verified bool
}

// VerifiedError is a refusal, by a scope's authorize function, of a caller whose credential
// verified (a tenant over its rate, say): it names the caller, like any authenticated answer.
type VerifiedError struct {
	Err  error
	User uuid.UUID
}

func (e *VerifiedError) Error() string { return e.Err.Error() }

// Unwrap gives the refusal itself.
func (e *VerifiedError) Unwrap() error { return e.Err }

func (e *DenialError) Error() string { return fmt.Sprintf("access denied (%d)", e.Reason) }

// Deny returns a DenialError.
func Deny(r Denial) error { return &DenialError{Reason: r} }

// Scope is one request's (or one job's) access to one tenant's data. Every query it runs is
// preceded, in the same transaction, by set_config('app.tenant_id', tenant, true), so the
// setting dies with the transaction and a pooled connection never carries it; and every query
// also filters on tenant_id itself.
//
// A read scope verifies its claim lazily: the first query is sent in one pipeline together
// with the tenant setting and the verification query, and its rows are only handed out once the
// verification passed. A write scope verifies eagerly in Begin, before the handler can change
// anything, and holds one transaction until End.
type Scope struct {
	store     *Store
	claim     Claim
	authorize func(*Access) error
	readOnly  bool

	access *Access
	denied error

	conn  *pgxpool.Conn // write scopes, between Begin and End
	began time.Time
	onEnd []func(committed bool)
}

// AfterEnd registers f to run when the write transaction ends, with whether it committed.
// Work outside the database that belongs to the transaction (a file written for a new row)
// uses it to undo itself when the row never became visible.
func (sc *Scope) AfterEnd(f func(committed bool)) { sc.onEnd = append(sc.onEnd, f) }

func (sc *Scope) ended(committed bool) {
	hooks := sc.onEnd
	sc.onEnd = nil
	for _, f := range hooks {
		f(committed)
	}
}

// ScopeObserver is told how long each read pipeline and each write transaction took.
type ScopeObserver func(kind string, d time.Duration)

// SetObserver installs o (for metrics); call it before serving.
func (s *Store) SetObserver(o ScopeObserver) { s.observe = o }

func (s *Store) observed(kind string, start time.Time) {
	if s.observe != nil {
		s.observe(kind, time.Since(start))
	}
}

// RequestScope returns a scope for a claimed tenant. authorize, if not nil, is called with the
// verified access and may refuse it (the route's permission check).
func (s *Store) RequestScope(c Claim, readOnly bool, authorize func(*Access) error) *Scope {
	return &Scope{store: s, claim: c, readOnly: readOnly, authorize: authorize}
}

// HostScope returns a scope for a tenant named by the request host on a public route; there
// is no caller to verify. The caller must have checked that the tenant is active.
func (s *Store) HostScope(t Tenant, readOnly bool) *Scope {
	return &Scope{store: s, readOnly: readOnly, claim: Claim{TenantID: t.ID},
		access: &Access{TenantID: t.ID, TenantSlug: t.Slug, TenantName: t.Name, TenantStatus: t.Status}}
}

// TenantID is the scope's tenant. Results are only ever returned after it was verified.
func (sc *Scope) TenantID() uuid.UUID { return sc.claim.TenantID }

// ReadOnly reports whether the scope refuses writes.
func (sc *Scope) ReadOnly() bool { return sc.readOnly }

// Verified returns the verified access, or nil while the claim has not been checked yet.
func (sc *Scope) Verified() *Access { return sc.access }

// Verify checks the claim now (one round trip) unless it already was.
func (sc *Scope) Verify(ctx context.Context) (*Access, error) {
	if sc.access != nil || sc.denied != nil {
		return sc.access, sc.denied
	}
	if sc.conn != nil {
		return nil, errors.New("store: write scope not verified")
	}
	cached, hit := sc.store.auth.get(keyOf(sc.claim), time.Now())
	b := &pgx.Batch{}
	sc.queueSetup(b, hit)
	if !hit {
		sc.queueVerify(b)
	}
	br := sc.store.pool.SendBatch(ctx, b)
	defer br.Close()
	st, err := readSetup(br, hit)
	if err != nil {
		return nil, err
	}
	if hit {
		a, ok, err := sc.fromCache(cached, st)
		if ok || err != nil {
			return a, err
		}
		br.Close()
		sc.store.auth.drop(keyOf(sc.claim))
		return sc.Verify(ctx)
	}
	return sc.readVerify(br, st)
}

// setupSQL binds the tenant to the transaction and, in the same statement, reads the tenant's
// status and authorization generation: all a previously verified claim needs to be trusted
// again. It does not set app.user_id: inside a tenant scope a user sees memberships of that
// tenant only, never their own memberships elsewhere.
//
// It is one primary-key lookup with the settings in its target list, the cheapest statement
// that can carry them. When the tenant does not exist it returns no row and sets nothing, so
// what follows in the transaction sees no tenant at all (zero rows, failing writes) and the
// claim is refused.
const setupSQL = `SELECT set_config('app.tenant_id', $1::uuid::text, true), set_config('transaction_read_only', $2, true), status, auth_gen
FROM tenants WHERE id = $1`

// bindSQL only binds the tenant: for a scope whose access is already established (verified
// earlier in the request, trusted platform work) or about to be verified by the verification
// query, which reads the generation itself.
const bindSQL = `SELECT set_config('app.tenant_id', $1::uuid::text, true), set_config('transaction_read_only', $2, true)`

// queueSetup queues the statement that binds the scope's tenant; with check it also reads what
// a remembered verification needs (setupSQL), else it only binds (bindSQL).
func (sc *Scope) queueSetup(b *pgx.Batch, check bool) {
	ro := "off"
	if sc.readOnly {
		ro = "on"
	}
	if check {
		b.Queue(setupSQL, sc.claim.TenantID, ro)
	} else {
		b.Queue(bindSQL, sc.claim.TenantID, ro)
	}
}

// setupResult is what the setup statement says about the tenant right now.
type setupResult struct {
	status *string
	gen    *int64
}

// readSetup reads the result of queueSetup's statement.
func readSetup(br pgx.BatchResults, check bool) (setupResult, error) {
	var st setupResult
	if !check {
		_, err := br.Exec()
		return st, translate(err)
	}
	var tenant, readOnly string
	var status string
	var gen int64
	switch err := br.QueryRow().Scan(&tenant, &readOnly, &status, &gen); {
	case errors.Is(err, pgx.ErrNoRows):
		return st, nil
	case err != nil:
		return st, translate(err)
	}
	st.status, st.gen = &status, &gen
	return st, nil
}

// fromCache trusts a claim verified before if the tenant's authorization generation is still
// the one it was verified at and the tenant is active. ok false means "verify afresh".
func (sc *Scope) fromCache(e authEntry, st setupResult) (*Access, bool, error) {
	if st.gen == nil || *st.gen != e.gen || st.status == nil || *st.status != "active" {
		return nil, false, nil
	}
	a := e.access
	if sc.authorize != nil {
		if err := sc.authorize(&a); err != nil {
			var de *DenialError
			if errors.As(err, &de) {
				de.Tenant, de.User, de.Verified = a.TenantID, a.UserID, true
			} else {
				err = &VerifiedError{Err: err, User: a.UserID}
			}
			sc.denied = err
			return nil, true, err
		}
	}
	sc.access = &a
	return &a, true, nil
}

// The verification queries return exactly one row whatever exists, so that every outcome is
// told apart in Go and none of them needs a second round trip. They read the tenant's
// authorization generation in the same snapshot as what they verify.
const verifySessionSQL = `
SELECT s.id, s.user_id, s.active_tenant_id, (s.revoked_at IS NULL AND s.expires_at > now()), s.expires_at,
       t.slug, t.name, t.status, t.auth_gen, m.role, m.status, ht.id, th.requests_per_minute
FROM (SELECT 1) AS one
LEFT JOIN sessions s ON s.token_hash = $1
LEFT JOIN tenants t ON t.id = $2
LEFT JOIN memberships m ON m.tenant_id = $2 AND m.user_id = $3
LEFT JOIN thresholds th ON th.tenant_id = $2
LEFT JOIN LATERAL (
  SELECT id FROM tenants WHERE $4 <> '' AND slug = $4
  UNION ALL SELECT id FROM tenants WHERE $5 <> '' AND primary_domain = $5
  LIMIT 1) ht ON true`

const verifyTokenSQL = `
SELECT k.id, k.user_id, k.role, (k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())), k.expires_at,
       t.slug, t.name, t.status, t.auth_gen, m.role, m.status, ht.id, th.requests_per_minute
FROM (SELECT 1) AS one
LEFT JOIN api_tokens k ON k.tenant_id = $2 AND k.token_hash = $1
LEFT JOIN tenants t ON t.id = $2
LEFT JOIN memberships m ON m.tenant_id = $2 AND m.user_id = k.user_id
LEFT JOIN thresholds th ON th.tenant_id = $2
LEFT JOIN LATERAL (
  SELECT id FROM tenants WHERE $3 <> '' AND slug = $3
  UNION ALL SELECT id FROM tenants WHERE $4 <> '' AND primary_domain = $4
  LIMIT 1) ht ON true`

func (sc *Scope) queueVerify(b *pgx.Batch) {
	c := sc.claim
	if c.TokenHash != nil {
		b.Queue(verifyTokenSQL, c.TokenHash, c.TenantID, c.HostSlug, c.HostDomain)
	} else {
		b.Queue(verifySessionSQL, c.SessionHash, c.TenantID, c.UserID, c.HostSlug, c.HostDomain)
	}
}

// credentialNeverExpires stands in for a token without expiry in the cache.
var credentialNeverExpires = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

func (sc *Scope) readVerify(br pgx.BatchResults, _ setupResult) (*Access, error) {
	var (
		credID, credUser, sessTenant, hostTenant   *uuid.UUID
		live                                       *bool
		credExpires                                *time.Time
		slug, name, tstatus, mrole, mstatus, krole *string
		gen                                        *int64
		rpm                                        *int32
	)
	c := sc.claim
	var err error
	if c.TokenHash != nil {
		err = br.QueryRow().Scan(&credID, &credUser, &krole, &live, &credExpires, &slug, &name, &tstatus, &gen, &mrole, &mstatus, &hostTenant, &rpm)
	} else {
		err = br.QueryRow().Scan(&credID, &credUser, &sessTenant, &live, &credExpires, &slug, &name, &tstatus, &gen, &mrole, &mstatus, &hostTenant, &rpm)
	}
	if err != nil {
		return nil, fmt.Errorf("verify claim: %w", translate(err))
	}
	deny := func(r Denial) (*Access, error) {
		sc.denied = &DenialError{Reason: r, Tenant: c.TenantID, User: c.UserID}
		return nil, sc.denied
	}
	// denyVerified refuses a caller whose credential did verify: the refusal names its user. An
	// API token counts as verified only once it could act (its creator's role still covers it,
	// decided below), so a token that is dead for that reason names nobody, on any host.
	denyVerified := func(r Denial) (*Access, error) {
		if c.TokenHash != nil {
			return deny(r)
		}
		sc.denied = &DenialError{Reason: r, Tenant: c.TenantID, User: *credUser, Verified: true}
		return nil, sc.denied
	}
	if credID == nil || live == nil || !*live {
		return deny(DenyUnauthenticated)
	}
	if c.TokenHash == nil && (*credID != c.SessionID || *credUser != c.UserID || sessTenant == nil || *sessTenant != c.TenantID) {
		return deny(DenySignature)
	}
	if slug == nil {
		// The tenant named by a valid signature no longer exists.
		return deny(DenyUnauthenticated)
	}
	if c.HostSlug != "" || c.HostDomain != "" {
		if hostTenant == nil {
			return denyVerified(DenyHostUnknown)
		}
		if *hostTenant != c.TenantID {
			return denyVerified(DenyHostMismatch)
		}
	}
	if *tstatus != "active" {
		return denyVerified(DenySuspended)
	}
	if mrole == nil || *mstatus != "active" {
		return denyVerified(DenyNotMember)
	}
	a := &Access{TenantID: c.TenantID, TenantSlug: *slug, TenantName: *name, TenantStatus: *tstatus,
		UserID: *credUser, Role: *mrole}
	if rpm != nil {
		a.RequestsPerMinute = int(*rpm)
	}
	a.TenantKey, a.UserKey = a.TenantID.String(), a.UserID.String()
	if c.TokenHash != nil {
		a.TokenID = *credID
		role, ok := tokenRole(*krole, *mrole)
		if !ok {
			return deny(DenyUnauthenticated)
		}
		a.Role = role
	} else {
		a.SessionID = *credID
	}
	if gen != nil {
		exp := credentialNeverExpires
		if credExpires != nil {
			exp = *credExpires
		}
		sc.store.auth.put(keyOf(c), authEntry{access: *a, gen: *gen, expiresAt: exp, cachedAt: time.Now()})
	}
	if sc.authorize != nil {
		if err := sc.authorize(a); err != nil {
			var de *DenialError
			if errors.As(err, &de) {
				de.Tenant, de.User, de.Verified = a.TenantID, a.UserID, true
			} else {
				err = &VerifiedError{Err: err, User: a.UserID}
			}
			sc.denied = err
			return nil, err
		}
	}
	sc.access = a
	return a, nil
}

// tokenRole is the role an API token acts with: its own while its creator's current role
// covers it, else the creator's current role if the token's covers that (the creator was
// demoted), and none at all when neither covers the other. Covering takes rank and
// permissions both, since the roles are not nested: a CLIENT token of a staff member (or a
// staff token of a member demoted to CLIENT) would otherwise act with permissions its creator
// does not hold.
func tokenRole(token, member string) (string, bool) {
	k, m := auth.Role(token), auth.Role(member)
	switch {
	case k.AtMost(m) && k.PermissionsSubsetOf(m):
		return token, true
	case m.AtMost(k) && m.PermissionsSubsetOf(k):
		return member, true
	}
	return "", false
}

// Begin opens the scope's transaction and verifies the claim in the same round trip. Only
// write scopes need it; read scopes run each query in its own pipelined transaction.
func (sc *Scope) Begin(ctx context.Context) error {
	if sc.conn != nil {
		return errors.New("store: scope already begun")
	}
	if sc.denied != nil {
		return sc.denied
	}
	conn, err := sc.store.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	pending := sc.access == nil
	cached, hit := authEntry{}, false
	if pending {
		cached, hit = sc.store.auth.get(keyOf(sc.claim), time.Now())
	}
	check := pending && hit
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	sc.queueSetup(b, check)
	if pending && !hit {
		sc.queueVerify(b)
	}
	br := conn.SendBatch(ctx, b)
	_, err = br.Exec()
	var st setupResult
	if err == nil {
		st, err = readSetup(br, check)
	}
	stale := false
	if err == nil && pending {
		if hit {
			var ok bool
			_, ok, err = sc.fromCache(cached, st)
			stale = !ok
		} else {
			_, err = sc.readVerify(br, st)
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && stale {
		// The tenant's authorization changed since the claim was verified: verify again,
		// inside the transaction that is already bound to the tenant.
		sc.store.auth.drop(keyOf(sc.claim))
		vb := &pgx.Batch{}
		sc.queueVerify(vb)
		vbr := conn.SendBatch(ctx, vb)
		_, err = sc.readVerify(vbr, st)
		if cerr := vbr.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		sc.discard(conn)
		return err
	}
	sc.conn = conn
	sc.began = time.Now()
	return nil
}

// End commits (commit true) or rolls back the transaction opened by Begin and returns the
// connection to the pool.
func (sc *Scope) End(ctx context.Context, commit bool) error {
	conn := sc.conn
	if conn == nil {
		return nil
	}
	sc.conn = nil
	defer sc.store.observed("write", sc.began)
	if commit {
		tag, err := conn.Exec(ctx, "COMMIT")
		if err != nil {
			sc.discard(conn)
			sc.ended(false)
			return translate(err)
		}
		conn.Release()
		if tag.String() != "COMMIT" {
			// A statement failed earlier and its error was not acted on: PostgreSQL
			// answers COMMIT of an aborted transaction with ROLLBACK and no error.
			sc.ended(false)
			return ErrRolledBack
		}
		sc.ended(true)
		return nil
	}
	sc.discard(conn)
	sc.ended(false)
	return nil
}

// discard rolls back whatever is open on conn; a connection that cannot be rolled back is
// closed rather than returned to the pool with state on it.
func (sc *Scope) discard(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), defaultCleanupTimeout)
	defer cancel()
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		_ = conn.Conn().Close(ctx)
	}
	conn.Release()
}

// Savepoint runs fn inside a savepoint of the write transaction, so that an expected failure
// (a uniqueness race, say) can be recovered from without losing the whole transaction.
func (sc *Scope) Savepoint(ctx context.Context, fn func() error) error {
	if sc.conn == nil {
		return errors.New("store: savepoint outside a write transaction")
	}
	if _, err := sc.conn.Exec(ctx, "SAVEPOINT sp"); err != nil {
		return translate(err)
	}
	if err := fn(); err != nil {
		if _, rerr := sc.conn.Exec(ctx, "ROLLBACK TO SAVEPOINT sp"); rerr != nil {
			return rerr
		}
		return err
	}
	_, err := sc.conn.Exec(ctx, "RELEASE SAVEPOINT sp")
	return translate(err)
}

// query runs sql in the scope. Every SQL statement in this package that touches a tenant-owned
// table also filters on tenant_id = the scope's tenant.
func (sc *Scope) query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if sc.denied != nil {
		return nil, sc.denied
	}
	if sc.conn != nil {
		rows, err := sc.conn.Query(ctx, sql, args...)
		return rows, translate(err)
	}
	if !sc.readOnly {
		return nil, errors.New("store: write scope used before Begin")
	}
	pending := sc.access == nil
	cached, hit := authEntry{}, false
	if pending {
		cached, hit = sc.store.auth.get(keyOf(sc.claim), time.Now())
	}
	check := pending && hit
	b := &pgx.Batch{}
	sc.queueSetup(b, check)
	if pending && !hit {
		sc.queueVerify(b)
	}
	b.Queue(sql, args...)
	defer sc.store.observed("read", time.Now())
	br := sc.store.pool.SendBatch(ctx, b)
	st, err := readSetup(br, check)
	if err != nil {
		br.Close()
		return nil, err
	}
	if pending {
		if hit {
			_, ok, err := sc.fromCache(cached, st)
			if err != nil {
				br.Close()
				return nil, err
			}
			if !ok {
				// Stale: drop what was read, verify afresh, then read again.
				br.Close()
				sc.store.auth.drop(keyOf(sc.claim))
				if _, err := sc.Verify(ctx); err != nil {
					return nil, err
				}
				return sc.query(ctx, sql, args...)
			}
		} else if _, err := sc.readVerify(br, st); err != nil {
			br.Close()
			return nil, err
		}
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, translate(err)
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// batchRows closes the pipeline (and so returns the connection) with the rows.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r *batchRows) Close() {
	r.Rows.Close()
	r.br.Close()
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return nil
}

// queryRow runs sql and scans its single row into dest; no row is ErrNotFound.
func (sc *Scope) queryRow(ctx context.Context, sql string, args []any, dest ...any) error {
	rows, err := sc.query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return translate(err)
		}
		return ErrNotFound
	}
	if err := rows.Scan(dest...); err != nil {
		return translate(err)
	}
	rows.Close()
	return translate(rows.Err())
}

// exec runs a statement that returns no rows; it needs a write transaction.
func (sc *Scope) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if sc.denied != nil {
		return pgconn.CommandTag{}, sc.denied
	}
	if sc.conn == nil {
		return pgconn.CommandTag{}, errors.New("store: write outside a write transaction")
	}
	tag, err := sc.conn.Exec(ctx, sql, args...)
	return tag, translate(err)
}

// collect reads every row of a query with scan.
func collect[T any](ctx context.Context, sc *Scope, sql string, args []any, scan func(pgx.Rows) (T, error)) ([]T, error) {
	rows, err := sc.query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, translate(err)
		}
		out = append(out, v)
	}
	return out, translate(rows.Err())
}
