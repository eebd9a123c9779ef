package adopt_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"tenantd/internal/store"
	"tenantd/internal/store/adopt"
	"tenantd/internal/store/catalog"
)

const (
	privTenant1 = "00000000-0000-0000-0000-000000000001"
	privTenant2 = "00000000-0000-0000-0000-000000000002"
)

// The application role must end harden without TRUNCATE, REFERENCES or TRIGGER on a mapped
// table by any route: granted to it, to PUBLIC, or to a role it belongs to. What harden can
// revoke as the owner it revokes (and the next plan is empty); what needs a decision (a role
// membership, a grant made by another role) is a blocker naming the role, and apply refuses.
func TestHardenRevokesPrivilegesByEveryRoute(t *testing.T) {
	t.Parallel()
	app := store.AppRole
	cases := []struct {
		name string
		// setup runs as the owner after the tables exist; {role} is a role private to the
		// test, {app} the application role the map names.
		setup []string
		super []string // then as the superuser
		// appRole overrides the map's app_role ({role}: the private role).
		appRole string
		// blockers the plan must report (substrings, each in some blocker); none: apply
		// must succeed and converge.
		blockers []string
		// fix resolves the blockers, as the superuser; apply must then succeed and converge.
		fix []string
	}{
		{name: "no grants"},
		{name: "direct grant", setup: []string{`GRANT ALL ON notes TO {app}`}},
		{name: "PUBLIC grant", setup: []string{`GRANT ALL ON notes TO PUBLIC`}},
		{name: "PUBLIC TRUNCATE only", setup: []string{`GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO {app}`, `GRANT TRUNCATE ON notes TO PUBLIC`}},
		{name: "direct and PUBLIC grants", setup: []string{`GRANT ALL ON notes TO {app}`, `GRANT TRUNCATE, TRIGGER ON notes TO PUBLIC`}},
		{
			name:     "through a role membership",
			super:    []string{`CREATE ROLE {role} NOLOGIN`, `GRANT ALL ON notes TO {role}`, `GRANT {role} TO {app}`},
			blockers: []string{`holds TRUNCATE, REFERENCES, TRIGGER through role {role}`},
			fix:      []string{`REVOKE {role} FROM {app}`},
		},
		{
			name:     "through a role membership and PUBLIC",
			setup:    []string{`GRANT ALL ON notes TO PUBLIC`},
			super:    []string{`CREATE ROLE {role} NOLOGIN`, `GRANT TRUNCATE ON notes TO {role}`, `GRANT {role} TO {app}`},
			blockers: []string{`holds TRUNCATE through role {role}`},
			fix:      []string{`REVOKE TRUNCATE ON notes FROM {role}`},
		},
		{
			name: "granted by another role",
			super: []string{`CREATE ROLE {role} NOLOGIN`, `GRANT TRUNCATE ON notes TO {role} WITH GRANT OPTION`,
				`SET ROLE {role}`, `GRANT TRUNCATE ON notes TO {app}`, `GRANT TRUNCATE ON notes TO PUBLIC`, `RESET ROLE`},
			blockers: []string{`{app} was granted TRUNCATE by {role}`, `PUBLIC was granted TRUNCATE by {role}`},
			fix:      []string{`REVOKE GRANT OPTION FOR TRUNCATE ON notes FROM {role} CASCADE`},
		},
		{
			name:     "superuser application role",
			super:    []string{`CREATE ROLE {role} NOLOGIN SUPERUSER`},
			appRole:  "{role}",
			blockers: []string{`application role {role} is a superuser`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := newLegacyDB(t)
			// Roles are cluster-wide: each case gets its own, dropped before its database.
			role := db.Name + "_r"
			r := strings.NewReplacer("{role}", catalog.Ident(role), "{app}", catalog.Ident(app))
			sub := func(stmts []string) []string {
				out := make([]string, len(stmts))
				for i, s := range stmts {
					out[i] = r.Replace(s)
				}
				return out
			}
			t.Cleanup(func() {
				exec(t, db.Super, r.Replace(`DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '`+role+`') THEN
					DROP OWNED BY {role}; DROP ROLE {role}; END IF; END $$`))
			})
			exec(t, db.Owner, `CREATE TABLE tenants (id uuid PRIMARY KEY)`,
				`CREATE TABLE notes (id uuid PRIMARY KEY, tenant_id uuid REFERENCES tenants(id), body text)`,
				`INSERT INTO tenants VALUES ('`+privTenant1+`'), ('`+privTenant2+`')`,
				`INSERT INTO notes SELECT gen_random_uuid(), t, 'x' FROM unnest(ARRAY['`+privTenant1+`', '`+privTenant2+`']::uuid[]) t, generate_series(1, 3)`)
			exec(t, db.Owner, sub(tc.setup)...)
			exec(t, db.Super, sub(tc.super)...)
			mapText := "tenants: {table: tenants}\ntables:\n  - table: notes\n"
			if tc.appRole != "" {
				mapText = "app_role: " + strings.ReplaceAll(tc.appRole, "{role}", role) + "\n" + mapText
			}
			m, err := adopt.ParseMap([]byte(mapText))
			if err != nil {
				t.Fatal(err)
			}

			if len(tc.blockers) > 0 {
				plan, err := adopt.PlanHarden(ctx, db.Owner, m)
				if err != nil {
					t.Fatal(err)
				}
				var b bytes.Buffer
				if err := adopt.PrintPlan(&b, plan); err != nil {
					t.Fatal(err)
				}
				t.Logf("plan:\n%s", b.String())
				for _, want := range tc.blockers {
					want = strings.NewReplacer("{role}", role, "{app}", app).Replace(want)
					if !containsSubstring(plan.Blockers, want) {
						t.Errorf("plan has no blocker %q:\n%s", want, b.String())
					}
				}
				if !strings.Contains(b.String(), "blocked: ") {
					t.Errorf("printed plan shows no blocker:\n%s", b.String())
				}
				_, err = adopt.ApplyHarden(ctx, db.Owner, m, adopt.HardenOptions{})
				if err == nil || !strings.Contains(err.Error(), "harden cannot proceed") || !strings.Contains(err.Error(), role) {
					t.Fatalf("apply with a blocker: %v, want a refusal naming %s", err, role)
				}
				if n := queryInt(t, db.Super, `SELECT count(*) FROM pg_class WHERE oid = 'notes'::regclass AND relrowsecurity`); n != 0 {
					t.Fatal("apply refused but changed the table")
				}
				if len(tc.fix) == 0 {
					return
				}
				exec(t, db.Super, sub(tc.fix)...)
			}

			if _, err := adopt.ApplyHarden(ctx, db.Owner, m, adopt.HardenOptions{}); err != nil {
				t.Fatalf("apply: %v", err)
			}
			plan, err := adopt.PlanHarden(ctx, db.Owner, m)
			if err != nil {
				t.Fatal(err)
			}
			if len(plan.Steps) > 0 || len(plan.Blockers) > 0 {
				var b bytes.Buffer
				adopt.PrintPlan(&b, plan) //nolint:errcheck // bytes.Buffer
				t.Errorf("harden does not converge; plan after apply:\n%s", b.String())
			}
			for _, priv := range []string{"TRUNCATE", "REFERENCES", "TRIGGER"} {
				if n := queryInt(t, db.Super, `SELECT count(*) WHERE has_table_privilege($1::name, 'notes'::regclass::oid, $2::text)`, app, priv); n != 0 {
					t.Errorf("%s still holds %s on notes after harden", app, priv)
				}
			}
			for _, priv := range []string{"SELECT", "INSERT", "UPDATE", "DELETE"} {
				if n := queryInt(t, db.Super, `SELECT count(*) WHERE has_table_privilege($1::name, 'notes'::regclass::oid, $2::text)`, app, priv); n != 1 {
					t.Errorf("%s lacks %s on notes after harden", app, priv)
				}
			}
			if findings, err := catalog.Audit(ctx, db.App, m.AuditOptions()); err != nil || len(findings) > 0 {
				t.Errorf("check schema after harden: %v %+v", err, findings)
			}

			// The application role, bound to tenant 1, can neither wipe the table nor
			// reach tenant 2's rows.
			conn, err := pgx.Connect(ctx, db.App)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `SELECT set_config('app.tenant_id', $1, true)`, privTenant1); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `TRUNCATE notes`)
				return err
			})
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
				t.Errorf("TRUNCATE notes as %s: %v, want permission denied", app, err)
			}
			if n := queryInt(t, db.Super, `SELECT count(*) FROM notes WHERE tenant_id = $1`, privTenant2); n != 3 {
				t.Errorf("tenant 2 has %d notes, want 3", n)
			}
		})
	}
}

func containsSubstring(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
