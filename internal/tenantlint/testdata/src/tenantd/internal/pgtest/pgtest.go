// Package pgtest creates throwaway databases for tests.
package pgtest

import _ "github.com/jackc/pgx/v5"
