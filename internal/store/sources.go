package store

import (
	"embed"
	"io/fs"
)

// Sources are this package's Go files, compiled into the binary so that `tenantd check
// coverage` can show, from the very build that runs, that every SQL statement touching a
// tenant-owned table carries a tenant predicate. The pattern also matches _test.go files; the
// coverage parser skips them.
//
//go:embed *.go
var Sources embed.FS

// MigrationFiles are the embedded schema migrations (under "migrations/"). The coverage report
// reads the tenant-owned tables from them when it has no database to ask.
var MigrationFiles fs.FS = migrationFiles
