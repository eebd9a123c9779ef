-- +goose Up
-- Login finds a user by email through the unique index on lower(email). Under the users
-- table's row level security the planner may not use that index for a condition built on
-- lower(), which is not leakproof, and every login read the whole table. The lookup runs as
-- the owner instead (who is not subject to the table's policies), for one email at a time.
-- +goose StatementBegin
CREATE FUNCTION app.user_by_email(p_email text)
  RETURNS TABLE (id uuid, email text, name text, password_hash text, default_tenant_id uuid)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT u.id, u.email, u.name, u.password_hash, u.default_tenant_id FROM public.users u WHERE lower(u.email) = lower(p_email)
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION app.user_by_email(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.user_by_email(text) TO tenantd_app;

-- +goose Down
DROP FUNCTION app.user_by_email(text);
