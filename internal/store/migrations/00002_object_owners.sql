-- +goose Up
-- Which tenant owns each object id: consulted only after a tenant route answered 404, to tell
-- a cross-tenant id probe (an id that exists, in another tenant) from a mistyped id, and only
-- through app.object_owner(), which the application role may execute but whose table it can
-- neither read nor write. Global on purpose (no tenant_id column): it is not tenant data.
CREATE TABLE object_owners (
  id uuid PRIMARY KEY,
  owner_tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  table_name text NOT NULL
);
CREATE INDEX object_owners_tenant_idx ON object_owners (owner_tenant_id);
REVOKE ALL ON object_owners FROM PUBLIC;

-- +goose StatementBegin
CREATE FUNCTION app.track_object_owner() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO public.object_owners (id, owner_tenant_id, table_name)
    VALUES (NEW.id, NEW.tenant_id, TG_TABLE_NAME) ON CONFLICT (id) DO NOTHING;
  ELSIF TG_OP = 'DELETE' THEN
    DELETE FROM public.object_owners WHERE id = OLD.id AND owner_tenant_id = OLD.tenant_id;
  END IF;
  RETURN NULL;
END
$$;

CREATE FUNCTION app.object_owner(p_id uuid) RETURNS uuid
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT owner_tenant_id FROM public.object_owners WHERE id = p_id
$$;

DO $$
DECLARE
  t text;
BEGIN
  FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
           JOIN pg_attribute i ON i.attrelid = c.oid AND i.attname = 'id' AND NOT i.attisdropped
           WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1 LOOP
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION app.track_object_owner()', t || '_object_owner', t);
    EXECUTE format('INSERT INTO object_owners (id, owner_tenant_id, table_name) SELECT id, tenant_id, %L FROM %I ON CONFLICT (id) DO NOTHING', t, t);
  END LOOP;
END
$$;
-- +goose StatementEnd

REVOKE ALL ON FUNCTION app.object_owner(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION app.track_object_owner() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.object_owner(uuid) TO tenantd_app;
-- Offboarding counts (and checks the removal of) every global row that refers to a tenant;
-- the owner column alone says how many ids a tenant has, not which.
GRANT SELECT (owner_tenant_id) ON object_owners TO tenantd_app;

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
           WHERE t.tgname LIKE '%\_object_owner' LOOP
    EXECUTE format('DROP TRIGGER %I ON %I', r.tgname, r.relname);
  END LOOP;
END
$$;
-- +goose StatementEnd
DROP FUNCTION app.object_owner(uuid);
DROP FUNCTION app.track_object_owner();
DROP TABLE object_owners;
