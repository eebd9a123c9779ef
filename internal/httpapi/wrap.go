package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/google/uuid"

	"tenantd/internal/auth"
	"tenantd/internal/obs"
	"tenantd/internal/store"
	"tenantd/internal/tenancy"
)

// Cookie names.
const (
	sessionCookie = "tenantd_session"
	sigCookie     = "tenant_sig"
)

// wrap puts a route behind the wrapper its kind demands. There is no other way into a handler.
func (s *Server) wrap(rt Route) http.Handler {
	rt.takesID = strings.Contains(rt.Pattern, "{id}")
	switch rt.Kind {
	case KindTenant:
		if rt.Permission == "" {
			panic("tenant route " + rt.Method + " " + rt.Pattern + " declares no permission")
		}
		return s.tenantRoute(rt)
	case KindPublic:
		return s.publicRoute(rt)
	case KindPlatform:
		return s.platformRoute(rt)
	}
	panic("route " + rt.Method + " " + rt.Pattern + " declares no kind")
}

// claim reads the caller's credentials: a bearer API token, or the session cookie with its
// tenant_sig. present is false when the request carries none. The tenant comes only from the
// verified signature or the token, never from headers, query strings or bodies.
func (s *Server) claim(r *http.Request) (c store.Claim, present bool, err error) {
	host := tenancy.ParseHost(r.Host, s.cfg.BaseDomain)
	c = store.Claim{HostSlug: host.Slug, HostDomain: host.Domain}
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return c, true, store.Deny(store.DenyUnauthenticated)
		}
		tid, hash, err := auth.ParseAPIToken(strings.TrimSpace(tok))
		if err != nil {
			return c, true, store.Deny(store.DenyUnauthenticated)
		}
		c.TenantID, c.TokenHash = tid, hash
		return c, true, nil
	}
	sess, sig := sessionCookies(r)
	if sess == "" {
		return c, false, nil
	}
	if sig == "" {
		return c, true, &signatureError{reason: "missing"}
	}
	claims, err := s.cfg.Keyring.Verify(sig, s.now())
	if err != nil {
		return c, true, &signatureError{reason: err.Error()}
	}
	c.TenantID, c.UserID, c.SessionID = claims.TenantID, claims.UserID, claims.SessionID
	c.SessionHash = auth.HashToken(sess)
	return c, true, nil
}

// sessionCookies returns the values of the session cookie and of tenant_sig ("" when absent),
// parsing the request's cookies once; like Request.Cookie, the first of a name wins.
func sessionCookies(r *http.Request) (session, sig string) {
	var haveSession, haveSig bool
	for _, c := range r.Cookies() {
		switch {
		case c.Name == sessionCookie && !haveSession:
			session, haveSession = c.Value, true
		case c.Name == sigCookie && !haveSig:
			sig, haveSig = c.Value, true
		}
	}
	return session, sig
}

// signatureError is a tenant_sig that failed before reaching the database.
type signatureError struct{ reason string }

func (e *signatureError) Error() string { return "tenant_sig: " + e.reason }

// refuse renders a refusal of the caller's credentials, clears what can no longer be used and
// records the security events that matter: to the audit log of the tenant concerned when the
// claim got far enough to name one, else to the platform log.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var se *signatureError
	var de *store.DenialError
	switch {
	case errors.As(err, &se):
		s.clearCookie(w, sigCookie)
		s.securityEvent(r, "invalid_tenant_signature", uuid.Nil, map[string]any{"reason": se.reason})
		err = store.Deny(store.DenySignature)
	case errors.As(err, &de):
		switch de.Reason {
		case store.DenyUnauthenticated:
			if _, cerr := r.Cookie(sessionCookie); cerr == nil {
				s.clearCookie(w, sessionCookie)
				s.clearCookie(w, sigCookie)
			}
		case store.DenySignature:
			s.clearCookie(w, sigCookie)
			s.securityEvent(r, "invalid_tenant_signature", uuid.Nil, map[string]any{"reason": "binding"})
		case store.DenyHostMismatch:
			s.securityEventBy(r, "tenant_mismatch", de.Tenant, de.User, nil)
		case store.DenyNotMember:
			s.securityEventBy(r, "not_a_member", de.Tenant, de.User, nil)
		case store.DenyForbidden:
			s.securityEventBy(r, "forbidden", de.Tenant, de.User, map[string]any{"method": r.Method, "route": r.Pattern})
		}
	}
	if user := verifiedCaller(err); user != uuid.Nil {
		w.Header().Set("X-User-Id", user.String())
	}
	writeProblem(w, r, err)
}

