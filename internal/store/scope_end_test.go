package store_test

import (
	"context"
	"errors"
	"testing"

	"tenantd/internal/store"
)

// End(commit) reports what PostgreSQL did: a transaction one of whose statements failed is
// rolled back by COMMIT, without an error from PostgreSQL, and End must say so (and tell its
// AfterEnd hooks) rather than report a commit that did not happen.
func TestScopeEndReportsRolledBackCommit(t *testing.T) {
	cases := []struct {
		name          string
		failSecond    bool
		wantErr       error
		wantCommitted bool
	}{
		{name: "every statement succeeded", wantCommitted: true},
		{name: "a statement failed and its error was ignored", failSecond: true, wantErr: store.ErrRolledBack},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			acme := f.demo.Acme.ID
			sc := f.st.TrustedScope(acme, false)
			if err := sc.Begin(ctx); err != nil {
				t.Fatal(err)
			}
			var committed *bool
			sc.AfterEnd(func(c bool) { committed = &c })
			in := store.ServiceInput{Slug: "end-check", Name: "End check", DurationMinutes: 30, Currency: "USD", Active: true}
			if _, err := sc.CreateService(ctx, in); err != nil {
				t.Fatal(err)
			}
			if tc.failSecond {
				// The same slug again: a uniqueness violation aborts the transaction.
				if _, err := sc.CreateService(ctx, in); !errors.Is(err, store.ErrConflict) {
					t.Fatalf("second insert: %v, want a conflict", err)
				}
			}
			err := sc.End(ctx, true)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("End: %v, want %v", err, tc.wantErr)
			}
			if committed == nil || *committed != tc.wantCommitted {
				t.Fatalf("AfterEnd told committed=%v, want %v", committed, tc.wantCommitted)
			}
			var n int
			if err := f.super.QueryRow(ctx, `SELECT count(*) FROM services WHERE tenant_id = $1 AND slug = 'end-check'`, acme).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.wantCommitted]; n != want {
				t.Fatalf("%d rows kept, want %d", n, want)
			}
			// The connection went back to the pool clean: the next scope works.
			if _, err := f.st.TrustedScope(acme, true).ListServices(ctx, store.Page{Limit: 10}, false); err != nil {
				t.Fatalf("next scope: %v", err)
			}
		})
	}
}
