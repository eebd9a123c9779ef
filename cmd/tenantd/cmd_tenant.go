package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"golang.org/x/term"

	"tenantd/internal/httpapi"
	"tenantd/internal/store"
)

func init() {
	register(command{name: "tenant", summary: "create|list|suspend|resume|rename|export|offboard|job: tenant lifecycle (DATABASE_URL)", run: runTenant})
}

const tenantUsage = `usage: tenantd tenant ACTION [arguments]

actions:
  create   --slug S --name N --owner-email E --owner-name N [--owner-password P] [--domain D]
           (the password may come from TENANTD_OWNER_PASSWORD instead of the command line)
  list     all tenants
  suspend  SLUG        every tenant route answers 403 tenant_suspended until resumed
  resume   SLUG
  rename   SLUG [--slug S] [--name N] [--domain D] [--self-registration=true|false]
           (--domain "" removes the primary domain)
  export   SLUG --out FILE      write the export bundle (tar.gz; "-" for standard output)
  export   SLUG --async         queue the export for the server's workers and print the job id
           (bundle: $TENANTD_STORAGE_DIR/exports/<id>-<time>.tar.gz)
  offboard SLUG [--out FILE] [--yes]
           export, then delete every row and stored file of the tenant, and print the
           deletion certificate (default bundle: $TENANTD_STORAGE_DIR/exports/<id>-<time>.tar.gz)
  offboard SLUG --async [--yes]
           set the tenant's status to offboarding and queue the job that finishes the
           offboarding (in one transaction); print the job id
  job      ID                   a background job's state, errors and output (the export
           summary or the deletion certificate)

The --async forms are carried out by the workers of a running server (tenantd serve), which
write bundles under their own storage directory: TENANTD_STORAGE_DIR must name the same
directory as the server's.

Every action accepts --json. Environment: DATABASE_URL (the application role),
TENANTD_STORAGE_DIR (attachments; default ./storage), BASE_DOMAIN (default localhost).
`

func runTenant(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, tenantUsage)
		if len(args) == 0 {
			return exitError{code: 2}
		}
		return nil
	}
	action, rest := args[0], args[1:]
	run, ok := map[string]func(context.Context, httpapi.Lifecycle, []string) error{
		"create": tenantCreate, "list": tenantList, "suspend": tenantSuspend, "resume": tenantResume,
		"rename": tenantRename, "export": tenantExport, "offboard": tenantOffboard, "job": pjobTenantJob,
	}[action]
	if !ok {
		fmt.Fprintf(os.Stderr, "tenantd tenant: unknown action %q\n\n%s", action, tenantUsage)
		return exitError{code: 2}
	}
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		return errors.New("DATABASE_URL is required (the application role's connection URL)")
	}
	st, err := store.Open(ctx, url)
	if err != nil {
		return err
	}
	defer st.Close()
	l := httpapi.Lifecycle{Store: st, Actor: "cli", BaseDomain: env("BASE_DOMAIN", "localhost"),
		StorageDir: env("TENANTD_STORAGE_DIR", "./storage")}
	if err := run(ctx, l, rest); err != nil {
		var ee exitError
		if errors.As(err, &ee) || errors.Is(err, flag.ErrHelp) {
			return err
		}
		msg := httpapi.DescribeError(err)
		if strings.HasPrefix(msg, "not_found:") {
			msg = "not_found: no tenant has this slug"
		}
		return errors.New(msg)
	}
	return nil
}

// tenantFlags parses an action's flags, allowing the SLUG argument before or after them, and
// returns the positional arguments.
func tenantFlags(fs *flag.FlagSet, args []string, positional int) ([]string, error) {
	pos, err := pjobFlagArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != positional {
		if positional == 0 {
			return nil, fmt.Errorf("tenant %s takes no arguments besides flags", fs.Name())
		}
		return nil, fmt.Errorf("tenant %s needs the tenant's SLUG", fs.Name())
	}
	return pos, nil
}

// pjobFlagArgs parses fs's flags wherever they stand among args and returns the positional
// arguments.
func pjobFlagArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) > 0 {
			pos = append(pos, args[0])
			args = args[1:]
		}
	}
	return pos, nil
}