// verifiedCaller is the user a refusal was for when their credential verified (a permission
// the role lacks, a suspended tenant, a rate limit): such answers are authenticated and carry
// X-User-Id like any other. A credential that did not verify names nobody.
func verifiedCaller(err error) uuid.UUID {
	var de *store.DenialError
	if errors.As(err, &de) && de.Verified {
		return de.User
	}
	var ve *store.VerifiedError
	if errors.As(err, &ve) {
		return ve.User
	}
	return uuid.Nil
}

// fail renders a handler's error; denials go through refuse.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var se *signatureError
	var de *store.DenialError
	var ve *store.VerifiedError
	if errors.As(err, &se) || errors.As(err, &de) || errors.As(err, &ve) {
		s.refuse(w, r, err)
		return
	}
	if p := asProblem(err); p.status >= 500 {
		s.logError(r.Context(), "request failed", err)
	}
	writeProblem(w, r, err)
}

// securityEvent records a security event concerning tenant (uuid.Nil: none verified).
func (s *Server) securityEvent(r *http.Request, kind string, tenant uuid.UUID, detail map[string]any) {
	s.securityEventBy(r, kind, tenant, uuid.Nil, detail)
}

// securityEventBy is securityEvent with the acting user.
func (s *Server) securityEventBy(r *http.Request, kind string, tenant, user uuid.UUID, detail map[string]any) {
	if detail == nil {
		detail = map[string]any{}
	}
	detail["host"] = r.Host
	detail["path"] = r.URL.Path
	detail["ip"] = clientIP(r)
	if ri := obs.Request(r.Context()); ri != nil {
		detail["request_id"] = ri.RequestID
	}
	s.cfg.Metrics.SecurityEvent(kind)
	if ri := obs.Request(r.Context()); ri != nil && tenant != uuid.Nil {
		if t, _ := ri.Identity(); t == "" {
			u := ""
			if user != uuid.Nil {
				u = user.String()
			}
			ri.SetIdentity(tenant.String(), u)
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), defaultEventTimeout)
	defer cancel()
	var err error
	if tenant != uuid.Nil {
		err = s.store.RecordSecurityEvent(ctx, tenant, user, kind, detail)
	} else {
		err = s.store.RecordPlatformEvent(ctx, uuid.Nil, kind, "http", detail)
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "record security event", "error", err.Error())
	}
	s.log.WarnContext(r.Context(), "security event", "kind", kind)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	// An IPv6 client is usually given a whole /64: counting each address apart would let one
	// client rotate through them past every per-IP limit.
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return host
	case ip.To4() != nil:
		return ip.To4().String() // also an IPv4 address written as IPv6 (::ffff:a.b.c.d)
	default:
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
}

// noteAccess records the verified identity for logs and the X-User-Id response header.
func noteAccess(w http.ResponseWriter, r *http.Request, a *store.Access) {
	if a == nil {
		return
	}
	tenant, user := a.TenantKey, a.UserKey
	if tenant == "" {
		tenant = a.TenantID.String()
	}
	if a.UserID == uuid.Nil {
		user = ""
	} else if user == "" {
		user = a.UserID.String()
	}
	if ri := obs.Request(r.Context()); ri != nil {
		ri.SetIdentity(tenant, user)
	}
	if user != "" {
		w.Header().Set("X-User-Id", user)
	}
}

func authorizer(p auth.Permission) func(*store.Access) error {
	return func(a *store.Access) error {
		if !auth.Role(a.Role).Allows(p) {
			return store.Deny(store.DenyForbidden)
		}
		return nil
	}
}

