package catalog

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Print writes the findings as a table, then one summary line. It prints the summary alone
// when there is nothing to report, so a clean run still says what was checked.
func Print(w io.Writer, r *Report) error {
	if len(r.Findings) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TABLE\tCHECK\tFINDING")
		for _, f := range r.Findings {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Table, f.Check, f.Detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "\nschema audit: %d finding(s) in %d tenant-owned table(s)\n", len(r.Findings), len(r.Tables))
		return err
	}
	_, err := fmt.Fprintf(w, "schema audit: %d tenant-owned table(s), no findings\n", len(r.Tables))
	return err
}