func tenantFlagSet(name string) (*flag.FlagSet, *bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	return fs, asJSON
}

func tenantPrintJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func tenantPrint(t store.Tenant) {
	domain := "-"
	if t.PrimaryDomain != nil {
		domain = *t.PrimaryDomain
	}
	fmt.Printf("slug:               %s\nname:               %s\nid:                 %s\nstatus:             %s\nprimary domain:     %s\nself-registration:  %t\ncreated:            %s\n",
		t.Slug, t.Name, t.ID, t.Status, domain, t.AllowSelfRegistration, t.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"))
}

func tenantCreate(ctx context.Context, l httpapi.Lifecycle, args []string) error {
	fs, asJSON := tenantFlagSet("create")
	var req httpapi.NewTenantRequest
	fs.StringVar(&req.Slug, "slug", "", "the tenant's slug (its host is SLUG.BASE_DOMAIN)")
	fs.StringVar(&req.Name, "name", "", "the tenant's display name")
	domain := fs.String("domain", "", "optional primary domain")
	fs.StringVar(&req.OwnerEmail, "owner-email", "", "the owner's email")
	fs.StringVar(&req.OwnerName, "owner-name", "", "the owner's name")
	fs.StringVar(&req.OwnerPassword, "owner-password", os.Getenv("TENANTD_OWNER_PASSWORD"), "the owner's password (at least 10 characters)")
	if _, err := tenantFlags(fs, args, 0); err != nil {
		return err
	}
	if *domain != "" {
		req.PrimaryDomain = domain
	}
	out, err := l.Create(ctx, req)
	if err != nil {
		return err
	}
	if *asJSON {
		return tenantPrintJSON(out)
	}
	fmt.Println("created tenant")
	tenantPrint(out.Tenant)
	fmt.Printf("owner:              %s <%s> (%s)\n", out.Owner.Name, out.Owner.Email, out.Owner.ID)
	return nil
}

func tenantList(ctx context.Context, l httpapi.Lifecycle, args []string) error {
	fs, asJSON := tenantFlagSet("list")
	if _, err := tenantFlags(fs, args, 0); err != nil {
		return err
	}
	var all []store.Tenant
	p := store.Page{Limit: 200}
	for {
		items, err := l.List(ctx, p)
		if err != nil {
			return err
		}
		items, next := store.Trim(items, p, func(t store.Tenant) uuid.UUID { return t.ID })
		all = append(all, items...)
		if next == nil {
			break
		}
		p.Before = next
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Slug < all[j].Slug })
	if *asJSON {
		if all == nil {
			all = []store.Tenant{}
		}
		return tenantPrintJSON(all)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLUG\tSTATUS\tNAME\tPRIMARY DOMAIN\tID\tCREATED")
	for _, t := range all {
		domain := "-"
		if t.PrimaryDomain != nil {
			domain = *t.PrimaryDomain
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Slug, t.Status, t.Name, domain, t.ID, t.CreatedAt.UTC().Format("2006-01-02"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Printf("%d tenant(s)\n", len(all))
	return nil
}

func tenantSuspend(ctx context.Context, l httpapi.Lifecycle, args []string) error {
	return tenantSetStatus(ctx, "suspend", args, l.Suspend)
}

func tenantResume(ctx context.Context, l httpapi.Lifecycle, args []string) error {
	return tenantSetStatus(ctx, "resume", args, l.Resume)
}

func tenantSetStatus(ctx context.Context, name string, args []string, do func(context.Context, string) (store.Tenant, error)) error {
	fs, asJSON := tenantFlagSet(name)
	pos, err := tenantFlags(fs, args, 1)
	if err != nil {
		return err
	}
	t, err := do(ctx, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return tenantPrintJSON(t)
	}
	fmt.Printf("tenant %s is %s\n", t.Slug, t.Status)
	return nil
}

func tenantRename(ctx context.Context, l httpapi.Lifecycle, args []string) error {
	fs, asJSON := tenantFlagSet("rename")
	slug := fs.String("slug", "", "new slug")
	name := fs.String("name", "", "new display name")
	domain := fs.String("domain", "", `new primary domain ("" removes it)`)
	selfReg := fs.Bool("self-registration", true, "whether clients may register themselves")
	pos, err := tenantFlags(fs, args, 1)
	if err != nil {
		return err
	}
	var u httpapi.TenantUpdate
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "slug":
			u.Slug = slug
		case "name":
			u.Name = name
		case "domain":
			if *domain == "" {
				u.ClearPrimaryDomain = true
			} else {
				u.PrimaryDomain = domain
			}
		case "self-registration":
			u.AllowSelfRegistration = selfReg
		}
	})
	if u == (httpapi.TenantUpdate{}) {
		return errors.New("tenant rename: nothing to change (give --slug, --name, --domain or --self-registration)")
	}
	t, err := l.Update(ctx, pos[0], u)
	if err != nil {
		return err
	}
	if *asJSON {
		return tenantPrintJSON(t)
	}
	fmt.Println("updated tenant")
	tenantPrint(t)
	return nil
}

func tenantExport(ctx context.Context, l httpapi.Lifecycle, args []string) (err error) {
	fs, asJSON := tenantFlagSet("export")
	out := fs.String("out", "", `the bundle file to write ("-" for standard output)`)
	async := fs.Bool("async", false, "queue the export for the server's workers and print the job id")
	pos, err := tenantFlags(fs, args, 1)
	if err != nil {
		return err
	}
	if *async {
		if *out != "" {
			return errors.New("tenant export: --out cannot be used with --async (the workers write under TENANTD_STORAGE_DIR/exports)")
		}
		job, err := l.ScheduleExport(ctx, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return tenantPrintJSON(job)
		}
		pjobPrintQueued("tenant.export", job.JobID, pos[0], "", job.BundlePath)
		return nil
	}
	if *out == "" {
		return errors.New("tenant export: --out FILE is required")
	}
	var w io.Writer = os.Stdout
	report := io.Writer(os.Stdout)
	if *out == "-" {
		report = os.Stderr
	} else {
		f, err := os.OpenFile(*out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(*out)
			}
		}()
		w = f
	}
	res, err := l.Export(ctx, pos[0], w)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(report)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	missing := 0
	for _, f := range res.Manifest.Files {
		if f.Missing {
			missing++
		}
	}
	var rows int64
	for _, t := range res.Manifest.Tables {
		rows += t.Rows
	}
	where := *out
	if abs, err := filepath.Abs(*out); err == nil && *out != "-" {
		where = abs
	}
	fmt.Fprintf(report, "exported tenant %s (%s)\nbundle:   %s\nsize:     %d bytes\nsha256:   %s\nrows:     %d in %d tables\nfiles:    %d (%d missing)\n",
		res.Manifest.Tenant.Slug, res.Manifest.Tenant.ID, where, res.Size, res.SHA256, rows, len(res.Manifest.Tables), len(res.Manifest.Files)-missing, missing)
	return nil
}

