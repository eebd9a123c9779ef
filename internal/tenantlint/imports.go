package tenantlint

import (
	"strconv"
	"strings"

	"golang.org/x/tools/go/analysis"
)

// driverImports are the import paths (and, with a trailing slash, path
// prefixes) of database drivers. Only the store may hold the pool: if any
// other package could open a connection or run a query, that query would
// not pass through the tenant scope that sets app.tenant_id and adds the
// tenant_id predicate.
var driverImports = []string{
	"database/sql",
	"database/sql/driver",
	"github.com/lib/pq",
	"github.com/lib/pq/",
	"github.com/jackc/pgx",
	"github.com/jackc/pgx/",
}

// driverAllowed reports whether the package at path may import a driver:
// the store and its subpackages, and the pgtest helper that creates
// throwaway databases for tests.
func driverAllowed(path string) bool {
	return path == storePath || strings.HasPrefix(path, storePath+"/") || path == pgtestPath
}

// isDriver reports whether the import path names a database driver.
func isDriver(path string) bool {
	for _, d := range driverImports {
		if path == d || (strings.HasSuffix(d, "/") && strings.HasPrefix(path, d)) {
			return true
		}
	}
	return false
}

// checkImports reports driver imports outside the store. Test files are
// exempt: they may need a raw connection to prove what the store does.
func checkImports(pass *analysis.Pass) {
	if driverAllowed(pkgPath(pass.Pkg)) {
		return
	}
	for _, f := range pass.Files {
		if strings.HasSuffix(pass.Fset.File(f.Pos()).Name(), "_test.go") {
			continue
		}
		for _, spec := range f.Imports {
			path, err := strconv.Unquote(spec.Path.Value)
			if err != nil || !isDriver(path) {
				continue
			}
			pass.Reportf(spec.Pos(), "%s imports database driver %q: only %s (and %s) "+
				"may hold a connection; call the store through a tenant scope instead",
				pkgPath(pass.Pkg), path, storePath, pgtestPath)
		}
	}
}