// tenantRoute is the tenant wrapper: authenticate, resolve and verify the tenant (signature or
// token, host cross-check), check membership, tenant status and permission, and only then let
// the handler's results or writes through.
func (s *Server) tenantRoute(rt Route) http.Handler {
	permitted := authorizer(rt.Permission)
	// A verified caller with the permission is then charged to the tenant's budget.
	authorize := func(a *store.Access) error {
		if err := permitted(a); err != nil {
			return err
		}
		return s.limits.admit(a)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A tenant's data is for its caller alone: no shared cache keeps or serves it.
		w.Header().Set("Cache-Control", "no-store")
		c, present, err := s.claim(r)
		if err == nil && !present {
			err = s.unauthenticated(r, c)
		}
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		if over, wait := s.limits.over(c.TenantID); over {
			s.overLimit(w, r, c, wait)
			return
		}
		readOnly := r.Method == http.MethodGet || r.Method == http.MethodHead
		if !readOnly {
			// The body is read before anything of the tenant's is held: a client that sends
			// it slowly holds neither a database connection nor one of the tenant's places.
			done, err := receiveBody(r)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			defer done()
		}
		release, ok := s.admitInFlight(w, r, c)
		if !ok {
			return
		}
		defer release()
		sc := s.store.RequestScope(c, readOnly, authorize)
		sw := &statusWriter{ResponseWriter: w}
		if readOnly {
			s.serveRead(sw, r, rt, sc)
		} else {
			s.serveWrite(sw, r, rt, sc, c)
		}
		s.limits.record(sc.Verified(), sw.code)
		if sw.code == http.StatusNotFound && rt.takesID {
			s.checkProbe(r, sc.Verified())
		}
	})
}

// probeChecks bounds the cross-tenant probe checks running at once; when they are all busy a
// check is skipped rather than queued, so a flood of 404s cannot pile work on the database.
var probeChecks = make(chan struct{}, 4)

// checkProbe records a 404 on an id that exists in another tenant as a cross-tenant probe: in
// the audit log of the tenant whose object was probed (without naming the prober), in the
// platform log (with both) and in the security-event counter. The prober's own tenant log gets
// nothing, since an entry there would tell its admins which of their guesses exist elsewhere.
// It runs after the response and in the background, so that the answer and its timing are the
// same whether or not the id exists elsewhere.
func (s *Server) checkProbe(r *http.Request, a *store.Access) {
	if a == nil {
		return
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return
	}
	select {
	case probeChecks <- struct{}{}:
	default:
		return
	}
	req := r.Clone(context.WithoutCancel(r.Context()))
	go func() {
		defer func() { <-probeChecks }()
		ctx, cancel := context.WithTimeout(req.Context(), defaultEventTimeout)
		defer cancel()
		owner, found, err := s.store.Platform("probe-check").ObjectOwner(ctx, id)
		if err != nil {
			s.log.ErrorContext(ctx, "cross-tenant probe check", "error", err.Error())
			return
		}
		if !found || owner == a.TenantID {
			return
		}
		s.cfg.Metrics.SecurityEvent("cross_tenant_probe")
		if ok, _ := s.probeRecords.Allow(a.TenantID.String() + ">" + owner.String()); !ok {
			return
		}
		target := map[string]any{"route": req.Pattern, "object_id": id.String()}
		if ri := obs.Request(req.Context()); ri != nil {
			target["request_id"] = ri.RequestID
		}
		if err := s.store.RecordSecurityEvent(ctx, owner, uuid.Nil, "cross_tenant_probe", target); err != nil {
			s.log.ErrorContext(ctx, "record security event", "error", err.Error())
		}
		platform := map[string]any{"route": req.Pattern, "object_id": id.String(), "owner_tenant": owner.String(),
			"prober_tenant": a.TenantID.String(), "prober_user": a.UserID.String()}
		if err := s.store.RecordPlatformEvent(ctx, a.TenantID, "cross_tenant_probe", "http", platform); err != nil {
			s.log.ErrorContext(ctx, "record security event", "error", err.Error())
		}
		s.log.WarnContext(req.Context(), "security event", "kind", "cross_tenant_probe")
	}()
}

// unauthenticated is the answer to a request without credentials: 404 tenant_not_found when
// the host names no tenant at all, 401 otherwise.
func (s *Server) unauthenticated(r *http.Request, c store.Claim) error {
	if c.HostSlug != "" || c.HostDomain != "" {
		if _, err := s.store.ResolveHost(r.Context(), c.HostSlug, c.HostDomain); errors.Is(err, store.ErrNotFound) {
			return store.Deny(store.DenyHostUnknown)
		}
	}
	return store.Deny(store.DenyUnauthenticated)
}

