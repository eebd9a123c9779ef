package httpapi

import (
	"net/http"

	"github.com/google/uuid"

	"tenantd/internal/store"
)

func billAuditID(v store.AuditRecord) uuid.UUID { return v.ID }

// listAuditLogs lists this tenant's audit log, newest first. ?action= (exact, e.g.
// invoice.pay), ?target_type= and ?actor= (a user id) narrow it.
func (s *Server) listAuditLogs(w http.ResponseWriter, r *http.Request, sc *store.Scope) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.AuditFilter{Action: q.Get("action"), TargetType: q.Get("target_type")}
	if charCount(f.Action) > 200 {
		return errField("action", "is at most 200 characters")
	}
	if charCount(f.TargetType) > 200 {
		return errField("target_type", "is at most 200 characters")
	}
	if v := q.Get("actor"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return errField("actor", "must be a user id")
		}
		f.ActorID = &id
	}
	items, err := sc.ListAuditEvents(r.Context(), f, p)
	if err != nil {
		return err
	}
	return writeList(w, items, p, billAuditID)
}