func tenantOffboard(ctx context.Context, l httpapi.Lifecycle, args []string) error {
	fs, asJSON := tenantFlagSet("offboard")
	out := fs.String("out", "", "where to write the export bundle (default under TENANTD_STORAGE_DIR/exports)")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	async := fs.Bool("async", false, "start the offboarding and queue the job that finishes it; print the job id")
	pos, err := tenantFlags(fs, args, 1)
	if err != nil {
		return err
	}
	if *async && *out != "" {
		return errors.New("tenant offboard: --out cannot be used with --async (the workers write under TENANTD_STORAGE_DIR/exports)")
	}
	t, err := l.Tenant(ctx, pos[0])
	if err != nil {
		return err
	}
	if !*yes && !tenantInteractive() {
		// No one is there to confirm (a script, cron, ssh without a terminal): deleting a
		// tenant must be asked for in so many words.
		return fmt.Errorf("tenant offboard: this deletes every row and stored file of tenant %s; nobody is at a terminal to confirm, so pass --yes", t.Slug)
	}
	if !*yes {
		fmt.Fprintf(os.Stderr, "This deletes every row and stored file of tenant %s (%s) after exporting it.\nType the slug to confirm: ", t.Slug, t.Name)
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		if strings.TrimSpace(line) != t.Slug {
			return errors.New("tenant offboard: not confirmed; nothing was changed")
		}
	}
	if *async {
		job, err := l.StartOffboarding(ctx, t.Slug)
		if err != nil {
			return err
		}
		if *asJSON {
			return tenantPrintJSON(job)
		}
		pjobPrintQueued("tenant.offboard", job.JobID, t.Slug, job.Status, job.BundlePath)
		return nil
	}
	cert, err := l.Offboard(ctx, t.Slug, *out)
	if cert != nil {
		if *asJSON {
			if perr := tenantPrintJSON(cert); perr != nil {
				return perr
			}
		} else {
			tenantPrintCertificate(cert)
		}
	}
	return err
}

