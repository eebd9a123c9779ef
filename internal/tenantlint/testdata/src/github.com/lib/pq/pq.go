// Package pq is a stub of the lib/pq driver for tests.
package pq

// Driver is a stub driver.
type Driver struct{}
