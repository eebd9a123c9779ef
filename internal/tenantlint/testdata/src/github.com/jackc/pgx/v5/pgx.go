// Package pgx is a stub of the pgx driver for tests.
package pgx

// Conn is a stub connection.
type Conn struct{}
