package scope

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Print writes the report as a table (ROUTE, PROBE, CALLER, EXPECTED, GOT, VERDICT, and how
// many requests the row stands for), then a summary line. With failuresOnly it lists only
// the rows that are not ok.
func Print(w io.Writer, r *Report, failuresOnly bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUTE\tPROBE\tCALLER\tEXPECTED\tGOT\tVERDICT\tN")
	for _, x := range r.Results {
		if failuresOnly && (x.Verdict == OK || x.Verdict == Skip) {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", x.Route, x.Probe, x.Caller, x.Expected, x.Got, x.Verdict, x.Requests)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verdict := "no leaks"
	if !r.OK() {
		verdict = "ISOLATION FALLS SHORT"
	}
	_, err := fmt.Fprintf(w, "\nscope probe of %s: tenants %s and %s, %d routes, %d requests, %d ids seen by both (shared users); %d ok, %d leaks, %d failures, %d skipped: %s\n",
		r.Target, r.Tenants[0], r.Tenants[1], r.Routes, r.Requests, r.Shared, r.Count(OK), r.Count(Leak), r.Count(Fail), r.Count(Skip), verdict)
	return err
}
