package adopt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"tenantd/internal/store/adopt"
	"tenantd/internal/store/catalog"
)

// settingsSchema is the smallest legacy shape with a singleton: tenants, users with a tenant,
// and settings rows that learn their tenant from the user who last updated them. The settings
// table has no unique index on its tenant: harden builds that one.
var settingsSchema = []string{
	`CREATE TABLE "Tenant" ("id" text PRIMARY KEY)`,
	`CREATE TABLE "User" ("id" text PRIMARY KEY, "tenantId" text REFERENCES "Tenant")`,
	`CREATE TABLE "BookingSettings" ("id" text PRIMARY KEY, "updatedById" text REFERENCES "User", "tenantId" text REFERENCES "Tenant")`,
	`INSERT INTO "Tenant" VALUES ('t1'), ('t2')`,
	`INSERT INTO "User" VALUES ('u1', 't1'), ('u2', 't2')`,
}

const settingsMap = `
tenants: {table: Tenant, key: id, type: text}
tenant_column: tenantId
tables:
  - table: User
  - table: BookingSettings
    singleton: true
    derive:
      - name: updated_by
        path: [{from: updatedById, to: User}]
`

// tenantsOf reads id -> tenant ("-" for NULL) of a table.
func tenantsOf(t *testing.T, url, table string) map[string]string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT "id", coalesce("tenantId", '-') FROM `+pgx.Identifier{table}.Sanitize())
	got := map[string]string{}
	var k, v string
	if _, err := pgx.ForEachRow(rows, []any{&k, &v}, func() error { got[k] = v; return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

// quarantined reads the quarantine of a table: id -> reason and id -> detail.
func quarantined(t *testing.T, url, table string) (reasons, details map[string]string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT row_key ->> 'id', reason, detail FROM tenantd_adopt.quarantine WHERE table_name = $1`, table)
	reasons, details = map[string]string{}, map[string]string{}
	var k, r, d string
	if _, err := pgx.ForEachRow(rows, []any{&k, &r, &d}, func() error { reasons[k], details[k] = r, d; return nil }); err != nil {
		t.Fatal(err)
	}
	return reasons, details
}

