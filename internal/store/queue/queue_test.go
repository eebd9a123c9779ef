package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"tenantd/internal/pgtest"
	"tenantd/internal/store"
	"tenantd/internal/store/queue"
)

// dueReminders counts the tenant's reminders by status among those already due.
func (e *env) dueReminders(tenant uuid.UUID, status string) int {
	e.t.Helper()
	var n int
	e.scalar(&n, `SELECT count(*) FROM reminders WHERE tenant_id = $1 AND due_at <= now() AND status = $2`, tenant, status)
	return n
}

func TestRemindersJobRunsInItsTenantsScope(t *testing.T) {
	e := newEnv(t)
	acme, globex := e.demo.Acme.ID, e.demo.Globex.ID
	// A second due reminder in acme, for a client, and one not due yet.
	e.inScope(acme, func(sc *store.Scope) error {
		for _, due := range []time.Time{time.Now().Add(-time.Minute), time.Now().Add(time.Hour)} {
			if _, err := sc.CreateReminder(e.ctx, store.ReminderInput{Title: "Call back", DueAt: due, UserID: &e.demo.Acme.Client}); err != nil {
				return err
			}
		}
		return nil
	})
	if n := e.dueReminders(acme, "pending"); n != 2 {
		t.Fatalf("acme has %d due pending reminders before the run, want 2", n)
	}
	if n := e.dueReminders(globex, "pending"); n == 0 {
		t.Fatal("globex has no due reminder: the test would prove nothing")
	}
	var outboxBefore int
	e.scalar(&outboxBefore, `SELECT count(*) FROM outbox_messages WHERE tenant_id = $1`, acme)
	// Idempotency-Keys past their lifetime, in both tenants, and a fresh one in acme.
	for _, k := range []struct {
		tenant uuid.UUID
		key    string
		age    time.Duration
	}{{acme, "expired", store.IdempotencyKeyLifetime + time.Hour}, {acme, "fresh", time.Hour}, {globex, "expired", store.IdempotencyKeyLifetime + time.Hour}} {
		e.exec(`INSERT INTO idempotency_keys (tenant_id, id, user_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4, '\x00', now() - $5::interval)`,
			k.tenant, uuid.New(), uuid.New(), k.key, k.age.String())
	}
	globexBefore := e.fingerprint(globex)

	id := e.enqueue(acme, queue.RemindersRunArgs{Envelope: queue.Envelope{TenantID: acme}})
	e.start(queue.Config{})
	row := e.wait(id, rivertype.JobStateCompleted)

	if n := e.dueReminders(acme, "pending"); n != 0 {
		t.Errorf("acme still has %d due pending reminders", n)
	}
	if n := e.dueReminders(acme, "sent"); n != 2 {
		t.Errorf("acme has %d sent reminders, want 2", n)
	}
	var future int
	e.scalar(&future, `SELECT count(*) FROM reminders WHERE tenant_id = $1 AND due_at > now() AND status = 'pending'`, acme)
	if future < 1 {
		t.Errorf("a reminder not yet due was sent")
	}
	var outboxAfter int
	e.scalar(&outboxAfter, `SELECT count(*) FROM outbox_messages WHERE tenant_id = $1`, acme)
	if outboxAfter != outboxBefore+2 {
		t.Errorf("acme outbox grew from %d to %d, want one message per reminder", outboxBefore, outboxAfter)
	}
	var out map[string]int
	if err := json.Unmarshal(row.Output(), &out); err != nil || out["sent"] != 2 {
		t.Errorf("job output %s, want sent 2", row.Output())
	}
	// The job ran as the system in acme and said so in acme's audit log.
	var audits int
	e.scalar(&audits, `SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action = 'reminders.run'`, acme)
	if audits != 1 {
		t.Errorf("%d reminders.run audit events in acme, want 1", audits)
	}
	// The e-mails it queued are delivered by a job of the same tenant, inserted with them.
	deliveries := e.jobsOf(queue.OutboxDeliverArgs{}.Kind())
	if len(deliveries) != 1 || !strings.Contains(string(deliveries[0].EncodedArgs), acme.String()) {
		t.Fatalf("outbox deliveries after the run: %d, want 1 for acme", len(deliveries))
	}
	e.wait(deliveries[0].ID, rivertype.JobStateCompleted)
	// The run retired acme's expired key and kept its fresh one; globex's it did not touch.
	var keys string
	e.scalar(&keys, `SELECT string_agg(key, ',' ORDER BY key) FROM idempotency_keys WHERE tenant_id = $1 AND key IN ('expired', 'fresh')`, acme)
	if keys != "fresh" {
		t.Errorf("acme's idempotency keys after the run: %q, want only the fresh one", keys)
	}
	sameFingerprint(t, "globex after acme's reminders ran", globexBefore, e.fingerprint(globex))
}

