package store

import (
	"context"

	"github.com/google/uuid"
)

// OwnServiceRequest checks that a service request exists in this tenant and belongs to client.
func (sc *Scope) OwnServiceRequest(ctx context.Context, id, client uuid.UUID) (uuid.UUID, error) {
	var got uuid.UUID
	err := sc.queryRow(ctx, `SELECT id FROM service_requests WHERE tenant_id = $1 AND id = $2 AND client_id = $3`,
		[]any{sc.TenantID(), id, client}, &got)
	return got, err
}
