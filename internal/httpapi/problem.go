package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"tenantd/internal/obs"
	"tenantd/internal/store"
)

// Error codes of SPEC §3.
const (
	CodeUnauthenticated   = "unauthenticated"
	CodeInvalidSignature  = "invalid_tenant_signature"
	CodeTenantMismatch    = "tenant_mismatch"
	CodeNotAMember        = "not_a_member"
	CodeForbidden         = "forbidden"
	CodeTenantSuspended   = "tenant_suspended"
	CodeTenantNotFound    = "tenant_not_found"
	CodeNotFound          = "not_found"
	CodeConflict          = "conflict"
	CodeValidation        = "validation_failed"
	CodeIdempotencyReused = "idempotency_key_reused"
	CodePayloadTooLarge   = "payload_too_large"
	CodeUnsupportedMedia  = "unsupported_media_type"
	CodeRateLimited       = "rate_limited"
	CodeInternal          = "internal_error"
	CodeUnavailable       = "unavailable"
	CodeMethodNotAllowed  = "method_not_allowed"
)

var titles = map[string]string{
	CodeUnauthenticated:   "Authentication required",
	CodeInvalidSignature:  "Invalid tenant signature",
	CodeTenantMismatch:    "Tenant mismatch",
	CodeNotAMember:        "Not a member of this tenant",
	CodeForbidden:         "Forbidden",
	CodeTenantSuspended:   "Tenant suspended",
	CodeTenantNotFound:    "Tenant not found",
	CodeNotFound:          "Not found",
	CodeConflict:          "Conflict",
	CodeValidation:        "Validation failed",
	CodeIdempotencyReused: "Idempotency key reused",
	CodePayloadTooLarge:   "Payload too large",
	CodeUnsupportedMedia:  "Unsupported media type",
	CodeRateLimited:       "Too many requests",
	CodeInternal:          "Internal server error",
	CodeUnavailable:       "Service unavailable",
	CodeMethodNotAllowed:  "Method not allowed",
}

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail"`
	Code      string       `json:"code"`
	RequestID string       `json:"request_id"`
	Errors    []FieldError `json:"errors,omitempty"`
}

// FieldError names one invalid input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// apiError is an error with the client-facing status and message; cause is for the log only.
type apiError struct {
	status     int
	code       string
	detail     string
	fields     []FieldError
	retryAfter time.Duration
	cause      error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.code, e.detail, e.cause)
	}
	return e.code + ": " + e.detail
}

func (e *apiError) Unwrap() error { return e.cause }

func problem(status int, code, detail string) *apiError {
	return &apiError{status: status, code: code, detail: detail}
}

// errNotFound is the one body for "no such object in this tenant": missing ids, other
// tenants' ids and other clients' ids all get exactly this.
func errNotFound() error {
	return problem(http.StatusNotFound, CodeNotFound, "The requested object does not exist.")
}

func errValidation(detail string, fields ...FieldError) error {
	return &apiError{status: http.StatusUnprocessableEntity, code: CodeValidation, detail: detail, fields: fields}
}

func errField(field, msg string) error {
	return errValidation("The request is invalid.", FieldError{Field: field, Message: msg})
}

// errMediaType is 415 for a request body that is not in a media type the route takes.
func errMediaType(detail string) error {
	return problem(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, detail)
}

func errForbidden(detail string) error { return problem(http.StatusForbidden, CodeForbidden, detail) }

func errConflict(detail string) error { return problem(http.StatusConflict, CodeConflict, detail) }

var denialProblems = map[store.Denial]*apiError{
	store.DenyUnauthenticated: problem(http.StatusUnauthorized, CodeUnauthenticated, "Sign in to continue."),
	store.DenySignature:       problem(http.StatusForbidden, CodeInvalidSignature, "The tenant signature is not valid for this session."),
	store.DenyHostUnknown:     problem(http.StatusNotFound, CodeTenantNotFound, "No tenant is served at this host."),
	store.DenyHostMismatch:    problem(http.StatusForbidden, CodeTenantMismatch, "This host belongs to another tenant than the one you are signed in to."),
	store.DenySuspended:       problem(http.StatusForbidden, CodeTenantSuspended, "This tenant is suspended."),
	store.DenyNotMember:       problem(http.StatusForbidden, CodeNotAMember, "You are not an active member of this tenant."),
	store.DenyForbidden:       problem(http.StatusForbidden, CodeForbidden, "Your role does not allow this action."),
}

// asProblem maps any error onto what the client may see.
func asProblem(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var de *store.DenialError
	if errors.As(err, &de) {
		return denialProblems[de.Reason]
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return problem(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, fmt.Sprintf("The request body exceeds %d bytes.", mbe.Limit))
	}
	var ce *store.ConflictError
	if errors.As(err, &ce) {
		return &apiError{status: http.StatusConflict, code: CodeConflict, detail: conflictDetail(ce.Constraint), cause: err}
	}
	var re *store.ReferenceError
	if errors.As(err, &re) {
		return &apiError{status: http.StatusUnprocessableEntity, code: CodeValidation, detail: "A referenced object does not exist in this tenant.", cause: err}
	}
	var ke *store.CheckError
	if errors.As(err, &ke) {
		return &apiError{status: http.StatusUnprocessableEntity, code: CodeValidation, detail: "A value is out of the allowed range.", cause: err}
	}
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound().(*apiError)
	}
	if errors.Is(err, store.ErrTimeout) {
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, detail: "The database took too long to answer; nothing was changed. Please try again.", cause: err}
	}
	return &apiError{status: http.StatusInternalServerError, code: CodeInternal, detail: "Something went wrong; the request id identifies it.", cause: err}
}

func conflictDetail(constraint string) string {
	if constraint == "" {
		return "The request conflicts with the current state."
	}
	return "The request conflicts with an existing object (" + constraint + ")."
}

// writeProblem renders err as a problem document.
func writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	p := asProblem(err)
	rid := ""
	if ri := obs.Request(r.Context()); ri != nil {
		rid = ri.RequestID
	}
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((p.retryAfter+time.Second-1)/time.Second)))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.status)
	_ = json.NewEncoder(w).Encode(Problem{
		Type: "https://tenantd.dev/problems/" + p.code, Title: titles[p.code], Status: p.status,
		Detail: p.detail, Code: p.code, RequestID: rid, Errors: p.fields,
	})
}
