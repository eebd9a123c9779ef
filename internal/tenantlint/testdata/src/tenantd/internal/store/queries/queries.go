// Package queries is generated query code under the store.
package queries

import (
	_ "database/sql/driver"

	_ "github.com/jackc/pgx/v5"
)
