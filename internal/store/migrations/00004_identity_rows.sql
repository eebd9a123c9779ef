-- +goose Up
-- users, sessions and the platform log are global, and identity flows (login, logout, tenant
-- switch) use them before any tenant is bound. Inside a tenant's transaction, though, nothing
-- may reach another tenant through them: no statement there changes a user (which would hand
-- over another tenant's accounts), deletes one who is still a member somewhere (which would
-- take their memberships in other tenants with it, by cascade, past row level security),
-- touches another tenant's sessions, or reads the platform log.

-- No code path updates users; registration and provisioning insert them, offboarding deletes
-- the ones left with no membership at all.
REVOKE UPDATE ON users FROM tenantd_app;

-- A user who is still a member of any tenant cannot be deleted: the foreign key, which row
-- level security does not hide, refuses it instead of cascading.
ALTER TABLE memberships DROP CONSTRAINT memberships_user_id_fkey;
ALTER TABLE memberships ADD CONSTRAINT memberships_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id);

-- Sessions: unrestricted for the identity flows, which run with no tenant bound; a
-- transaction bound to a tenant writes only sessions active in that tenant.
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY sessions_read ON sessions FOR SELECT USING (true);
CREATE POLICY sessions_insert ON sessions FOR INSERT
  WITH CHECK ((SELECT app.current_tenant()) IS NULL OR active_tenant_id = (SELECT app.current_tenant()));
CREATE POLICY sessions_update ON sessions FOR UPDATE
  USING ((SELECT app.current_tenant()) IS NULL OR active_tenant_id = (SELECT app.current_tenant()))
  WITH CHECK ((SELECT app.current_tenant()) IS NULL OR active_tenant_id = (SELECT app.current_tenant()));
CREATE POLICY sessions_delete ON sessions FOR DELETE
  USING ((SELECT app.current_tenant()) IS NULL OR active_tenant_id = (SELECT app.current_tenant()));

-- The platform log: written from anywhere (security events are recorded from inside tenant
-- transactions too), read only outside every tenant.
ALTER TABLE platform_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY platform_events_write ON platform_events FOR INSERT WITH CHECK (true);
CREATE POLICY platform_events_read_unbound ON platform_events FOR SELECT USING ((SELECT app.current_tenant()) IS NULL);

-- +goose Down
DROP POLICY platform_events_read_unbound ON platform_events;
DROP POLICY platform_events_write ON platform_events;
ALTER TABLE platform_events DISABLE ROW LEVEL SECURITY;
DROP POLICY sessions_delete ON sessions;
DROP POLICY sessions_update ON sessions;
DROP POLICY sessions_insert ON sessions;
DROP POLICY sessions_read ON sessions;
ALTER TABLE sessions DISABLE ROW LEVEL SECURITY;
ALTER TABLE memberships DROP CONSTRAINT memberships_user_id_fkey;
ALTER TABLE memberships ADD CONSTRAINT memberships_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
GRANT UPDATE ON users TO tenantd_app;
