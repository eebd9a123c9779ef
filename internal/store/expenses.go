package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Expense is money the firm spent, recorded by a member of staff.
type Expense struct {
	ID          uuid.UUID `json:"id"`
	Description string    `json:"description"`
	Category    string    `json:"category"`
	AmountCents int64     `json:"amount_cents"`
	Currency    string    `json:"currency"`
	IncurredOn  string    `json:"incurred_on"` // YYYY-MM-DD
	CreatedBy   uuid.UUID `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// ExpenseInput is the writable part of an expense. CreatedBy is only used on creation.
type ExpenseInput struct {
	Description string
	Category    string
	AmountCents int64
	Currency    string
	IncurredOn  string // YYYY-MM-DD
	CreatedBy   uuid.UUID
}

// ExpenseFilter narrows an expense list; From and To are YYYY-MM-DD bounds on incurred_on
// (To exclusive), empty for none.
type ExpenseFilter struct {
	Category string
	From, To string
}

const billExpenseColumns = `id, description, category, amount_cents, currency, to_char(incurred_on, 'YYYY-MM-DD'), created_by, created_at, updated_at`

func billScanExpense(r pgx.Rows) (Expense, error) {
	var v Expense
	err := r.Scan(&v.ID, &v.Description, &v.Category, &v.AmountCents, &v.Currency, &v.IncurredOn, &v.CreatedBy, &v.CreatedAt, &v.UpdatedAt)
	return v, err
}

func (sc *Scope) oneExpense(ctx context.Context, sql string, args ...any) (Expense, error) {
	items, err := collect(ctx, sc, sql, args, billScanExpense)
	if err != nil {
		return Expense{}, err
	}
	if len(items) == 0 {
		return Expense{}, ErrNotFound
	}
	return items[0], nil
}

// ListExpenses lists expenses, newest first.
func (sc *Scope) ListExpenses(ctx context.Context, f ExpenseFilter, p Page) ([]Expense, error) {
	return collect(ctx, sc, `SELECT `+billExpenseColumns+` FROM expenses
		WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id < $2) AND ($3 = '' OR category = $3)
		  AND ($4 = '' OR incurred_on >= $4::date) AND ($5 = '' OR incurred_on < $5::date)
		ORDER BY id DESC LIMIT $6`,
		[]any{sc.TenantID(), p.Before, f.Category, f.From, f.To, p.limitPlusOne()}, billScanExpense)
}

// GetExpense returns one expense.
func (sc *Scope) GetExpense(ctx context.Context, id uuid.UUID) (Expense, error) {
	return sc.oneExpense(ctx, `SELECT `+billExpenseColumns+` FROM expenses WHERE tenant_id = $1 AND id = $2`, sc.TenantID(), id)
}

// GetExpenseForUpdate is GetExpense inside a write transaction, with the row locked until the
// transaction ends: a PATCH writes back the fields it was not sent as they are, not as they
// were before a concurrent PATCH of other fields committed.
func (sc *Scope) GetExpenseForUpdate(ctx context.Context, id uuid.UUID) (Expense, error) {
	return sc.oneExpense(ctx, `SELECT `+billExpenseColumns+` FROM expenses WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, sc.TenantID(), id)
}

// CreateExpense records an expense; its creator must be a member of this tenant (composite
// foreign key).
func (sc *Scope) CreateExpense(ctx context.Context, in ExpenseInput) (Expense, error) {
	return sc.oneExpense(ctx, `INSERT INTO expenses (tenant_id, id, description, category, amount_cents, currency, incurred_on, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7::date, $8) RETURNING `+billExpenseColumns,
		sc.TenantID(), NewID(), in.Description, in.Category, in.AmountCents, in.Currency, in.IncurredOn, in.CreatedBy)
}

// UpdateExpense replaces an expense's writable fields; its creator never changes.
func (sc *Scope) UpdateExpense(ctx context.Context, id uuid.UUID, in ExpenseInput) (Expense, error) {
	return sc.oneExpense(ctx, `UPDATE expenses SET description = $3, category = $4, amount_cents = $5, currency = $6,
		    incurred_on = $7::date, updated_at = now()
		WHERE tenant_id = $1 AND id = $2 RETURNING `+billExpenseColumns,
		sc.TenantID(), id, in.Description, in.Category, in.AmountCents, in.Currency, in.IncurredOn)
}

// DeleteExpense removes an expense.
func (sc *Scope) DeleteExpense(ctx context.Context, id uuid.UUID) error {
	tag, err := sc.exec(ctx, `DELETE FROM expenses WHERE tenant_id = $1 AND id = $2`, sc.TenantID(), id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
