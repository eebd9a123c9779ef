package tenantlint_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"tenantd/internal/tenantlint"
)

// TestAnalyzer runs the analyzer over the testdata packages, one or more per
// rule, each with positive cases marked by // want comments and negative
// cases that must not be reported. The packages are loaded in one call
// because loading net/http dominates the cost.
func TestAnalyzer(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), tenantlint.Analyzer,
		"tenantd/internal/httpapi",    // rules 1 and 2 inside httpapi
		"tenantd/internal/billing",    // rule 2 outside httpapi
		"tenantd/internal/web",        // rule 1 outside httpapi
		"tenantd/internal/store/...",  // rule 3: allowed
		"tenantd/internal/pgtest",     // rule 3: allowed
		"tenantd/internal/storefront", // rule 3: prefix is not a parent
		"tenantd/internal/jobs",       // rule 3: reported, test files exempt
		"tenantd/internal/headers",    // rule 4
	)
}
