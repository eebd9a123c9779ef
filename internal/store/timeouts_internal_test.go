package store

import "testing"

// The application role's pool asks for connectionTimeouts unless the database URL names its
// own values, which win (a value of 0 switches a timeout off).
func TestPoolConfigTimeouts(t *testing.T) {
	cases := []struct {
		name        string
		url         string
		wantStmt    string
		wantIdleTxn string
	}{
		{"defaults", "postgres:///tenantd?host=/tmp", "30s", "60s"},
		{"the URL's values", "postgres:///tenantd?host=/tmp&statement_timeout=5s&idle_in_transaction_session_timeout=0", "5s", "0"},
		{"one from the URL, one default", "postgres:///tenantd?host=/tmp&statement_timeout=2min", "2min", "60s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := poolConfig(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			p := cfg.ConnConfig.RuntimeParams
			if p["statement_timeout"] != tc.wantStmt || p["idle_in_transaction_session_timeout"] != tc.wantIdleTxn {
				t.Fatalf("statement_timeout %q, idle_in_transaction_session_timeout %q; want %q, %q",
					p["statement_timeout"], p["idle_in_transaction_session_timeout"], tc.wantStmt, tc.wantIdleTxn)
			}
		})
	}
}
