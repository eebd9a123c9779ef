// Package invariant holds tests that read the whole source tree to prove rules no single
// package can: that the shipped program has no way around its own isolation (no debug bypass,
// no hidden configuration switch, no test fixture reachable from the binary).
package invariant
