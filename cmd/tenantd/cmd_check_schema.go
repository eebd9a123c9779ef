package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"tenantd/internal/store/adopt"
	"tenantd/internal/store/catalog"
)

// runCheckSchema is `tenantd check schema`: it audits the live catalog against the data rules
// of SPEC §6 for every tenant-owned table and prints a table of findings. Any finding is exit
// status 1, so CI can gate on it. Reading the catalog needs no privilege, so the application
// role's DATABASE_URL is the default; the owner's MIGRATE_DATABASE_URL works as well.
func runCheckSchema(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("schema", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: tenantd check schema [--database-url URL] [--map FILE] [--app-role ROLE]

Audits every tenant-owned table (by default: each table of schema public with a tenant_id
column; with --map: the map's tables) for a NOT NULL tenant with a cascading FK to tenants,
composite FKs between tenant-owned tables, tenant in every primary key and unique index,
indexes leading with the tenant, row level security enabled and forced with a well-formed
policy over a STABLE tenant function, and an application role that is neither owner,
superuser nor BYPASSRLS. Exits 1 on any finding.`)
		fs.PrintDefaults()
	}
	dbURL := fs.String("database-url", "", "database to audit (default $DATABASE_URL, else $MIGRATE_DATABASE_URL)")
	mapFile := fs.String("map", "", "tenancy map naming the tenant-owned tables (YAML or JSON)")
	appRole := fs.String("app-role", "", "the role the application connects as (default: the map's, else tenantd_app)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitError{0}
		}
		return exitError{2}
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "tenantd check schema: unexpected argument %q\n", fs.Arg(0))
		return exitError{2}
	}
	url := *dbURL
	if url == "" {
		url = os.Getenv("DATABASE_URL")
	}
	if url == "" {
		url = os.Getenv("MIGRATE_DATABASE_URL")
	}
	if url == "" {
		return errors.New("no database: set DATABASE_URL or pass --database-url")
	}
	opts := catalog.DefaultOptions()
	if *mapFile != "" {
		m, err := adopt.LoadMap(*mapFile)
		if err != nil {
			return err
		}
		opts = m.AuditOptions()
	}
	if *appRole != "" {
		opts.AppRole = *appRole
	}
	rep, err := catalog.AuditReport(ctx, url, opts)
	if err != nil {
		return err
	}
	if err := catalog.Print(os.Stdout, rep); err != nil {
		return err
	}
	if len(rep.Findings) > 0 {
		return exitError{1}
	}
	return nil
}