// serveRead runs a read-only handler. Its first query carries the claim's verification in the
// same round trip; nothing it writes reaches the client before the claim is verified, and a
// refused claim takes precedence over whatever the handler answered.
func (s *Server) serveRead(w http.ResponseWriter, r *http.Request, rt Route, sc *store.Scope) {
	gw := &guardWriter{w: w, r: r, sc: sc, s: s}
	err := rt.Handler(gw, r, sc)
	if gw.started {
		if err != nil && !gw.denied {
			s.logError(r.Context(), "handler failed after writing", err)
		}
		return
	}
	if a, verr := sc.Verify(r.Context()); verr != nil {
		s.refuse(w, r, verr)
		return
	} else {
		noteAccess(w, r, a)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// guardWriter verifies the scope's claim before the first byte of a read response leaves.
type guardWriter struct {
	w       http.ResponseWriter
	r       *http.Request
	sc      *store.Scope
	s       *Server
	started bool
	denied  bool
}

func (g *guardWriter) Header() http.Header { return g.w.Header() }

func (g *guardWriter) WriteHeader(code int) {
	if g.started {
		return
	}
	g.started = true
	a, err := g.sc.Verify(g.r.Context())
	if err != nil {
		g.denied = true
		h := g.w.Header()
		for k := range h {
			if k != "X-Request-Id" {
				delete(h, k)
			}
		}
		g.s.refuse(g.w, g.r, err)
		return
	}
	noteAccess(g.w, g.r, a)
	g.w.WriteHeader(code)
}

func (g *guardWriter) Write(b []byte) (int, error) {
	if !g.started {
		g.WriteHeader(http.StatusOK)
	}
	if g.denied {
		return len(b), nil
	}
	return g.w.Write(b)
}

func (g *guardWriter) Unwrap() http.ResponseWriter { return g.w }

// serveWrite runs a handler that may change data, its body already received (receiveBody):
// the claim is verified when the transaction opens, before the handler runs; the handler's response is held until the transaction
// commits, so a client never sees a success that was rolled back.
func (s *Server) serveWrite(w http.ResponseWriter, r *http.Request, rt Route, sc *store.Scope, c store.Claim) {
	ctx := r.Context()
	if err := sc.Begin(ctx); err != nil {
		if rt.Leave != nil && tenantNoLongerAdmits(err, c) {
			// The session verified: its answers name the user, as every authenticated answer
			// does (and the access log, the tenant being left).
			noteAccess(w, r, &store.Access{UserID: c.UserID, TenantID: c.TenantID})
			if err := rt.Leave(w, r, c.UserID, c.SessionID); err != nil {
				s.fail(w, r, err)
			}
			return
		}
		s.refuse(w, r, err)
		return
	}
	noteAccess(w, r, sc.Verified())
	bw := &bufferedWriter{header: http.Header{}}
	replayed := false
	var err error
	if rt.Creates && r.Header.Get("Idempotency-Key") != "" {
		replayed, err = s.idempotent(bw, r, rt, sc)
	} else {
		err = rt.Handler(bw, r, sc)
	}
	commit := err == nil && bw.status() < 400 && !replayed
	if eerr := sc.End(context.WithoutCancel(ctx), commit); eerr != nil && err == nil {
		err = eerr
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	bw.flushTo(w)
}

// tenantNoLongerAdmits reports whether err refuses a signed-in session that verified only
// because its current tenant is suspended or its membership there ended (see Route.Leave).
func tenantNoLongerAdmits(err error, c store.Claim) bool {
	var de *store.DenialError
	return c.SessionID != uuid.Nil && c.TokenHash == nil && errors.As(err, &de) && de.Verified &&
		de.User == c.UserID && (de.Reason == store.DenySuspended || de.Reason == store.DenyNotMember)
}

// receiveBody reads the whole request body before the write transaction opens: a client that
// sends its body slowly must not hold one of the shared database connections while it does
// (a few such requests from one tenant would otherwise stall every tenant). The body is kept
// in memory (at most the edge's 1 MiB limit), or for multipart uploads (up to 10 MiB) in a
// temporary file that done removes.
func receiveBody(r *http.Request) (done func(), err error) {
	done = func() {}
	if r.Body == nil || r.Body == http.NoBody {
		return done, nil
	}
	readFailed := func(err error) error {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errValidation("The request body could not be read.")
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); strings.HasPrefix(mt, "multipart/") {
		f, err := os.CreateTemp("", "tenantd-body-*")
		if err != nil {
			return done, err
		}
		done = func() {
			f.Close()
			os.Remove(f.Name())
		}
		if _, err := io.Copy(f, r.Body); err != nil {
			done()
			return func() {}, readFailed(err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			done()
			return func() {}, err
		}
		r.Body = f
		return done, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return done, readFailed(err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return done, nil
}

// idempotent runs a creating handler under an Idempotency-Key, scoped to (tenant, user, key).
// The key's row is inserted in the request's transaction: a concurrent duplicate blocks on the
// unique index until the first commits and then replays its response, so there is exactly one
// effect; if the first rolled back, the duplicate runs instead.
func (s *Server) idempotent(bw *bufferedWriter, r *http.Request, rt Route, sc *store.Scope) (replayed bool, err error) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 {
		return false, errField("Idempotency-Key", "must be at most 255 characters")
	}
	if strings.IndexFunc(key, func(c rune) bool { return c < 0x20 || c > 0x7e }) >= 0 {
		return false, errField("Idempotency-Key", "must be printable ASCII")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return false, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	hash := idempotencyHash(r, body)
	prior, err := sc.ClaimIdempotencyKey(r.Context(), key, hash)
	if err != nil {
		return false, err
	}
	if prior != nil {
		if subtle.ConstantTimeCompare(prior.RequestHash, hash) != 1 {
			return false, problem(http.StatusUnprocessableEntity, CodeIdempotencyReused, "This Idempotency-Key was used with a different request.")
		}
		bw.header.Set("Content-Type", prior.ContentType)
		if prior.Location != "" {
			bw.header.Set("Location", prior.Location)
		}
		bw.header.Set("Idempotent-Replayed", "true")
		bw.WriteHeader(prior.StatusCode)
		bw.body.Write(prior.Body)
		return true, nil
	}
	if err := rt.Handler(bw, r, sc); err != nil {
		return false, err
	}
	if bw.status() < 400 {
		// A route whose answer holds a show-once secret stores (and later replays) it without.
		stored := bw.body.Bytes()
		if rt.ReplayBody != nil {
			if stored, err = rt.ReplayBody(stored); err != nil {
				return false, err
			}
		}
		return false, sc.SaveIdempotentResponse(r.Context(), key, bw.status(), bw.header.Get("Content-Type"), bw.header.Get("Location"), stored)
	}
	return false, nil
}

// idempotencyHash identifies a request for its Idempotency-Key: method, path and query, media
// type and body. A multipart body counts by its parts (name, file name, type, content as the
// handler reads it, transfer encoding decoded), not by its bytes: the boundary between parts
// is the client's choice and usually new on every attempt, so a retry of the same upload is the
// same request, and two bodies whose parts read differently are different requests.
func idempotencyHash(r *http.Request, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.Path + "?" + r.URL.RawQuery + "\n"))
	ct := r.Header.Get("Content-Type")
	if mt, params, err := mime.ParseMediaType(ct); err == nil && strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" {
		if parts, ok := multipartDigest(body, params["boundary"]); ok {
			h.Write([]byte(mt + "\n"))
			h.Write(parts)
			return h.Sum(nil)
		}
	}
	h.Write([]byte(ct + "\n"))
	h.Write(body)
	return h.Sum(nil)
}

// multipartDigest hashes a multipart body part by part, each field length-prefixed so that no
// two different bodies run together into the same bytes. ok false: the body does not parse.
func multipartDigest(body []byte, boundary string) (sum []byte, ok bool) {
	h := sha256.New()
	field := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		p, err := mr.NextPart() // as the upload handler reads it: quoted-printable decoded
		if errors.Is(err, io.EOF) {
			return h.Sum(nil), true
		}
		if err != nil {
			return nil, false
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, false
		}
		// The disposition's own parameters, not FileName's cleaned base name: the upload
		// handler names the stored file from the raw parameter.
		_, disposition, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
		field([]byte(disposition["name"]))
		field([]byte(disposition["filename"]))
		field([]byte(p.Header.Get("Content-Type")))
		field(data)
	}
}

// bufferedWriter holds a response until the transaction behind it has committed.
type bufferedWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedWriter) status() int {
	if b.code == 0 {
		return http.StatusNoContent
	}
	return b.code
}

func (b *bufferedWriter) flushTo(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range b.header {
		h[k] = v
	}
	w.WriteHeader(b.status())
	_, _ = w.Write(b.body.Bytes())
}

// publicRoute serves a route that needs no caller. Routes that belong to a tenant get the
// host's tenant (or, at the apex, the signed-in caller's verified tenant); with neither the
// answer is 404 tenant_not_found.
func (s *Server) publicRoute(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var sc *store.Scope
		if rt.HostTenant {
			// The answer depends on the host and, for the tenant's own staff, on who asks
			// (drafts): a cache must key it on both, and keep a signed-in caller's to itself.
			w.Header().Set("Vary", "Cookie, Authorization")
			var err error
			if sc, err = s.hostScope(w, r); err != nil {
				s.refuse(w, r, err)
				return
			}
		}
		bw := &bufferedWriter{header: http.Header{}}
		if err := rt.Handler(bw, r, sc); err != nil {
			s.fail(w, r, err)
			return
		}
		bw.flushTo(w)
	})
}

