package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"tenantd/internal/store"
)

func billExpenseID(v store.Expense) uuid.UUID { return v.ID }

// billExpenseBody is an expense as clients send it; absent fields are kept on PATCH.
type billExpenseBody struct {
	Description *string `json:"description"`
	Category    *string `json:"category"`
	AmountCents *int64  `json:"amount_cents"`
	Currency    *string `json:"currency"`
	IncurredOn  *string `json:"incurred_on"`
}

// apply merges the body over in and validates the result into f.
func (b billExpenseBody) apply(in store.ExpenseInput, f *fields) store.ExpenseInput {
	if b.Description != nil {
		in.Description = strings.TrimSpace(*b.Description)
	}
	if b.Category != nil {
		in.Category = strings.ToLower(strings.TrimSpace(*b.Category))
	}
	if b.AmountCents != nil {
		in.AmountCents = *b.AmountCents
	}
	if b.Currency != nil {
		in.Currency = strings.ToUpper(strings.TrimSpace(*b.Currency))
	}
	if b.IncurredOn != nil {
		in.IncurredOn = strings.TrimSpace(*b.IncurredOn)
	}
	if in.Description == "" || charCount(in.Description) > 500 {
		f.add("description", "is required (at most 500 characters)")
	}
	if in.Category == "" || charCount(in.Category) > 64 {
		f.add("category", "must be 1 to 64 characters")
	}
	if in.AmountCents < 0 || in.AmountCents > 100_000_000_000 {
		f.add("amount_cents", "must be from 0 to 100000000000")
	}
	if !currencyPattern.MatchString(in.Currency) {
		f.add("currency", "must be a three-letter ISO 4217 code")
	}
	if _, ok := parseDate(in.IncurredOn); !ok {
		f.add("incurred_on", "must be a date (YYYY-MM-DD)")
	}
	return in
}

// billDateParam reads an optional YYYY-MM-DD query parameter.
func billDateParam(r *http.Request, name string) (string, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return "", nil
	}
	if _, ok := parseDate(v); !ok {
		return "", errField(name, "must be a date (YYYY-MM-DD)")
	}
	return v, nil
}

// listExpenses lists expenses; ?category=, ?from= and ?to= (dates, to exclusive) narrow it.
func (s *Server) listExpenses(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	f := store.ExpenseFilter{Category: strings.ToLower(r.URL.Query().Get("category"))}
	if f.From, err = billDateParam(r, "from"); err != nil {
		return err
	}
	if f.To, err = billDateParam(r, "to"); err != nil {
		return err
	}
	items, err := sc.ListExpenses(r.Context(), f, p)
	if err != nil {
		return err
	}
	return writeList(w, items, p, billExpenseID)
}

func (s *Server) getExpense(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := sc.GetExpense(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// createExpense records an expense by the caller. The currency defaults to the tenant's
// default, the category to "general" and the date to today.
func (s *Server) createExpense(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	var b billExpenseBody
	if err := decode(r, &b); err != nil {
		return err
	}
	defs, err := sc.GetServiceDefaults(r.Context())
	if err != nil {
		return err
	}
	var f fields
	in := b.apply(store.ExpenseInput{Category: "general", Currency: defs.DefaultCurrency,
		IncurredOn: s.now().UTC().Format(time.DateOnly), CreatedBy: sc.Verified().UserID}, &f)
	if b.AmountCents == nil {
		f.add("amount_cents", "is required")
	}
	if err := f.err(); err != nil {
		return err
	}
	v, err := sc.CreateExpense(r.Context(), in)
	if err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "expense.create", "expense", v.ID.String(), map[string]any{"amount_cents": v.AmountCents}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

// patchExpense changes the fields sent and keeps the others. The expense is read locked, so the
// fields kept are the stored ones even when another PATCH changed them a moment before.
func (s *Server) patchExpense(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b billExpenseBody
	if err := decode(r, &b); err != nil {
		return err
	}
	cur, err := sc.GetExpenseForUpdate(r.Context(), id)
	if err != nil {
		return err
	}
	var f fields
	in := b.apply(store.ExpenseInput{Description: cur.Description, Category: cur.Category, AmountCents: cur.AmountCents,
		Currency: cur.Currency, IncurredOn: cur.IncurredOn}, &f)
	if err := f.err(); err != nil {
		return err
	}
	v, err := sc.UpdateExpense(r.Context(), id, in)
	if err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "expense.update", "expense", id.String(), nil); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) deleteExpense(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := sc.DeleteExpense(r.Context(), id); err != nil {
		return err
	}
	if err := sc.AuditEvent(r.Context(), "expense.delete", "expense", id.String(), nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
