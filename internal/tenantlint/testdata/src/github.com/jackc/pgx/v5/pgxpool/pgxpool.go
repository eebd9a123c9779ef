// Package pgxpool is a stub of the pgx pool for tests.
package pgxpool

// Pool is a stub pool.
type Pool struct{}