// forgedReminderArgs is a reminders.run job whose arguments also name another tenant's
// reminder, booking and user, as a forged or buggy producer might.
type forgedReminderArgs struct {
	TenantID   uuid.UUID   `json:"tenant_id"`
	ReminderID uuid.UUID   `json:"reminder_id"`
	BookingID  uuid.UUID   `json:"booking_id"`
	UserID     uuid.UUID   `json:"user_id"`
	MessageIDs []uuid.UUID `json:"message_ids"`
}

func (forgedReminderArgs) Kind() string                 { return "reminders.run" }
func (a forgedReminderArgs) JobTenantID() uuid.UUID     { return a.TenantID }
func (forgedOutboxArgs) Kind() string                   { return "outbox.deliver" }
func (a forgedOutboxArgs) JobTenantID() uuid.UUID       { return a.TenantID }
func (a forgedOutboxArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1} }

type forgedOutboxArgs struct {
	TenantID   uuid.UUID   `json:"tenant_id"`
	MessageIDs []uuid.UUID `json:"message_ids"`
}

func TestForgedArgumentsCannotReachAnotherTenant(t *testing.T) {
	e := newEnv(t)
	acme, globex := e.demo.Acme.ID, e.demo.Globex.ID
	var globexReminder, globexMessage uuid.UUID
	e.scalar(&globexReminder, `SELECT id FROM reminders WHERE tenant_id = $1 AND status = 'pending' AND due_at <= now() LIMIT 1`, globex)
	e.scalar(&globexMessage, `SELECT id FROM outbox_messages WHERE tenant_id = $1 AND status = 'pending' LIMIT 1`, globex)
	// Globex could send mail, so a delivery that leaked into globex would change its rows.
	fake := startFakeSMTP(t)
	e.exec(`UPDATE communication_settings SET smtp_host = '127.0.0.1', smtp_port = $2, smtp_username = '' WHERE tenant_id = $1`, globex, fake.port())

	t.Run("a scope refuses a job for another tenant", func(t *testing.T) {
		for _, args := range []store.TenantJobArgs{
			queue.RemindersRunArgs{Envelope: queue.Envelope{TenantID: globex}},
			queue.OutboxDeliverArgs{Envelope: queue.Envelope{TenantID: uuid.Nil}},
		} {
			sc := e.st.TrustedScope(acme, false)
			if err := sc.Begin(e.ctx); err != nil {
				t.Fatal(err)
			}
			_, err := sc.Enqueue(e.ctx, args)
			_ = sc.End(e.ctx, true)
			if err == nil {
				t.Errorf("acme's scope enqueued %s for tenant %s", args.Kind(), args.JobTenantID())
			}
		}
		if n := len(e.jobsOf("reminders.run")) + len(e.jobsOf("outbox.deliver")); n != 0 {
			t.Fatalf("%d jobs exist after refused enqueues", n)
		}
	})

	globexBefore := e.fingerprint(globex)
	remID := e.enqueue(acme, forgedReminderArgs{TenantID: acme, ReminderID: globexReminder,
		BookingID: e.demo.Globex.Bookings[0], UserID: e.demo.Globex.Client, MessageIDs: []uuid.UUID{globexMessage}})
	outID := e.enqueue(acme, forgedOutboxArgs{TenantID: acme, MessageIDs: []uuid.UUID{globexMessage}})
	e.start(queue.Config{})
	e.wait(remID, rivertype.JobStateCompleted)
	// Acme has no SMTP server: its own messages fail, globex's are not touched.
	e.wait(outID, rivertype.JobStateCompleted)
	for _, d := range e.jobsOf("outbox.deliver") {
		e.wait(d.ID, rivertype.JobStateCompleted)
	}

	if n := e.dueReminders(acme, "pending"); n != 0 {
		t.Errorf("the job did not run acme's own reminders (%d still pending)", n)
	}
	var status string
	e.scalar(&status, `SELECT status FROM reminders WHERE tenant_id = $1 AND id = $2`, globex, globexReminder)
	if status != "pending" {
		t.Errorf("globex's reminder named in acme's job became %s", status)
	}
	if mails, _ := fake.received(); len(mails) != 0 {
		t.Errorf("globex's SMTP server received %d messages from acme's jobs", len(mails))
	}
	sameFingerprint(t, "globex after forged acme jobs", globexBefore, e.fingerprint(globex))
}