// hostScope resolves the tenant of a public tenant route. On a tenant host, a caller whose
// credentials verify for that same tenant gets their own (role-aware) scope; anyone else gets
// the anonymous view of the host's tenant.
func (s *Server) hostScope(w http.ResponseWriter, r *http.Request) (*store.Scope, error) {
	ctx := r.Context()
	host := tenancy.ParseHost(r.Host, s.cfg.BaseDomain)
	c, present, cerr := s.claim(r)
	if !host.Apex {
		t, err := s.store.ResolveHost(ctx, host.Slug, host.Domain)
		if errors.Is(err, store.ErrNotFound) {
			return nil, store.Deny(store.DenyHostUnknown)
		}
		if err != nil {
			return nil, err
		}
		if t.Status != "active" {
			return nil, store.Deny(store.DenySuspended)
		}
		if present && cerr == nil && c.TenantID == t.ID {
			sc := s.store.RequestScope(c, true, nil)
			if a, err := sc.Verify(ctx); err == nil {
				noteAccess(w, r, a)
				w.Header().Set("Cache-Control", "private, no-store")
				return sc, nil
			}
		}
		return s.store.HostScope(t, true), nil
	}
	if !present {
		return nil, store.Deny(store.DenyHostUnknown)
	}
	if cerr != nil {
		return nil, cerr
	}
	sc := s.store.RequestScope(c, true, nil)
	a, err := sc.Verify(ctx)
	if err != nil {
		return nil, err
	}
	noteAccess(w, r, a)
	w.Header().Set("Cache-Control", "private, no-store")
	return sc, nil
}

