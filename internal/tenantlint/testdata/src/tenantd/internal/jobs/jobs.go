// Package jobs must not hold a connection of its own.
package jobs

import (
	_ "database/sql"        // want `imports database driver "database/sql": only tenantd/internal/store`
	_ "database/sql/driver" // want `imports database driver "database/sql/driver"`

	_ "github.com/jackc/pgx/v5" // want `imports database driver "github.com/jackc/pgx/v5"`
	_ "github.com/lib/pq"       // want `imports database driver "github.com/lib/pq"`

	_ "database/sqlx" // not a driver path
)
