-- +goose Up
-- A replayed creating request answers what the first one did, Location header included: the
-- created object's address, which a client that lost the first answer needs.
ALTER TABLE idempotency_keys ADD COLUMN response_location text;

-- +goose Down
ALTER TABLE idempotency_keys DROP COLUMN response_location;
