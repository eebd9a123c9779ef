-- +goose Up
-- A booking lasts at most 7 days (168 hours). Availability reads the bookings that overlap a
-- day through the index on (tenant_id, starts_at); without a bound on a booking's length it
-- could not bound that read from below and read every earlier booking of the tenant. The
-- store's MaxBookingLength (internal/store/bookings.go) is the same bound: change both
-- together. The interval is in hours, not days, so that it means the same elapsed time
-- whatever the session's time zone (timestamptz - timestamptz is an elapsed time).
--
-- Existing bookings that break the rule stop the migration with their count per tenant rather
-- than being changed. bookings forces row level security on its owner too, so each tenant is
-- bound in turn to count its rows; the constraint's own validation below reads every row
-- regardless and is the last word.
-- +goose StatementBegin
DO $$
DECLARE
  t record;
  n bigint;
  total bigint := 0;
  found text := '';
BEGIN
  FOR t IN SELECT id, slug FROM public.tenants ORDER BY slug LOOP
    PERFORM set_config('app.tenant_id', t.id::text, true);
    SELECT count(*) INTO n FROM public.bookings
     WHERE tenant_id = t.id AND ends_at - starts_at > interval '168 hours';
    IF n > 0 THEN
      total := total + n;
      found := found || format('%s%s: %s', CASE WHEN found = '' THEN '' ELSE ', ' END, t.slug, n);
    END IF;
  END LOOP;
  PERFORM set_config('app.tenant_id', '', true);
  IF total > 0 THEN
    RAISE EXCEPTION '% booking(s) last longer than 168 hours (7 days), the longest a booking may now last', total
      USING ERRCODE = 'check_violation',
            DETAIL = 'Bookings per tenant: ' || found || '.',
            HINT = 'Shorten or split them (ends_at - starts_at <= 168 hours), then run the migration again.';
  END IF;
END
$$;
-- +goose StatementEnd
ALTER TABLE bookings ADD CONSTRAINT bookings_length_check CHECK (ends_at - starts_at <= interval '168 hours');

-- The list routes' filters, each with the tenant first and the id last: the lists are ordered
-- by id, newest first (keyset pagination on id), so an index scan over (tenant, value) yields
-- a page in order and stops at its end, instead of reading the tenant's whole table for a
-- value that few rows have.
CREATE INDEX audit_events_action_id_idx ON audit_events (tenant_id, action, id);
CREATE INDEX audit_events_target_type_id_idx ON audit_events (tenant_id, target_type, id);
CREATE INDEX audit_events_actor_id_idx ON audit_events (tenant_id, actor_user_id, id);
CREATE INDEX bookings_status_id_idx ON bookings (tenant_id, status, id);
CREATE INDEX invoices_status_id_idx ON invoices (tenant_id, status, id);
CREATE INDEX expenses_category_id_idx ON expenses (tenant_id, category, id);
CREATE INDEX work_orders_status_id_idx ON work_orders (tenant_id, status, id);

-- +goose Down
DROP INDEX work_orders_status_id_idx;
DROP INDEX expenses_category_id_idx;
DROP INDEX invoices_status_id_idx;
DROP INDEX bookings_status_id_idx;
DROP INDEX audit_events_actor_id_idx;
DROP INDEX audit_events_target_type_id_idx;
DROP INDEX audit_events_action_id_idx;
ALTER TABLE bookings DROP CONSTRAINT bookings_length_check;
