package tenantlint

import "testing"

func TestIdentityHeader(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"X-Tenant-Id", true},
		{"x-tenant-id", true},
		{"X-TENANT-SIG", true},
		{"X-Tenant-Slug", true},
		{"X-Tenant", true},
		{"X-User-Id", true},
		{"x-user-id", true},
		{"X-User-ID", true},
		{"X-Tenantd-Version", false},
		{"X-User-Ids", false},
		{"X-User-Name", false},
		{"X-Request-Id", false},
		{"Tenant-Id", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := identityHeader(tt.name); got != tt.want {
			t.Errorf("identityHeader(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestIsDriver(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"database/sql", true},
		{"database/sql/driver", true},
		{"github.com/lib/pq", true},
		{"github.com/lib/pq/oid", true},
		{"github.com/jackc/pgx", true},
		{"github.com/jackc/pgx/v5", true},
		{"github.com/jackc/pgx/v5/pgxpool", true},
		{"github.com/jackc/pgx/v5/stdlib", true},
		{"github.com/jackc/pgxlisten", false},
		{"github.com/lib/pqx", false},
		{"database/sqlx", false},
		{"github.com/jackc/pgpassfile", false},
		{"tenantd/internal/store", false},
	}
	for _, tt := range tests {
		if got := isDriver(tt.path); got != tt.want {
			t.Errorf("isDriver(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestDriverAllowed(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"tenantd/internal/store", true},
		{"tenantd/internal/store/queries", true},
		{"tenantd/internal/store/migrations", true},
		{"tenantd/internal/pgtest", true},
		{"tenantd/internal/storefront", false},
		{"tenantd/internal/pgtestutil", false},
		{"tenantd/internal/httpapi", false},
		{"tenantd/cmd/tenantd", false},
		{"tenantd", false},
	}
	for _, tt := range tests {
		if got := driverAllowed(tt.path); got != tt.want {
			t.Errorf("driverAllowed(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}