// A NULL-tenant row whose rules agree on a tenant that already holds a row with the same
// per-tenant unique key (here the singleton's: the tenant itself) is quarantined as a
// duplicate, whether or not a unique index enforces the key yet; among NULL rows that claim the
// same tenant, the one first in key order wins. A dry run decides the same way.
func TestBackfillQuarantinesDuplicates(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		setup []string
		// index: a unique index on the settings' tenant exists already (harden built it,
		// or the legacy schema had it).
		index bool
		batch int
		want  map[string]string // settings id -> tenant after the backfill ("-": NULL)
		dups  map[string]string // settings id -> a row its detail must name
		// resolved and unresolved are the counts the run must report (with len(dups)).
		resolved, unresolved int64
	}{
		{
			name:     "second row of a tenant that has one",
			setup:    []string{`INSERT INTO "BookingSettings" VALUES ('bs1', 'u1', 't1'), ('bs2', 'u1', NULL)`},
			want:     map[string]string{"bs1": "t1", "bs2": "-"},
			dups:     map[string]string{"bs2": "bs1"},
			resolved: 0, unresolved: 0,
		},
		{
			name:     "second row of a tenant that has one, unique index built",
			setup:    []string{`INSERT INTO "BookingSettings" VALUES ('bs1', 'u1', 't1'), ('bs2', 'u1', NULL)`},
			index:    true,
			want:     map[string]string{"bs1": "t1", "bs2": "-"},
			dups:     map[string]string{"bs2": "bs1"},
			resolved: 0, unresolved: 0,
		},
		{
			name:     "two NULL rows for one tenant, one batch",
			setup:    []string{`INSERT INTO "BookingSettings" VALUES ('bs2', 'u1', NULL), ('bs1', 'u1', NULL)`},
			batch:    100,
			want:     map[string]string{"bs1": "t1", "bs2": "-"},
			dups:     map[string]string{"bs2": "bs1"},
			resolved: 1, unresolved: 0,
		},
		{
			name:     "two NULL rows for one tenant, two batches",
			setup:    []string{`INSERT INTO "BookingSettings" VALUES ('bs2', 'u1', NULL), ('bs1', 'u1', NULL)`},
			batch:    1,
			want:     map[string]string{"bs1": "t1", "bs2": "-"},
			dups:     map[string]string{"bs2": "bs1"},
			resolved: 1, unresolved: 0,
		},
		{
			name:     "three NULL rows for one tenant, unique index built",
			setup:    []string{`INSERT INTO "BookingSettings" VALUES ('bs3', 'u1', NULL), ('bs2', 'u1', NULL), ('bs1', 'u1', NULL)`},
			index:    true,
			batch:    2,
			want:     map[string]string{"bs1": "t1", "bs2": "-", "bs3": "-"},
			dups:     map[string]string{"bs2": "bs1", "bs3": "bs1"},
			resolved: 1, unresolved: 0,
		},
		{
			name:     "NULL row for a tenant without a row",
			setup:    []string{`INSERT INTO "BookingSettings" VALUES ('bs1', 'u1', 't1'), ('bs2', 'u2', NULL)`},
			want:     map[string]string{"bs1": "t1", "bs2": "t2"},
			resolved: 1, unresolved: 0,
		},
		{
			name: "each tenant keeps its first row",
			setup: []string{`INSERT INTO "BookingSettings" VALUES ('bs1', 'u1', NULL), ('bs2', 'u2', NULL), ('bs3', 'u1', NULL),
				('bs4', 'u2', 't2'), ('bs5', NULL, NULL)`},
			batch:    2,
			want:     map[string]string{"bs1": "t1", "bs2": "-", "bs3": "-", "bs4": "t2", "bs5": "-"},
			dups:     map[string]string{"bs2": "bs4", "bs3": "bs1"},
			resolved: 1, unresolved: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := newLegacyDB(t)
			exec(t, db.Owner, settingsSchema...)
			if tc.index {
				exec(t, db.Owner, `CREATE UNIQUE INDEX "BookingSettings_tenantId_key" ON "BookingSettings" ("tenantId")`)
			}
			exec(t, db.Owner, tc.setup...)
			m, err := adopt.ParseMap([]byte(settingsMap))
			if err != nil {
				t.Fatal(err)
			}
			wantDups := int64(len(tc.dups))
			counts := func(res *adopt.BackfillResult) (int64, int64, int64) {
				for _, r := range res.Tables {
					if r.Table == "BookingSettings" {
						return r.Resolved, r.Unresolved, r.Duplicates
					}
				}
				t.Fatalf("no result for BookingSettings in %+v", res.Tables)
				return 0, 0, 0
			}

			dry, err := adopt.Backfill(ctx, db.Owner, m, adopt.BackfillOptions{DryRun: true, BatchSize: tc.batch})
			if err != nil {
				t.Fatal(err)
			}
			if r, u, d := counts(dry); r != tc.resolved || u != tc.unresolved || d != wantDups {
				t.Errorf("dry run: resolved/unresolved/duplicate = %d/%d/%d, want %d/%d/%d", r, u, d, tc.resolved, tc.unresolved, wantDups)
			}
			for _, s := range dry.Sample {
				var key struct{ ID string }
				if err := json.Unmarshal([]byte(s.Key), &key); err != nil {
					t.Fatal(err)
				}
				if s.Reason == "duplicate" && (tc.dups[key.ID] == "" || !strings.Contains(s.Detail, tc.dups[key.ID])) {
					t.Errorf("dry run: duplicate %s: detail %q does not name the row that keeps the tenant", s.Key, s.Detail)
				}
			}

			res, err := adopt.Backfill(ctx, db.Owner, m, adopt.BackfillOptions{BatchSize: tc.batch})
			if err != nil {
				t.Fatal(err)
			}
			if r, u, d := counts(res); r != tc.resolved || u != tc.unresolved || d != wantDups {
				t.Errorf("backfill: resolved/unresolved/duplicate = %d/%d/%d, want %d/%d/%d", r, u, d, tc.resolved, tc.unresolved, wantDups)
			}
			got := tenantsOf(t, db.Owner, "BookingSettings")
			for id, want := range tc.want {
				if got[id] != want {
					t.Errorf("%s: tenant %q, want %q", id, got[id], want)
				}
			}
			reasons, details := quarantined(t, db.Owner, "BookingSettings")
			for id, holder := range tc.dups {
				if reasons[id] != "duplicate" {
					t.Errorf("%s: quarantined as %q, want duplicate", id, reasons[id])
				}
				if !strings.Contains(details[id], holder) || !strings.Contains(details[id], "tenantId") {
					t.Errorf("%s: detail %q does not name the key and the row %s that keeps it", id, details[id], holder)
				}
			}
			for id, reason := range reasons {
				if reason == "duplicate" && tc.dups[id] == "" {
					t.Errorf("%s: quarantined as a duplicate", id)
				}
			}
			// No tenant now holds two settings rows.
			if n := queryInt(t, db.Owner, `SELECT count(*) FROM (SELECT "tenantId" FROM "BookingSettings" WHERE "tenantId" IS NOT NULL
				GROUP BY 1 HAVING count(*) > 1) AS x`); n != 0 {
				t.Errorf("%d tenants hold more than one settings row", n)
			}
		})
	}
}

