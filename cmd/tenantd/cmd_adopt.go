package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"tenantd/internal/store/adopt"
)

// The adoption toolkit (SPEC §8): bring an existing shared-schema database whose tenant column
// is nullable up to the data contract. All three commands connect as the schema owner
// (MIGRATE_DATABASE_URL): they read every tenant's rows and change the schema.
func init() {
	register(command{name: "report", summary: "nulls|quarantine: rows without a tenant, and rows the backfill could not decide", run: runReport})
	register(command{name: "backfill", summary: "set missing tenants from related rows (resumable; --dry-run)", run: runBackfill})
	register(command{name: "harden", summary: "plan|apply: add NOT NULL, composite keys and RLS without long locks", run: runHarden})
}

// adoptFlags are the flags every adoption command takes.
type adoptFlags struct {
	databaseURL string
	mapFile     string
}

func (f *adoptFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.databaseURL, "database-url", "", "owner connection URL (default $MIGRATE_DATABASE_URL)")
	fs.StringVar(&f.mapFile, "map", "", "tenancy map, YAML or JSON (default: the embedded map of tenantd's own schema)")
}

func (f *adoptFlags) resolve() (string, *adopt.Map, error) {
	url := f.databaseURL
	if url == "" {
		url = os.Getenv("MIGRATE_DATABASE_URL")
	}
	if url == "" {
		return "", nil, errors.New("no database: set MIGRATE_DATABASE_URL (the schema owner) or pass --database-url")
	}
	if f.mapFile == "" {
		return url, adopt.DefaultMap(), nil
	}
	m, err := adopt.LoadMap(f.mapFile)
	return url, m, err
}

// adoptParse parses flags; -h is a clean exit and a usage error exits 2.
func adoptParse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitError{0}
		}
		return exitError{2}
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "tenantd %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitError{2}
	}
	return nil
}

func runReport(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "nulls" && args[0] != "quarantine") {
		fmt.Fprintln(os.Stderr, "usage: tenantd report nulls|quarantine [--database-url URL] [--map FILE]")
		return exitError{2}
	}
	var af adoptFlags
	fs := flag.NewFlagSet("report "+args[0], flag.ContinueOnError)
	af.register(fs)
	limit := fs.Int("limit", 50, "quarantine: rows to list")
	if err := adoptParse(fs, args[1:]); err != nil {
		return err
	}
	url, m, err := af.resolve()
	if err != nil {
		return err
	}
	if args[0] == "quarantine" {
		rep, err := adopt.Quarantine(ctx, url, *limit)
		if err != nil {
			return err
		}
		if err := adopt.PrintQuarantine(os.Stdout, rep); err != nil {
			return err
		}
		if len(rep.Counts) > 0 {
			return exitError{1}
		}
		return nil
	}
	counts, err := adopt.ReportNulls(ctx, url, m)
	if err != nil {
		return err
	}
	if err := adopt.PrintNulls(os.Stdout, counts); err != nil {
		return err
	}
	// The exit status is the answer scripts need: 0 when every row has a tenant.
	for _, c := range counts {
		if c.Nulls > 0 {
			return exitError{1}
		}
	}
	return nil
}

