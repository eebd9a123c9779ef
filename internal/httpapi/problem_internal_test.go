package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"tenantd/internal/store"
)

// Store errors reach the client as the problem SPEC §3 gives them; a statement the database
// stopped for taking too long is a 503 the client may retry, not an internal error.
func TestAsProblemMapsStoreErrors(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"not found", store.ErrNotFound, http.StatusNotFound, CodeNotFound},
		{"conflict", &store.ConflictError{Constraint: "services_tenant_id_slug_key"}, http.StatusConflict, CodeConflict},
		{"reference", &store.ReferenceError{Constraint: "bookings_service_fk"}, http.StatusUnprocessableEntity, CodeValidation},
		{"timeout", fmt.Errorf("%w: canceling statement due to statement timeout", store.ErrTimeout), http.StatusServiceUnavailable, CodeUnavailable},
		{"anything else", errors.New("boom"), http.StatusInternalServerError, CodeInternal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := asProblem(tc.err)
			if p.status != tc.status || p.code != tc.code {
				t.Fatalf("%v: %d %s, want %d %s", tc.err, p.status, p.code, tc.status, tc.code)
			}
		})
	}
}