// tenantInteractive reports whether standard input is a terminal, i.e. someone is there to
// confirm; scripts (stdin a file, a pipe or /dev/null) must say --yes instead.
func tenantInteractive() bool { return term.IsTerminal(int(os.Stdin.Fd())) }

func tenantPrintCertificate(c *store.DeletionCertificate) {
	fmt.Printf("offboarded tenant %s (%s)\ndeleted at: %s\nbundle:     %s\n  size:     %d bytes\n  sha256:   %s\n",
		c.Slug, c.TenantID, c.DeletedAt.Format("2006-01-02 15:04:05Z"), c.Bundle.Path, c.Bundle.Size, c.Bundle.SHA256)
	names := make([]string, 0, len(c.Tables))
	var total int64
	for n, k := range c.Tables {
		names = append(names, n)
		total += k
	}
	sort.Strings(names)
	fmt.Printf("rows removed: %d\n", total)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	for _, n := range names {
		fmt.Fprintf(tw, "  %s\t%d\t\n", n, c.Tables[n])
	}
	tw.Flush()
	fmt.Printf("users removed: %d", c.UsersRemoved)
	fmt.Printf("\nfiles removed: %d (%d bytes)\n", c.FilesRemoved, c.BytesRemoved)
	for _, e := range c.FileErrors {
		fmt.Printf("  could not remove: %s\n", e)
	}
}

// pjobPrintQueued reports a queued platform job.
func pjobPrintQueued(kind string, id int64, slug, status, bundle string) {
	fmt.Printf("queued %s job %d for tenant %s\n", kind, id, slug)
	if status != "" {
		fmt.Printf("status:   %s\n", status)
	}
	fmt.Printf("bundle:   %s\nfollow:   tenantd tenant job %d\n", bundle, id)
}

// pjobTenantJob shows a background job: what it is, where it stands, why its attempts failed
// and what it reported.
func pjobTenantJob(ctx context.Context, l httpapi.Lifecycle, args []string) error {
	fs, asJSON := tenantFlagSet("job")
	pos, err := pjobFlagArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("tenant job needs the job's ID")
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("tenant job: %q is not a job id", pos[0])
	}
	job, err := l.Job(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("tenant job: no job has id %d (or it was already cleaned out)", id)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return tenantPrintJSON(job)
	}
	const when = "2006-01-02 15:04:05Z"
	fmt.Printf("job:        %d\nkind:       %s\nstate:      %s\nattempts:   %d of %d\ncreated:    %s\n",
		job.ID, job.Kind, job.State, job.Attempt, job.MaxAttempts, job.CreatedAt.UTC().Format(when))
	if job.FinalizedAt != nil {
		fmt.Printf("finalized:  %s\n", job.FinalizedAt.UTC().Format(when))
	} else if job.ScheduledAt.After(time.Now()) {
		fmt.Printf("next run:   %s\n", job.ScheduledAt.UTC().Format(when))
	}
	fmt.Printf("args:       %s\n", job.Args)
	for _, e := range job.Errors {
		fmt.Printf("error:      attempt %d at %s: %s\n", e.Attempt, e.At.UTC().Format(when), e.Error)
	}
	if len(job.Output) > 0 {
		var out bytes.Buffer
		if json.Indent(&out, job.Output, "", "  ") != nil {
			out.Reset()
			out.Write(job.Output)
		}
		fmt.Printf("output:\n%s\n", out.String())
	}
	return nil
}