// Per-tenant unique keys other than a singleton's: a unique index that includes the tenant is
// checked the same way (NULL key columns never collide), in the batch statement itself, so a
// dry run sees the duplicates too.
func TestBackfillQuarantinesPerTenantKeyDuplicates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newLegacyDB(t)
	exec(t, db.Owner, settingsSchema...)
	exec(t, db.Owner,
		`CREATE TABLE "Service" ("id" text PRIMARY KEY, "ownerId" text REFERENCES "User", "slug" text, "tenantId" text REFERENCES "Tenant")`,
		`CREATE UNIQUE INDEX "Service_tenantId_slug_key" ON "Service" ("tenantId", "slug")`,
		`INSERT INTO "Service" VALUES ('s1', 'u1', 'a', 't1'), ('s2', 'u1', 'a', NULL), ('s3', 'u1', NULL, NULL), ('s4', 'u1', NULL, NULL),
			('s5', 'u1', 'b', NULL), ('s6', 'u1', 'b', NULL), ('s7', 'u2', 'a', NULL), ('s8', 'u2', 'b', NULL)`,
	)
	m, err := adopt.ParseMap([]byte(`
tenants: {table: Tenant, key: id, type: text}
tenant_column: tenantId
tables:
  - table: User
  - table: Service
    derive:
      - name: owner
        path: [{from: ownerId, to: User}]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"s1": "t1", "s2": "-", "s3": "t1", "s4": "t1", "s5": "t1", "s6": "-", "s7": "t2", "s8": "t2"}
	dups := map[string]string{"s2": "s1", "s6": "s5"}
	for _, dryRun := range []bool{true, false} {
		res, err := adopt.Backfill(ctx, db.Owner, m, adopt.BackfillOptions{DryRun: dryRun, BatchSize: 3})
		if err != nil {
			t.Fatal(err)
		}
		tot := res.Totals()
		if tot.Resolved != 5 || tot.Duplicates != 2 || tot.Conflicts != 0 || tot.Unresolved != 0 {
			t.Errorf("dry run %v: resolved/conflict/unresolved/duplicate = %d/%d/%d/%d, want 5/0/0/2", dryRun,
				tot.Resolved, tot.Conflicts, tot.Unresolved, tot.Duplicates)
		}
	}
	got := tenantsOf(t, db.Owner, "Service")
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: tenant %q, want %q", id, got[id], w)
		}
	}
	reasons, details := quarantined(t, db.Owner, "Service")
	for id, holder := range dups {
		if reasons[id] != "duplicate" || !strings.Contains(details[id], holder) || !strings.Contains(details[id], "slug") {
			t.Errorf("%s: quarantined as %q (%q), want a duplicate naming slug and row %s", id, reasons[id], details[id], holder)
		}
	}
	if len(reasons) != len(dups) {
		t.Errorf("quarantine holds %v, want only %v", reasons, dups)
	}
}

// The documented order — report nulls, backfill, decide the quarantine, harden apply — ends
// hardened on a database whose singleton had a second, NULL-tenant row; also when harden
// already ran once before the backfill (and built the singleton's unique index then).
func TestAdoptionOrderWithSingletonDuplicate(t *testing.T) {
	t.Parallel()
	for _, hardenFirst := range []bool{false, true} {
		name := "report, backfill, harden"
		if hardenFirst {
			name = "harden first, then the documented order"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := newLegacyDB(t)
			exec(t, db.Owner, settingsSchema...)
			exec(t, db.Owner, `INSERT INTO "BookingSettings" VALUES ('bs1', 'u1', 't1'), ('bs2', 'u1', NULL), ('bs3', 'u2', NULL)`)
			m, err := adopt.ParseMap([]byte(settingsMap))
			if err != nil {
				t.Fatal(err)
			}
			if hardenFirst {
				_, err := adopt.ApplyHarden(ctx, db.Owner, m, adopt.HardenOptions{})
				var refusal *adopt.NullsRemainError
				if !errors.As(err, &refusal) {
					t.Fatalf("harden before the backfill: %v, want a refusal while NULLs remain", err)
				}
			}
			counts, err := adopt.ReportNulls(ctx, db.Owner, m)
			if err != nil {
				t.Fatal(err)
			}
			if counts[1].Table != "BookingSettings" || counts[1].Nulls != 2 {
				t.Fatalf("report nulls: %+v, want 2 NULL tenants in BookingSettings", counts)
			}
			res, err := adopt.Backfill(ctx, db.Owner, m, adopt.BackfillOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if tot := res.Totals(); tot.Resolved != 1 || tot.Duplicates != 1 {
				t.Fatalf("backfill resolved %d and found %d duplicates, want bs3 resolved and bs2 a duplicate", tot.Resolved, tot.Duplicates)
			}
			q, err := adopt.Quarantine(ctx, db.Owner, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(q.Rows) != 1 || q.Rows[0].Reason != "duplicate" || !strings.Contains(q.Rows[0].Key, "bs2") {
				t.Fatalf("quarantine: %+v, want bs2 as a duplicate", q.Rows)
			}
			// The operator's decision: the second settings row goes.
			exec(t, db.Owner, `DELETE FROM "BookingSettings" WHERE "id" = 'bs2'`)
			var log bytes.Buffer
			if _, err := adopt.ApplyHarden(ctx, db.Owner, m, adopt.HardenOptions{Log: &log}); err != nil {
				t.Fatalf("harden apply: %v\n%s", err, log.String())
			}
			if got := tenantsOf(t, db.Super, "BookingSettings"); got["bs1"] != "t1" || got["bs3"] != "t2" || len(got) != 2 {
				t.Fatalf("settings after harden: %v", got)
			}
			findings, err := catalog.Audit(ctx, db.App, m.AuditOptions())
			if err != nil || len(findings) > 0 {
				t.Fatalf("check schema after harden: %v %+v", err, findings)
			}
		})
	}
}

// When harden cannot build a unique index because rows collide (rows given their tenant by
// hand, or before this backfill checked the key), its error names the colliding values and
// rows, so the operator knows what to fix.
func TestHardenNamesUniqueCollisions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newLegacyDB(t)
	exec(t, db.Owner, settingsSchema...)
	exec(t, db.Owner, `INSERT INTO "BookingSettings" VALUES ('bs1', 'u1', 't1'), ('bs2', 'u1', 't1'), ('bs3', 'u2', 't2'),
		('bs4', 'u2', 't2'), ('bs5', 'u2', 't2'), ('bs6', NULL, NULL), ('bs7', 'u2', 't2'), ('bs8', 'u2', 't2'), ('bs9', 'u2', 't2')`)
	m, err := adopt.ParseMap([]byte(settingsMap))
	if err != nil {
		t.Fatal(err)
	}
	_, err = adopt.ApplyHarden(ctx, db.Owner, m, adopt.HardenOptions{})
	if err == nil {
		t.Fatal("harden built a singleton index over tenants with two rows")
	}
	msg := err.Error()
	// t2 has six rows: the first five by key are named, and how many more there are.
	for _, want := range []string{"BookingSettings", "tenantId", "t1", "bs1", "bs2", "t2", "bs3", "bs4", "bs5", "bs7", "bs8", "1 more", "harden apply again"} {
		if !strings.Contains(msg, want) {
			t.Errorf("harden error does not name %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "bs6") || strings.Contains(msg, "bs9") {
		t.Errorf("harden error names bs6, which collides with nothing, or bs9, the sixth row of t2:\n%s", msg)
	}
	if n := queryInt(t, db.Super, `SELECT count(*) FROM pg_index WHERE NOT indisvalid`); n != 0 {
		t.Fatalf("%d invalid indexes left behind", n)
	}
}
