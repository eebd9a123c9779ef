package queue_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"tenantd/internal/pgtest"
	"tenantd/internal/seed"
	"tenantd/internal/store"
	"tenantd/internal/store/queue"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// env is one test's database with the demo data, a superuser pool for fixtures and
// assertions, and a River client that only inserts and reads jobs (as the application role).
type env struct {
	t     *testing.T
	ctx   context.Context
	st    *store.Store
	db    *pgtest.DB
	demo  *seed.Result
	super *pgxpool.Pool
	jobs  *river.Client[pgx.Tx]
}

func newEnv(t *testing.T) *env { return newEnvWithFiles(t, "") }

// newEnvWithFiles is newEnv with the demo attachments written under dir ("" for none).
func newEnvWithFiles(t *testing.T, dir string) *env {
	t.Helper()
	ctx := context.Background()
	st, db := pgtest.Store(t)
	demo, err := seed.DemoWithFiles(ctx, st, dir)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	super, err := pgxpool.New(ctx, db.SuperURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(super.Close)
	app, err := pgxpool.New(ctx, db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	jobs, err := river.NewClient(riverpgxv5.New(app), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, st: st, db: db, demo: demo, super: super, jobs: jobs}
	// No test may reach a mail server elsewhere, whatever the seed configures.
	e.exec(`UPDATE communication_settings SET smtp_host = ''`)
	return e
}

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.super.Exec(e.ctx, sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

func (e *env) scalar(dest any, sql string, args ...any) {
	e.t.Helper()
	if err := e.super.QueryRow(e.ctx, sql, args...).Scan(dest); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

// fixedRetry retries failed jobs after a fixed delay.
type fixedRetry time.Duration

func (r fixedRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(time.Duration(r)) }

// start runs the workers until the test ends. The periodic dispatch is off unless the test
// asks for it, so that jobs run only when a test inserts them.
func (e *env) start(cfg queue.Config) {
	e.t.Helper()
	cfg.DatabaseURL = e.db.AppURL
	if cfg.DispatchInterval == 0 {
		cfg.DispatchInterval = -1
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.RetryPolicy == nil {
		cfg.RetryPolicy = fixedRetry(time.Hour)
	}
	q, err := queue.Start(e.ctx, e.st, cfg)
	if err != nil {
		e.t.Fatalf("start queue: %v", err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q.Stop(ctx); err != nil {
			e.t.Errorf("stop queue: %v", err)
		}
	})
}

// enqueue inserts a job inside a committed write scope of tenant.
func (e *env) enqueue(tenant uuid.UUID, args store.TenantJobArgs) int64 {
	e.t.Helper()
	var id int64
	e.inScope(tenant, func(sc *store.Scope) error {
		var err error
		id, err = sc.Enqueue(e.ctx, args)
		return err
	})
	return id
}

// inScope runs fn in a committed write transaction of tenant.
func (e *env) inScope(tenant uuid.UUID, fn func(sc *store.Scope) error) {
	e.t.Helper()
	sc := e.st.TrustedScope(tenant, false)
	if err := sc.Begin(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	if err := fn(sc); err != nil {
		_ = sc.End(e.ctx, false)
		e.t.Fatal(err)
	}
	if err := sc.End(e.ctx, true); err != nil {
		e.t.Fatal(err)
	}
}

// wait polls the job until it reaches one of states and returns its row.
func (e *env) wait(id int64, states ...rivertype.JobState) *rivertype.JobRow {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		row, err := e.jobs.JobGet(e.ctx, id)
		if err != nil {
			e.t.Fatalf("job %d: %v", id, err)
		}
		if slices.Contains(states, row.State) {
			return row
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %d (%s) is %s after 20s, want %v; errors: %+v", id, row.Kind, row.State, states, row.Errors)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// jobsOf lists the jobs of a kind.
func (e *env) jobsOf(kind string) []*rivertype.JobRow {
	e.t.Helper()
	res, err := e.jobs.JobList(e.ctx, river.NewJobListParams().Kinds(kind).First(1000))
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Jobs
}

// lastError is the error of the job's latest attempt.
func lastError(row *rivertype.JobRow) string {
	if len(row.Errors) == 0 {
		return ""
	}
	return row.Errors[len(row.Errors)-1].Error
}

// fingerprint hashes every row of every tenant-owned table that belongs to tenant, read as
// the superuser (no row level security), so that any change to the tenant's data shows.
func (e *env) fingerprint(tenant uuid.UUID) map[string]string {
	e.t.Helper()
	rows, err := e.super.Query(e.ctx, `SELECT c.relname FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attname = 'tenant_id' AND NOT a.attisdropped ORDER BY 1`)
	if err != nil {
		e.t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, table := range tables {
		var sum string
		e.scalar(&sum, `SELECT coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM `+
			pgx.Identifier{table}.Sanitize()+` x WHERE tenant_id = $1`, tenant)
		out[table] = sum
	}
	return out
}

func sameFingerprint(t *testing.T, who string, before, after map[string]string) {
	t.Helper()
	for table, sum := range before {
		if after[table] != sum {
			t.Errorf("%s: rows of %s changed", who, table)
		}
	}
}

// fakeSMTP is a tiny SMTP server on 127.0.0.1 that accepts everything (or answers MAIL FROM
// or RCPT TO with a set reply) and keeps what it was sent.
type fakeSMTP struct {
	ln        net.Listener
	mu        sync.Mutex
	mails     []fakeMail
	auths     []string // decoded AUTH PLAIN responses
	mailReply string   // when set, the answer to MAIL FROM
	rcptReply string   // when set, the answer to RCPT TO
}

type fakeMail struct {
	From, To string
	Data     string
}

func startFakeSMTP(t *testing.T) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSMTP{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeSMTP) port() int { return f.ln.Addr().(*net.TCPAddr).Port }

func (f *fakeSMTP) set(mailReply, rcptReply string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mailReply, f.rcptReply = mailReply, rcptReply
}

func (f *fakeSMTP) received() ([]fakeMail, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.mails), slices.Clone(f.auths)
}

func (f *fakeSMTP) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := textproto.NewReader(bufio.NewReader(c))
	say := func(s string) { fmt.Fprintf(c, "%s\r\n", s) }
	say("220 fake.test ESMTP")
	var cur fakeMail
	for {
		line, err := r.ReadLine()
		if err != nil {
			return
		}
		upper := strings.ToUpper(line)
		f.mu.Lock()
		mailReply, rcptReply := f.mailReply, f.rcptReply
		f.mu.Unlock()
		switch {
		case strings.HasPrefix(upper, "EHLO"):
			say("250-fake.test\r\n250-AUTH PLAIN\r\n250 8BITMIME")
		case strings.HasPrefix(upper, "HELO"):
			say("250 fake.test")
		case strings.HasPrefix(upper, "AUTH PLAIN "):
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(line[len("AUTH PLAIN "):]))
			f.mu.Lock()
			f.auths = append(f.auths, string(raw))
			f.mu.Unlock()
			say("235 2.7.0 authenticated")
		case strings.HasPrefix(upper, "MAIL FROM:"):
			if mailReply != "" {
				say(mailReply)
				continue
			}
			cur = fakeMail{From: fakePath(line[len("MAIL FROM:"):])}
			say("250 ok")
		case strings.HasPrefix(upper, "RCPT TO:"):
			if rcptReply != "" {
				say(rcptReply)
				continue
			}
			cur.To = fakePath(line[len("RCPT TO:"):])
			say("250 ok")
		case upper == "DATA":
			say("354 go ahead")
			data, err := r.ReadDotBytes()
			if err != nil {
				return
			}
			cur.Data = string(data)
			f.mu.Lock()
			f.mails = append(f.mails, cur)
			f.mu.Unlock()
			say("250 queued")
		case upper == "RSET" || upper == "NOOP":
			say("250 ok")
		case upper == "QUIT":
			say("221 bye")
			return
		default:
			say("502 not implemented")
		}
	}
}

// fakePath takes the address out of "<addr> PARAMS".
func fakePath(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '>'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimPrefix(s, "<")
}