// platformRoute admits only the operator token. Tenant cookies and tokens never work here.
func (s *Server) platformRoute(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || s.cfg.OperatorToken == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.OperatorToken)) != 1 {
			writeProblem(w, r, store.Deny(store.DenyUnauthenticated))
			return
		}
		if ri := obs.Request(r.Context()); ri != nil {
			ri.SetIdentity("", "operator")
		}
		if r.Method == http.MethodGet {
			// Reads stream (an export bundle can be large); an error before the first byte
			// is still rendered as a problem.
			sw := &statusWriter{ResponseWriter: w}
			if err := rt.Handler(sw, r, nil); err != nil {
				if sw.code == 0 {
					s.fail(w, r, err)
				} else {
					s.logError(r.Context(), "platform handler failed after writing", err)
				}
			}
			return
		}
		bw := &bufferedWriter{header: http.Header{}}
		if err := rt.Handler(bw, r, nil); err != nil {
			s.fail(w, r, err)
			return
		}
		if bw.status() < 400 {
			// Platform actions are audited by the platform path itself; they are counted here.
			s.cfg.Metrics.SecurityEvent("platform_action")
		}
		bw.flushTo(w)
	})
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
}

func (s *Server) clearCookie(w http.ResponseWriter, name string) { s.setCookie(w, name, "", -1) }
