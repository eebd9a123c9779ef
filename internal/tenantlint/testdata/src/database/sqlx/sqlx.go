// Package sqlx only shares a prefix with database/sql.
package sqlx