func TestJobWithoutTenantIsCancelled(t *testing.T) {
	e := newEnv(t)
	before := map[uuid.UUID]map[string]string{e.demo.Acme.ID: e.fingerprint(e.demo.Acme.ID), e.demo.Globex.ID: e.fingerprint(e.demo.Globex.ID)}
	var ids []int64
	for _, args := range []river.JobArgs{queue.RemindersRunArgs{}, queue.OutboxDeliverArgs{}} {
		res, err := e.jobs.Insert(e.ctx, args, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Job.ID)
	}
	e.start(queue.Config{})
	for _, id := range ids {
		row := e.wait(id, rivertype.JobStateCancelled)
		if msg := lastError(row); !strings.Contains(msg, "names no tenant") {
			t.Errorf("%s without tenant cancelled with %q, want the reason", row.Kind, msg)
		}
		if row.Attempt != 1 {
			t.Errorf("%s ran %d times", row.Kind, row.Attempt)
		}
	}
	for tenant, fp := range before {
		sameFingerprint(t, "after jobs without tenant", fp, e.fingerprint(tenant))
	}
}

func TestJobsOfInactiveTenantsDoNotRun(t *testing.T) {
	e := newEnv(t)
	acme, globex := e.demo.Acme.ID, e.demo.Globex.ID
	acmeJob := e.enqueue(acme, queue.RemindersRunArgs{Envelope: queue.Envelope{TenantID: acme}})
	globexJob := e.enqueue(globex, queue.OutboxDeliverArgs{Envelope: queue.Envelope{TenantID: globex}})
	gone := uuid.New()
	goneJob, err := e.jobs.Insert(e.ctx, queue.RemindersRunArgs{Envelope: queue.Envelope{TenantID: gone}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.exec(`UPDATE tenants SET status = 'suspended' WHERE id = $1`, acme)
	e.exec(`UPDATE tenants SET status = 'offboarding' WHERE id = $1`, globex)
	before := map[uuid.UUID]map[string]string{acme: e.fingerprint(acme), globex: e.fingerprint(globex)}

	e.start(queue.Config{})
	for _, c := range []struct {
		id   int64
		want string
	}{
		{acmeJob, fmt.Sprintf("tenant %s is suspended", acme)},
		{globexJob, fmt.Sprintf("tenant %s is offboarding", globex)},
		{goneJob.Job.ID, fmt.Sprintf("tenant %s no longer exists", gone)},
	} {
		row := e.wait(c.id, rivertype.JobStateCancelled)
		if msg := lastError(row); !strings.Contains(msg, c.want) {
			t.Errorf("%s job cancelled with %q, want %q", row.Kind, msg, c.want)
		}
	}
	if n := e.dueReminders(acme, "pending"); n == 0 {
		t.Error("a suspended tenant's reminders were sent")
	}
	for tenant, fp := range before {
		sameFingerprint(t, "after jobs of inactive tenants", fp, e.fingerprint(tenant))
	}
}

func TestDispatcherEnqueuesOneRunPerActiveTenant(t *testing.T) {
	e := newEnv(t)
	acme, globex := e.demo.Acme.ID, e.demo.Globex.ID
	initech, err := e.st.Platform("test").CreateTenant(e.ctx, store.NewTenant{Slug: "initech", Name: "Initech",
		OwnerEmail: "owner@initech.test", OwnerName: "Initech Owner", OwnerPassword: "x"})
	if err != nil {
		t.Fatal(err)
	}
	e.exec(`UPDATE tenants SET status = 'suspended' WHERE id = $1`, globex)

	res, err := e.jobs.Insert(e.ctx, queue.RemindersDispatchArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.start(queue.Config{})
	row := e.wait(res.Job.ID, rivertype.JobStateCompleted)
	var d store.Dispatch
	if err := json.Unmarshal(row.Output(), &d); err != nil || d.Tenants != 2 || d.Inserted != 2 {
		t.Errorf("dispatch output %s, want 2 tenants and 2 jobs", row.Output())
	}

	runs := e.jobsOf(queue.RemindersRunArgs{}.Kind())
	var got []uuid.UUID
	for _, r := range runs {
		var a queue.RemindersRunArgs
		if err := json.Unmarshal(r.EncodedArgs, &a); err != nil {
			t.Fatal(err)
		}
		got = append(got, a.TenantID)
		e.wait(r.ID, rivertype.JobStateCompleted)
	}
	want := []uuid.UUID{acme, initech.ID}
	slices.SortFunc(got, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	slices.SortFunc(want, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	if !slices.Equal(got, want) {
		t.Errorf("reminders.run jobs for %v, want one each for acme and initech %v", got, want)
	}
	if n := e.dueReminders(acme, "pending"); n != 0 {
		t.Errorf("acme still has %d due reminders after the dispatch", n)
	}
	if n := e.dueReminders(globex, "pending"); n == 0 {
		t.Error("the suspended globex had its reminders run")
	}

	// The dispatch went through the platform path and is on the platform log.
	events, err := e.st.PlatformEvents(e.ctx, "jobs.dispatch", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Detail["job"] != "reminders.run" || events[0].Detail["tenants"] != float64(2) {
		t.Errorf("platform events %+v, want one jobs.dispatch for 2 tenants", events)
	}
}

func TestPeriodicDispatchRunsOnTheLeader(t *testing.T) {
	e := newEnv(t)
	e.start(queue.Config{DispatchInterval: time.Second})
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		e.scalar(&n, `SELECT count(*) FROM river_job WHERE kind = 'reminders.dispatch' AND state = 'completed'`)
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no periodic reminders.dispatch completed within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, tenant := range []uuid.UUID{e.demo.Acme.ID, e.demo.Globex.ID} {
		deadline := time.Now().Add(20 * time.Second)
		for e.dueReminders(tenant, "pending") != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("tenant %s still has due reminders", tenant)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func TestOutboxDelivery(t *testing.T) {
	e := newEnv(t)
	acme, globex := e.demo.Acme.ID, e.demo.Globex.ID
	fake := startFakeSMTP(t)
	e.exec(`UPDATE communication_settings SET smtp_host = '127.0.0.1', smtp_port = $2, smtp_username = 'mailer',
		smtp_password = 'secret', from_name = 'Acme Advisory', from_email = 'hello@acme.test' WHERE tenant_id = $1`, acme, fake.port())
	e.start(queue.Config{OutboxMaxAttempts: 3})

	// queueMail queues a message and its delivery in one transaction, as a handler does.
	queueMail := func(tenant uuid.UUID, to, subject string) (uuid.UUID, int64) {
		var msg store.OutboxMessage
		e.inScope(tenant, func(sc *store.Scope) error {
			var err error
			if msg, err = sc.EnqueueEmail(e.ctx, store.OutboxInput{To: to, Subject: subject, Body: "Hello.\nSecond line."}); err != nil {
				return err
			}
			return queue.EnqueueOutboxDelivery(e.ctx, sc)
		})
		var job int64
		for _, j := range e.jobsOf("outbox.deliver") {
			job = max(job, j.ID)
		}
		return msg.ID, job
	}
	message := func(tenant, id uuid.UUID) (status, errText string, attempts int) {
		e.t.Helper()
		if err := e.super.QueryRow(e.ctx, `SELECT status, error, attempts FROM outbox_messages WHERE tenant_id = $1 AND id = $2`,
			tenant, id).Scan(&status, &errText, &attempts); err != nil {
			t.Fatal(err)
		}
		return
	}

	t.Run("delivers through the tenant's SMTP server", func(t *testing.T) {
		var seeded int
		e.scalar(&seeded, `SELECT count(*) FROM outbox_messages WHERE tenant_id = $1 AND status = 'pending'`, acme)
		id, job := queueMail(acme, "client@acme.test", "Your report\r\nBcc: victim@example.test")
		e.wait(job, rivertype.JobStateCompleted)
		if st, msg, n := message(acme, id); st != "sent" || n != 1 {
			t.Errorf("message is %s after %d attempts (%s), want sent after 1", st, n, msg)
		}
		var pending int
		e.scalar(&pending, `SELECT count(*) FROM outbox_messages WHERE tenant_id = $1 AND status = 'pending'`, acme)
		if pending != 0 {
			t.Errorf("%d acme messages still pending", pending)
		}
		mails, auths := fake.received()
		if len(mails) != seeded+1 {
			t.Fatalf("SMTP server received %d messages, want %d", len(mails), seeded+1)
		}
		last := mails[len(mails)-1]
		for _, m := range mails {
			if m.To == "client@acme.test" {
				last = m
			}
		}
		if last.From != "hello@acme.test" {
			t.Errorf("envelope sender %q", last.From)
		}
		if !strings.Contains(last.Data, "From: \"Acme Advisory\" <") || !strings.Contains(last.Data, "To: <client@acme.test>") {
			t.Errorf("headers missing in\n%s", last.Data)
		}
		if strings.Contains(last.Data, "\r\nBcc:") || strings.Contains(last.Data, "\nBcc:") {
			t.Errorf("a subject injected a header:\n%s", last.Data)
		}
		if !strings.Contains(last.Data, "Second line.") {
			t.Errorf("body missing in\n%s", last.Data)
		}
		if len(auths) == 0 || auths[0] != "\x00mailer\x00secret" {
			t.Errorf("AUTH PLAIN responses %q, want the tenant's credentials", auths)
		}
	})

	t.Run("a temporary failure counts an attempt and retries, then fails for good", func(t *testing.T) {
		fake.set("451 4.3.0 try again later", "")
		id, job := queueMail(acme, "client2@acme.test", "Retry me")
		row := e.wait(job, rivertype.JobStateRetryable)
		if !strings.Contains(lastError(row), "451") {
			t.Errorf("job error %q, want the SMTP reply", lastError(row))
		}
		if st, msg, n := message(acme, id); st != "pending" || n != 1 || !strings.Contains(msg, "451") {
			t.Errorf("message is %s after %d attempts (%q), want pending after 1 with the reply", st, n, msg)
		}
		// Retries run in the same tenant, until the message's limit of 3 attempts.
		if _, err := e.jobs.JobRetry(e.ctx, job); err != nil {
			t.Fatal(err)
		}
		// Attempt 2 (still pending), then a retry, attempt 3: failed for good.
		row = e.wait(job, rivertype.JobStateRetryable)
		if row.Attempt != 2 {
			t.Fatalf("job attempt %d, want 2", row.Attempt)
		}
		if _, err := e.jobs.JobRetry(e.ctx, job); err != nil {
			t.Fatal(err)
		}
		e.wait(job, rivertype.JobStateCompleted)
		if st, _, n := message(acme, id); st != "failed" || n != 3 {
			t.Errorf("message is %s after %d attempts, want failed after 3", st, n)
		}
		fake.set("", "")
	})

	t.Run("a refused recipient fails at once", func(t *testing.T) {
		fake.set("", "550 5.1.1 no such user")
		id, job := queueMail(acme, "nobody@acme.test", "Bounce")
		e.wait(job, rivertype.JobStateCompleted)
		if st, msg, n := message(acme, id); st != "failed" || n != 1 || !strings.Contains(msg, "550") {
			t.Errorf("message is %s after %d attempts (%q), want failed after 1 with the reply", st, n, msg)
		}
		fake.set("", "")
	})

	t.Run("a tenant without SMTP settings fails its messages with the reason", func(t *testing.T) {
		before, _ := fake.received()
		id, job := queueMail(globex, "client@globex.test", "Nowhere to send")
		row := e.wait(job, rivertype.JobStateCompleted)
		if st, msg, n := message(globex, id); st != "failed" || msg != queue.ErrNoSMTP.Error() || n != 1 {
			t.Errorf("message is %s after %d attempts (%q), want failed with %q", st, n, msg, queue.ErrNoSMTP)
		}
		var out queue.DeliveryResult
		if err := json.Unmarshal(row.Output(), &out); err != nil || out.Failed == 0 || out.Sent != 0 {
			t.Errorf("job output %s", row.Output())
		}
		if after, _ := fake.received(); len(after) != len(before) {
			t.Error("globex's message went to acme's SMTP server")
		}
	})
}

func TestEnqueueFollowsItsTransaction(t *testing.T) {
	e := newEnv(t)
	acme := e.demo.Acme.ID
	count := func() int {
		var n int
		e.scalar(&n, `SELECT count(*) FROM river_job`)
		return n
	}

	sc := e.st.TrustedScope(acme, false)
	if err := sc.Begin(e.ctx); err != nil {
		t.Fatal(err)
	}
	msg, err := sc.EnqueueEmail(e.ctx, store.OutboxInput{To: "client@acme.test", Subject: "Rolled back", Body: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := queue.EnqueueOutboxDelivery(e.ctx, sc); err != nil {
		t.Fatal(err)
	}
	// A savepoint rolled back inside the transaction takes its job with it.
	if err := sc.Savepoint(e.ctx, func() error {
		if err := queue.EnqueueReminders(e.ctx, sc); err != nil {
			return err
		}
		return fmt.Errorf("changed my mind")
	}); err == nil {
		t.Fatal("savepoint did not fail")
	}
	if err := sc.End(e.ctx, false); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Errorf("%d jobs left behind by a rolled-back transaction", n)
	}
	var msgs int
	e.scalar(&msgs, `SELECT count(*) FROM outbox_messages WHERE tenant_id = $1 AND id = $2`, acme, msg.ID)
	if msgs != 0 {
		t.Error("the rolled-back message exists")
	}

	e.inScope(acme, func(sc *store.Scope) error { return queue.EnqueueReminders(e.ctx, sc) })
	if n := count(); n != 1 {
		t.Errorf("%d jobs after a committed enqueue, want 1", n)
	}

	// A read-only scope cannot enqueue, and neither can a write scope before Begin.
	for _, sc := range []*store.Scope{e.st.TrustedScope(acme, true), e.st.TrustedScope(acme, false)} {
		if err := queue.EnqueueReminders(e.ctx, sc); err == nil {
			t.Error("enqueue outside a write transaction succeeded")
		}
	}
}

func TestRiverSchemaIsGlobalAndGranted(t *testing.T) {
	e := newEnv(t)
	var tenantCols int
	e.scalar(&tenantCols, `SELECT count(*) FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name LIKE 'river\_%' AND column_name = 'tenant_id'`)
	if tenantCols != 0 {
		t.Errorf("%d River tables have a tenant_id column", tenantCols)
	}
	var insert, truncate, references, migrationWrite bool
	e.scalar(&insert, `SELECT has_table_privilege('tenantd_app', 'river_job', 'INSERT')`)
	e.scalar(&truncate, `SELECT bool_or(has_table_privilege('tenantd_app', c.oid, 'TRUNCATE')) FROM pg_class c WHERE relname LIKE 'river\_%' AND relkind = 'r'`)
	e.scalar(&references, `SELECT bool_or(has_table_privilege('tenantd_app', c.oid, 'REFERENCES')) FROM pg_class c WHERE relname LIKE 'river\_%' AND relkind = 'r'`)
	e.scalar(&migrationWrite, `SELECT has_table_privilege('tenantd_app', 'river_migration', 'INSERT')`)
	if !insert || truncate || references || migrationWrite {
		t.Errorf("app role on River tables: insert %v, truncate %v, references %v, write migrations %v", insert, truncate, references, migrationWrite)
	}
}

func TestMigrationsDownAndUpKeepRiver(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	m, err := store.NewMigrator(db.OwnerURL, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Down undoes tenantd's own latest migration and leaves River's tables alone.
	if err := m.Down(ctx); err != nil {
		t.Fatalf("down: %v", err)
	}
	super, err := pgx.Connect(ctx, db.SuperURL)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	var kept bool
	if err := super.QueryRow(ctx, `SELECT to_regclass('river_job') IS NOT NULL`).Scan(&kept); err != nil || !kept {
		t.Fatalf("river_job after down: %v %v", kept, err)
	}
	// Up again is clean: our migrations come back, River's are already current.
	if err := m.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	states, err := m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if !s.Applied {
			t.Errorf("migration %d not applied after up", s.Version)
		}
	}
	st, err := store.Open(ctx, db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if ok, err := st.SchemaCurrent(ctx); err != nil || !ok {
		t.Errorf("schema current %v, %v", ok, err)
	}
}

// The minutely reminders run also sweeps up messages left pending by an earlier delivery that
// gave up: with nothing due, a pending message still gets a delivery job of its own tenant.
func TestRemindersRunSweepsPendingOutbox(t *testing.T) {
	e := newEnv(t)
	acme := e.demo.Acme.ID
	e.exec(`UPDATE reminders SET status = 'cancelled' WHERE tenant_id = $1 AND status = 'pending'`, acme)
	var pending int
	e.scalar(&pending, `SELECT count(*) FROM outbox_messages WHERE tenant_id = $1 AND status = 'pending'`, acme)
	if pending == 0 {
		t.Fatal("acme has no pending message: the test would prove nothing")
	}
	id := e.enqueue(acme, queue.RemindersRunArgs{Envelope: queue.Envelope{TenantID: acme}})
	e.start(queue.Config{})
	e.wait(id, rivertype.JobStateCompleted)
	deliveries := e.jobsOf(queue.OutboxDeliverArgs{}.Kind())
	if len(deliveries) != 1 || !strings.Contains(string(deliveries[0].EncodedArgs), acme.String()) {
		t.Fatalf("%d delivery jobs after a run with nothing due, want 1 for acme", len(deliveries))
	}
}
