// Command tenantlint checks tenantd's tenant-isolation rules: one route
// table, an explicit kind and permission on every route, the database
// driver only in the store, and no identity read from request headers.
//
// Run it on its own:
//
//	go run ./cmd/tenantlint ./...
//
// or as a vet tool:
//
//	go build -o /tmp/tenantlint ./cmd/tenantlint
//	go vet -vettool=/tmp/tenantlint ./...
package main

import (
	"golang.org/x/tools/go/analysis/singlechecker"

	"tenantd/internal/tenantlint"
)

func main() { singlechecker.Main(tenantlint.Analyzer) }
