-- +goose Up
-- The user directory (emails, names, password hashes) is global: login and the other identity
-- flows read it before any tenant is bound. Inside a tenant's transaction it now shows only
-- that tenant's members (and users whose default tenant it is, and the user the transaction
-- acts as), so that no statement there lists another firm's people.

-- Provisioning and adding a member look a user up by email from inside the tenant's
-- transaction, and may name someone who belongs to other tenants only: they get the id and
-- nothing else.
-- +goose StatementBegin
CREATE FUNCTION app.user_id_by_email(p_email text) RETURNS uuid
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT id FROM public.users WHERE lower(email) = lower(p_email)
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION app.user_id_by_email(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.user_id_by_email(text) TO tenantd_app;

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY users_read ON users FOR SELECT USING (
  (SELECT app.current_tenant()) IS NULL
  OR id = (SELECT app.current_user_id())
  OR default_tenant_id = (SELECT app.current_tenant())
  OR EXISTS (SELECT 1 FROM memberships m WHERE m.tenant_id = (SELECT app.current_tenant()) AND m.user_id = users.id));
-- New users belong to no one yet (registration, provisioning).
CREATE POLICY users_insert ON users FOR INSERT WITH CHECK (true);
-- Offboarding deletes a user left with no membership as that user; the foreign key from
-- memberships refuses the deletion of anyone who is still a member somewhere.
CREATE POLICY users_delete_self ON users FOR DELETE USING (id = (SELECT app.current_user_id()));

-- +goose Down
DROP POLICY users_delete_self ON users;
DROP POLICY users_insert ON users;
DROP POLICY users_read ON users;
ALTER TABLE users DISABLE ROW LEVEL SECURITY;
DROP FUNCTION app.user_id_by_email(text);
