-- +goose Up
-- Global tables are not tenant data, but a tenant's transaction must not be able to reach
-- another tenant through them either. A statement run in acme's transaction (a store bug, or
-- worse) could otherwise change globex's row in tenants (its status, or its authorization
-- generation, which would revive a revoked credential), delete it (every globex row would go
-- with it by cascade, beyond the reach of row level security), or count globex's objects.

-- The authorization generation is bumped by the owner on behalf of whoever changed a
-- membership, token, session or threshold: the application role no longer updates it itself.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.bump_auth_gen() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_TABLE_NAME = 'sessions' THEN
    IF TG_OP = 'DELETE' OR NEW.revoked_at IS DISTINCT FROM OLD.revoked_at
       OR NEW.active_tenant_id IS DISTINCT FROM OLD.active_tenant_id OR NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN
      UPDATE public.tenants SET auth_gen = auth_gen + 1 WHERE id = OLD.active_tenant_id;
    END IF;
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE public.tenants SET auth_gen = auth_gen + 1 WHERE id = OLD.tenant_id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND (TG_OP = 'INSERT' OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id) THEN
    UPDATE public.tenants SET auth_gen = auth_gen + 1 WHERE id = NEW.tenant_id;
  END IF;
  RETURN NULL;
END
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION app.bump_auth_gen() FROM PUBLIC;

-- tenants: every transaction may read every row (the host and the verification are resolved
-- before a tenant is bound), but may insert, change or delete only the row of the tenant it
-- is bound to, and no transaction may set the authorization generation.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenants_read ON tenants FOR SELECT USING (true);
CREATE POLICY tenants_insert_bound ON tenants FOR INSERT WITH CHECK (id = (SELECT app.current_tenant()));
CREATE POLICY tenants_update_bound ON tenants FOR UPDATE
  USING (id = (SELECT app.current_tenant())) WITH CHECK (id = (SELECT app.current_tenant()));
CREATE POLICY tenants_delete_bound ON tenants FOR DELETE USING (id = (SELECT app.current_tenant()));
REVOKE UPDATE ON tenants FROM tenantd_app;
GRANT UPDATE (slug, name, status, primary_domain, allow_self_registration, updated_at) ON tenants TO tenantd_app;

-- object_owners: offboarding counts the bound tenant's rows here, and only those.
ALTER TABLE object_owners ENABLE ROW LEVEL SECURITY;
CREATE POLICY object_owners_bound ON object_owners FOR SELECT USING (owner_tenant_id = (SELECT app.current_tenant()));

-- No temporary tables: one would hide the real table of the same name from every later
-- statement on that pooled connection (temporary tables come first in the search path).
-- +goose StatementBegin
DO $$
BEGIN
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
  EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO PUBLIC', current_database());
END
$$;
-- +goose StatementEnd
DROP POLICY object_owners_bound ON object_owners;
ALTER TABLE object_owners DISABLE ROW LEVEL SECURITY;
REVOKE UPDATE ON tenants FROM tenantd_app;
GRANT UPDATE ON tenants TO tenantd_app;
DROP POLICY tenants_delete_bound ON tenants;
DROP POLICY tenants_update_bound ON tenants;
DROP POLICY tenants_insert_bound ON tenants;
DROP POLICY tenants_read ON tenants;
ALTER TABLE tenants DISABLE ROW LEVEL SECURITY;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION app.bump_auth_gen() RETURNS trigger
  LANGUAGE plpgsql SECURITY INVOKER AS $$
BEGIN
  IF TG_TABLE_NAME = 'sessions' THEN
    IF TG_OP = 'DELETE' OR NEW.revoked_at IS DISTINCT FROM OLD.revoked_at
       OR NEW.active_tenant_id IS DISTINCT FROM OLD.active_tenant_id OR NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN
      UPDATE tenants SET auth_gen = auth_gen + 1 WHERE id = OLD.active_tenant_id;
    END IF;
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE tenants SET auth_gen = auth_gen + 1 WHERE id = OLD.tenant_id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND (TG_OP = 'INSERT' OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id) THEN
    UPDATE tenants SET auth_gen = auth_gen + 1 WHERE id = NEW.tenant_id;
  END IF;
  RETURN NULL;
END
$$;
-- +goose StatementEnd
GRANT EXECUTE ON FUNCTION app.bump_auth_gen() TO PUBLIC;
