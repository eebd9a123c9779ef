package store

import "github.com/google/uuid"

// Page selects one page of a keyset-paginated list ordered newest first by id (ids are
// UUIDv7, so id order is creation order).
type Page struct {
	Before *uuid.UUID // exclusive upper bound: the last id of the previous page
	Limit  int
}

// limitPlusOne asks for one row more than the page holds, to know whether a next page exists.
func (p Page) limitPlusOne() int { return p.Limit + 1 }

// Trim cuts a fetched list to the page size and returns the cursor of the next page.
func Trim[T any](items []T, p Page, id func(T) uuid.UUID) ([]T, *uuid.UUID) {
	if len(items) <= p.Limit {
		return items, nil
	}
	items = items[:p.Limit]
	next := id(items[len(items)-1])
	return items, &next
}
