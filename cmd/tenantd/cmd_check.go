package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"tenantd/internal/check/coverage"
	"tenantd/internal/check/scope"
	"tenantd/internal/httpapi"
	"tenantd/internal/store"
	"tenantd/internal/tenancy"
)

func init() {
	register(command{name: "check", summary: "schema|scope|coverage: prove tenant isolation (non-zero exit when anything falls short)", run: chkRun})
}

const chkUsage = `usage: tenantd check schema|scope|coverage [flags]

  schema    audit the live database catalog against the data rules (DATABASE_URL)
  scope     probe a running deployment for cross-tenant leaks (--target URL)
  coverage  routes behind the tenant wrapper, tables hardened, queries with a tenant predicate

Run "tenantd check COMMAND -h" for a command's flags.`

// chkRun dispatches `tenantd check`; each proof exits 1 when it finds anything short of the
// contract, so that scripts and CI can rely on the status alone.
func chkRun(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, chkUsage)
		return exitError{2}
	}
	switch args[0] {
	case "schema":
		return runCheckSchema(ctx, args[1:])
	case "scope":
		return chkScope(ctx, args[1:])
	case "coverage":
		return chkCoverage(ctx, args[1:])
	case "-h", "--help", "help":
		fmt.Fprintln(os.Stderr, chkUsage)
		return nil
	}
	fmt.Fprintf(os.Stderr, "tenantd check: unknown check %q\n\n%s\n", args[0], chkUsage)
	return exitError{2}
}

// chkParse parses flags, turning -h into a clean exit.
func chkParse(flags *flag.FlagSet, args []string) error {
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitError{0}
		}
		return exitError{2}
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "tenantd check %s: unexpected argument %q\n", flags.Name(), flags.Arg(0))
		return exitError{2}
	}
	return nil
}

// chkScope runs the black-box probe of a live deployment.
func chkScope(ctx context.Context, args []string) error {
	flags := flag.NewFlagSet("scope", flag.ContinueOnError)
	flags.Usage = func() {
		fmt.Fprintln(flags.Output(), `usage: tenantd check scope --target URL [--token TENANT=TOKEN]... [--operator-token TOKEN] [--credentials FILE] [--base-domain DOMAIN]

Signs in to two tenants (by default the demo users of "tenantd dev"), reads each tenant's ids
from its list routes and tries them as the other tenant on every route of the deployment's
OpenAPI document, together with spoofed tenant headers, the other tenant's host, and forged,
swapped and missing tenant_sig cookies. Discovery uses GETs only; routes that change data only
ever receive "{}" with another tenant's or a random id. Exits 1 on any leak or shortfall.`)
		flags.PrintDefaults()
	}
	var cfg scope.Config
	flags.StringVar(&cfg.Target, "target", "", "base URL of the deployment (required), e.g. http://127.0.0.1:8080")
	flags.StringVar(&cfg.OperatorToken, "operator-token", "", "operator token, also tried on tenant routes (default $TENANTD_OPERATOR_TOKEN)")
	flags.StringVar(&cfg.BaseDomain, "base-domain", "", "domain of the tenant hosts <slug>.DOMAIN (default: the target's host name, or localhost for an IP address)")
	flags.IntVar(&cfg.IDsPerRoute, "ids-per-route", 2, "how many of the other tenant's ids to try per route and caller")
	creds := flags.String("credentials", "", `JSON file of sign-ins: [{"tenant":"acme","email":"...","password":"..."}, ...]`)
	failuresOnly := flags.Bool("failures-only", false, "print only the rows that are not ok")
	flags.Func("token", "an API token as TENANT=TOKEN (repeatable)", func(s string) error {
		t, err := scope.ParseToken(s)
		if err != nil {
			return err
		}
		cfg.Tokens = append(cfg.Tokens, t)
		return nil
	})
	if err := chkParse(flags, args); err != nil {
		return err
	}
	if cfg.Target == "" {
		fmt.Fprintln(os.Stderr, "tenantd check scope: --target is required")
		return exitError{2}
	}
	if cfg.OperatorToken == "" {
		cfg.OperatorToken = os.Getenv("TENANTD_OPERATOR_TOKEN")
	}
	if *creds != "" {
		c, err := scope.LoadCredentials(*creds)
		if err != nil {
			return err
		}
		cfg.Credentials = c
	}
	rep, err := scope.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("check scope: %w", err)
	}
	if err := scope.Print(os.Stdout, rep, *failuresOnly); err != nil {
		return err
	}
	if !rep.OK() {
		return exitError{1}
	}
	return nil
}

// chkCoverage reports the route table, the migrated catalog and the store's SQL as compiled
// into this binary.
func chkCoverage(ctx context.Context, args []string) error {
	flags := flag.NewFlagSet("coverage", flag.ContinueOnError)
	flags.Usage = func() {
		fmt.Fprintln(flags.Output(), `usage: tenantd check coverage [--database-url URL | --skip-database]

Reports, as counts and percentages, the routes behind the tenant wrapper, the tenant-owned
tables with row level security enabled, forced and the tenant policy (read from the migrated
catalog), and the store's SQL statements on tenant-owned tables that carry a tenant predicate
(read from the sources compiled into this binary). Exits 1 below 100%.`)
		flags.PrintDefaults()
	}
	url := flags.String("database-url", "", "the migrated database (default $DATABASE_URL, else $MIGRATE_DATABASE_URL)")
	skip := flags.Bool("skip-database", false, "check routes and queries only (tenant-owned tables from the embedded migrations)")
	if err := chkParse(flags, args); err != nil {
		return err
	}
	if *url == "" {
		*url = env("DATABASE_URL", os.Getenv("MIGRATE_DATABASE_URL"))
	}
	if *skip {
		*url = ""
	} else if *url == "" {
		return errors.New("check coverage: no database: set DATABASE_URL or --database-url, or pass --skip-database to check routes and queries only")
	}
	// The route table needs no database: only a keyring to build the server with.
	kr, err := tenancy.NewKeyring(strings.Repeat("x", tenancy.MinSecretLen), nil)
	if err != nil {
		return err
	}
	migrations, err := fs.Sub(store.MigrationFiles, "migrations")
	if err != nil {
		return err
	}
	rep, err := coverage.Run(ctx, coverage.Options{
		Routes:          httpapi.New(nil, httpapi.Config{Keyring: kr}).Routes(),
		RouteExceptions: coverage.DefaultRouteExceptions,
		DatabaseURL:     *url,
		Sources:         store.Sources,
		Migrations:      migrations,
		QueryExceptions: coverage.DefaultExceptions,
	})
	if err != nil {
		return fmt.Errorf("check coverage: %w", err)
	}
	if err := coverage.Print(os.Stdout, rep); err != nil {
		return err
	}
	if !rep.OK() {
		return exitError{1}
	}
	return nil
}
