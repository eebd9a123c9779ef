-- +goose Up
-- The service-request list filters by status and by priority, newest first (keyset on id):
-- without these indexes a rare value read the tenant's whole table.
CREATE INDEX service_requests_status_id_idx ON service_requests (tenant_id, status, id);
CREATE INDEX service_requests_priority_id_idx ON service_requests (tenant_id, priority, id);

-- +goose Down
DROP INDEX service_requests_priority_id_idx;
DROP INDEX service_requests_status_id_idx;