func runBackfill(ctx context.Context, args []string) error {
	var af adoptFlags
	var opts adopt.BackfillOptions
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	af.register(fs)
	fs.BoolVar(&opts.DryRun, "dry-run", false, "decide every row and report, but write nothing")
	fs.IntVar(&opts.BatchSize, "batch", 5000, "rows without a tenant per batch (one short transaction each)")
	fs.Func("table", "only this mapped table (repeatable, or comma-separated); run parents first", func(v string) error {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				opts.Tables = append(opts.Tables, t)
			}
		}
		return nil
	})
	fs.BoolVar(&opts.Restart, "restart", false, "abandon an unfinished run instead of resuming it")
	fs.IntVar(&opts.Workers, "workers", 2, "connections backfilling independent tables at once")
	fs.DurationVar(&opts.LockTimeout, "lock-timeout", 2*time.Second, "longest wait for a row a writer holds before the batch is retried")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := adoptParse(fs, args); err != nil {
		return err
	}
	url, m, err := af.resolve()
	if err != nil {
		return err
	}
	// The bar's total is the number of rows without a tenant now; rows of a cycle of tables
	// may be examined more than once, so the bar can finish early and then wait.
	var bar *progressbar.ProgressBar
	if !*quiet {
		counts, err := adopt.ReportNulls(ctx, url, m)
		if err != nil {
			return err
		}
		var total int64
		for _, c := range counts {
			total += c.Nulls
		}
		desc := "backfill"
		if opts.DryRun {
			desc = "backfill (dry run)"
		}
		bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish(), progressbar.OptionSetPredictTime(true))
		opts.OnBatch = func(p adopt.BatchProgress) {
			_ = bar.Add64(p.Rows) // a bar that cannot draw must not stop the backfill
		}
	}
	res, err := adopt.Backfill(ctx, url, m, opts)
	if bar != nil {
		_ = bar.Finish()
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "tenantd backfill: interrupted; run it again to resume from the last committed batch")
		}
		return err
	}
	if err := adopt.PrintBackfill(os.Stdout, res); err != nil {
		return err
	}
	if len(res.Sample) > 0 {
		fmt.Println()
		if res.DryRun {
			fmt.Println("rows that would be quarantined:")
		} else {
			fmt.Printf("quarantined rows (copied to %s.quarantine with the reason, left unchanged; `tenantd report quarantine` lists them):\n", adopt.StateSchema)
		}
		if err := adopt.PrintQuarantinedRows(os.Stdout, res.Sample); err != nil {
			return err
		}
	}
	if q := res.Totals().Quarantined(); q > 0 && !res.DryRun {
		fmt.Printf("\n%d row(s) need a decision (`tenantd report quarantine` lists them): give each a tenant (then run backfill again so its children follow) or delete it; a duplicate can take its tenant only once the row that holds its key is gone; harden refuses NOT NULL until then\n", q)
	}
	return nil
}

func runHarden(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "plan" && args[0] != "apply") {
		fmt.Fprintln(os.Stderr, "usage: tenantd harden plan|apply [--database-url URL] [--map FILE] [--lock-timeout D]")
		return exitError{2}
	}
	var af adoptFlags
	var opts adopt.HardenOptions
	fs := flag.NewFlagSet("harden "+args[0], flag.ContinueOnError)
	af.register(fs)
	fs.DurationVar(&opts.LockTimeout, "lock-timeout", 300*time.Millisecond, "apply: longest wait for a writer-blocking lock before the step is retried")
	fs.DurationVar(&opts.StatementTimeout, "statement-timeout", 5*time.Second, "apply: longest a writer-blocking step may run once it holds its lock")
	fs.IntVar(&opts.Retries, "retries", 60, "apply: retries per step after a lock timeout")
	if err := adoptParse(fs, args[1:]); err != nil {
		return err
	}
	url, m, err := af.resolve()
	if err != nil {
		return err
	}
	if args[0] == "plan" {
		p, err := adopt.PlanHarden(ctx, url, m)
		if err != nil {
			return err
		}
		if err := adopt.PrintPlan(os.Stdout, p); err != nil {
			return err
		}
		if len(p.Blockers) > 0 {
			return exitError{1}
		}
		return nil
	}
	opts.Log = os.Stdout
	res, err := adopt.ApplyHarden(ctx, url, m, opts)
	if res != nil {
		fmt.Printf("\n%d step(s) in %s, %d retried lock timeout(s); longest writer-blocking lock %s",
			len(res.Steps), res.Elapsed.Round(time.Millisecond), res.Retries, res.LongestBlocking.Round(100*time.Microsecond))
		if res.LongestBlockingStep != "" {
			fmt.Printf(" (%s)", res.LongestBlockingStep)
		}
		fmt.Println()
	}
	var refusal *adopt.NullsRemainError
	if errors.As(err, &refusal) {
		fmt.Fprintln(os.Stderr, "tenantd harden:", err)
		return exitError{1}
	}
	return err
}
