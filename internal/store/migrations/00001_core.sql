-- +goose Up
-- The whole domain schema. Global identity tables (tenants, users, sessions, platform events)
-- carry no tenant; every other table is tenant-owned and follows the same contract:
-- tenant_id NOT NULL with a cascading FK to tenants, primary key (tenant_id, id), unique
-- constraints and indexes that lead with tenant_id, composite FKs between tenant-owned tables,
-- and FORCE ROW LEVEL SECURITY with one policy over app.current_tenant().

-- +goose StatementBegin
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tenantd_app') THEN
    CREATE ROLE tenantd_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
END
$$;
-- +goose StatementEnd

CREATE SCHEMA app;
GRANT USAGE ON SCHEMA app TO tenantd_app;
GRANT USAGE ON SCHEMA public TO tenantd_app;

-- The tenant of the current transaction. STABLE and plain SQL so that, wrapped as
-- (SELECT app.current_tenant()), it is evaluated once per statement and index scans stay
-- possible. Unset (NULL or '' after a SET LOCAL elsewhere on the connection) yields NULL, which
-- matches no row.
CREATE FUNCTION app.current_tenant() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;

-- The user of the current transaction, used only by the self-read policy on memberships (a
-- user may list their own memberships across tenants, e.g. at login).
CREATE FUNCTION app.current_user_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;

GRANT EXECUTE ON FUNCTION app.current_tenant(), app.current_user_id() TO tenantd_app;

CREATE TABLE tenants (
  id uuid PRIMARY KEY,
  slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'offboarding')),
  primary_domain text UNIQUE CHECK (primary_domain = lower(primary_domain)),
  allow_self_registration boolean NOT NULL DEFAULT true,
  -- Bumped (by the triggers below) in the same transaction as any change that can alter who
  -- may act in this tenant: memberships, API tokens, sessions, thresholds, slug, domain, status.
  -- A server may remember a verified credential only as long as this number is unchanged, and
  -- it reads the number in the same statement that sets the tenant of every request.
  auth_gen bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id uuid PRIMARY KEY,
  email text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
  name text NOT NULL,
  password_hash text NOT NULL,
  default_tenant_id uuid REFERENCES tenants (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE sessions (
  id uuid PRIMARY KEY,
  token_hash bytea NOT NULL UNIQUE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  active_tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_tenant_idx ON sessions (active_tenant_id);

-- Events that concern the platform or no verified tenant (operator actions, signatures that
-- could not be verified). Not readable through any tenant route.
CREATE TABLE platform_events (
  id uuid PRIMARY KEY,
  subject_tenant_id uuid,
  kind text NOT NULL,
  actor text NOT NULL,
  detail jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX platform_events_created_idx ON platform_events (created_at);

-- Tenant-owned tables ------------------------------------------------------------------------

CREATE TABLE memberships (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('OWNER', 'ADMIN', 'TEAM_LEAD', 'STAFF', 'CLIENT')),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, user_id)
);
CREATE INDEX memberships_role_idx ON memberships (tenant_id, role);

CREATE TABLE api_tokens (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  user_id uuid NOT NULL,
  name text NOT NULL,
  role text NOT NULL CHECK (role IN ('OWNER', 'ADMIN', 'TEAM_LEAD', 'STAFF', 'CLIENT')),
  token_hash bytea NOT NULL,
  prefix text NOT NULL,
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, token_hash),
  FOREIGN KEY (tenant_id, user_id) REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE
);

CREATE TABLE services (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  slug text NOT NULL CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'),
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  duration_minutes integer NOT NULL CHECK (duration_minutes > 0),
  price_cents bigint NOT NULL CHECK (price_cents >= 0),
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, slug)
);

CREATE TABLE service_settings (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  default_currency text NOT NULL DEFAULT 'USD' CHECK (default_currency ~ '^[A-Z]{3}$'),
  default_duration_minutes integer NOT NULL DEFAULT 60 CHECK (default_duration_minutes > 0),
  buffer_minutes integer NOT NULL DEFAULT 0 CHECK (buffer_minutes >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id)
);

CREATE TABLE team_members (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  user_id uuid,
  name text NOT NULL,
  email text NOT NULL DEFAULT '',
  title text NOT NULL DEFAULT '',
  capacity_hours_per_week integer NOT NULL DEFAULT 40 CHECK (capacity_hours_per_week BETWEEN 0 AND 168),
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, user_id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES memberships (tenant_id, user_id)
);

CREATE TABLE service_requests (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  client_id uuid NOT NULL,
  service_id uuid,
  assignee_id uuid,
  title text NOT NULL,
  description text NOT NULL DEFAULT '',
  status text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'in_progress', 'on_hold', 'completed', 'cancelled')),
  priority text NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, client_id) REFERENCES memberships (tenant_id, user_id),
  FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, id),
  FOREIGN KEY (tenant_id, assignee_id) REFERENCES team_members (tenant_id, id)
);
CREATE INDEX service_requests_client_idx ON service_requests (tenant_id, client_id, created_at);
CREATE INDEX service_requests_service_idx ON service_requests (tenant_id, service_id);
CREATE INDEX service_requests_assignee_idx ON service_requests (tenant_id, assignee_id);

CREATE TABLE bookings (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  service_id uuid NOT NULL,
  client_id uuid NOT NULL,
  service_request_id uuid,
  assignee_id uuid,
  starts_at timestamptz NOT NULL,
  ends_at timestamptz NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'confirmed', 'cancelled', 'completed')),
  notes text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CHECK (ends_at > starts_at),
  FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, id),
  FOREIGN KEY (tenant_id, client_id) REFERENCES memberships (tenant_id, user_id),
  FOREIGN KEY (tenant_id, service_request_id) REFERENCES service_requests (tenant_id, id),
  FOREIGN KEY (tenant_id, assignee_id) REFERENCES team_members (tenant_id, id)
);
CREATE INDEX bookings_starts_idx ON bookings (tenant_id, starts_at);
CREATE INDEX bookings_client_idx ON bookings (tenant_id, client_id, starts_at);
CREATE INDEX bookings_service_idx ON bookings (tenant_id, service_id, starts_at);
CREATE INDEX bookings_request_idx ON bookings (tenant_id, service_request_id);
CREATE INDEX bookings_assignee_idx ON bookings (tenant_id, assignee_id);

CREATE TABLE work_orders (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  code text NOT NULL CHECK (length(code) BETWEEN 1 AND 64),
  title text NOT NULL,
  description text NOT NULL DEFAULT '',
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'done', 'cancelled')),
  service_request_id uuid,
  assignee_id uuid,
  due_on date,
  estimated_hours numeric(8, 2) NOT NULL DEFAULT 0 CHECK (estimated_hours >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, code),
  FOREIGN KEY (tenant_id, service_request_id) REFERENCES service_requests (tenant_id, id),
  FOREIGN KEY (tenant_id, assignee_id) REFERENCES team_members (tenant_id, id)
);
CREATE INDEX work_orders_request_idx ON work_orders (tenant_id, service_request_id);
CREATE INDEX work_orders_assignee_idx ON work_orders (tenant_id, assignee_id);

CREATE TABLE invoice_sequences (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  next_number bigint NOT NULL DEFAULT 1 CHECK (next_number > 0),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id)
);

CREATE TABLE invoices (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  number bigint NOT NULL CHECK (number > 0),
  client_id uuid NOT NULL,
  service_request_id uuid,
  status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'sent', 'paid', 'void')),
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  total_cents bigint NOT NULL DEFAULT 0 CHECK (total_cents >= 0),
  due_on date,
  paid_at timestamptz,
  payment_method text,
  notes text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, number),
  FOREIGN KEY (tenant_id, client_id) REFERENCES memberships (tenant_id, user_id),
  FOREIGN KEY (tenant_id, service_request_id) REFERENCES service_requests (tenant_id, id)
);
CREATE INDEX invoices_client_idx ON invoices (tenant_id, client_id, created_at);
CREATE INDEX invoices_request_idx ON invoices (tenant_id, service_request_id);

CREATE TABLE invoice_items (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  invoice_id uuid NOT NULL,
  description text NOT NULL,
  quantity integer NOT NULL CHECK (quantity > 0),
  unit_price_cents bigint NOT NULL CHECK (unit_price_cents >= 0),
  amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
  position integer NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX invoice_items_invoice_idx ON invoice_items (tenant_id, invoice_id, position);

CREATE TABLE expenses (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  description text NOT NULL,
  category text NOT NULL DEFAULT 'general',
  amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  incurred_on date NOT NULL,
  created_by uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, created_by) REFERENCES memberships (tenant_id, user_id)
);
CREATE INDEX expenses_incurred_idx ON expenses (tenant_id, incurred_on);
CREATE INDEX expenses_creator_idx ON expenses (tenant_id, created_by);

CREATE TABLE attachments (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  storage_key text NOT NULL,
  file_name text NOT NULL,
  content_type text NOT NULL,
  size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
  sha256 text NOT NULL,
  uploaded_by uuid NOT NULL,
  client_id uuid,
  service_request_id uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, storage_key),
  FOREIGN KEY (tenant_id, uploaded_by) REFERENCES memberships (tenant_id, user_id),
  FOREIGN KEY (tenant_id, client_id) REFERENCES memberships (tenant_id, user_id),
  FOREIGN KEY (tenant_id, service_request_id) REFERENCES service_requests (tenant_id, id)
);
CREATE INDEX attachments_client_idx ON attachments (tenant_id, client_id);
CREATE INDEX attachments_request_idx ON attachments (tenant_id, service_request_id);
CREATE INDEX attachments_uploader_idx ON attachments (tenant_id, uploaded_by);

CREATE TABLE reminders (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  title text NOT NULL,
  message text NOT NULL DEFAULT '',
  due_at timestamptz NOT NULL,
  user_id uuid,
  booking_id uuid,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
  sent_at timestamptz,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES memberships (tenant_id, user_id),
  FOREIGN KEY (tenant_id, booking_id) REFERENCES bookings (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, created_by) REFERENCES memberships (tenant_id, user_id)
);
CREATE INDEX reminders_due_idx ON reminders (tenant_id, status, due_at);
CREATE INDEX reminders_user_idx ON reminders (tenant_id, user_id);
CREATE INDEX reminders_booking_idx ON reminders (tenant_id, booking_id);
CREATE INDEX reminders_creator_idx ON reminders (tenant_id, created_by);

CREATE TABLE chat_messages (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  client_id uuid NOT NULL,
  sender_id uuid NOT NULL,
  body text NOT NULL CHECK (length(body) BETWEEN 1 AND 10000),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, client_id) REFERENCES memberships (tenant_id, user_id),
  FOREIGN KEY (tenant_id, sender_id) REFERENCES memberships (tenant_id, user_id)
);
CREATE INDEX chat_messages_thread_idx ON chat_messages (tenant_id, client_id, created_at);
CREATE INDEX chat_messages_sender_idx ON chat_messages (tenant_id, sender_id);

CREATE TABLE booking_settings (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  allow_online_booking boolean NOT NULL DEFAULT true,
  require_confirmation boolean NOT NULL DEFAULT true,
  slot_minutes integer NOT NULL DEFAULT 30 CHECK (slot_minutes BETWEEN 5 AND 480),
  min_notice_minutes integer NOT NULL DEFAULT 60 CHECK (min_notice_minutes >= 0),
  max_advance_days integer NOT NULL DEFAULT 90 CHECK (max_advance_days BETWEEN 1 AND 730),
  day_start_minute integer NOT NULL DEFAULT 540 CHECK (day_start_minute BETWEEN 0 AND 1439),
  day_end_minute integer NOT NULL DEFAULT 1020 CHECK (day_end_minute BETWEEN 1 AND 1440),
  working_days integer[] NOT NULL DEFAULT '{1,2,3,4,5}',
  timezone text NOT NULL DEFAULT 'UTC',
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id),
  CHECK (day_end_minute > day_start_minute)
);

CREATE TABLE communication_settings (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  from_name text NOT NULL DEFAULT '',
  from_email text NOT NULL DEFAULT '',
  reply_to text NOT NULL DEFAULT '',
  smtp_host text NOT NULL DEFAULT '',
  smtp_port integer NOT NULL DEFAULT 587 CHECK (smtp_port BETWEEN 1 AND 65535),
  smtp_username text NOT NULL DEFAULT '',
  smtp_password text NOT NULL DEFAULT '',
  email_signature text NOT NULL DEFAULT '',
  notify_on_booking boolean NOT NULL DEFAULT true,
  notify_on_invoice boolean NOT NULL DEFAULT true,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id)
);

CREATE TABLE thresholds (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  overdue_invoice_days integer NOT NULL DEFAULT 30 CHECK (overdue_invoice_days >= 0),
  max_open_requests_per_member integer NOT NULL DEFAULT 10 CHECK (max_open_requests_per_member >= 0),
  expense_approval_cents bigint NOT NULL DEFAULT 100000 CHECK (expense_approval_cents >= 0),
  requests_per_minute integer NOT NULL DEFAULT 600 CHECK (requests_per_minute > 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id)
);

CREATE TABLE posts (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  slug text NOT NULL CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'),
  title text NOT NULL,
  body text NOT NULL DEFAULT '',
  status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
  author_id uuid,
  published_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, slug),
  FOREIGN KEY (tenant_id, author_id) REFERENCES memberships (tenant_id, user_id)
);
CREATE INDEX posts_published_idx ON posts (tenant_id, status, published_at);
CREATE INDEX posts_author_idx ON posts (tenant_id, author_id);

CREATE TABLE idempotency_keys (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  user_id uuid NOT NULL,
  key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  request_hash bytea NOT NULL,
  status_code integer,
  response_body bytea,
  response_type text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (tenant_id, created_at);

CREATE TABLE audit_events (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  actor_user_id uuid,
  actor text NOT NULL DEFAULT '',
  action text NOT NULL,
  target_type text NOT NULL DEFAULT '',
  target_id text NOT NULL DEFAULT '',
  detail jsonb NOT NULL DEFAULT '{}',
  request_id text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_events_created_idx ON audit_events (tenant_id, created_at);

CREATE TABLE outbox_messages (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  to_address text NOT NULL,
  subject text NOT NULL,
  body text NOT NULL,
  from_address text NOT NULL DEFAULT '',
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
  error text NOT NULL DEFAULT '',
  attempts integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX outbox_messages_status_idx ON outbox_messages (tenant_id, status, created_at);

CREATE TABLE payment_sessions (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  invoice_id uuid NOT NULL,
  method text NOT NULL CHECK (method IN ('card', 'cod')),
  amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'failed', 'expired', 'pending_collection')),
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, created_by) REFERENCES memberships (tenant_id, user_id)
);
CREATE INDEX payment_sessions_invoice_idx ON payment_sessions (tenant_id, invoice_id);
CREATE INDEX payment_sessions_creator_idx ON payment_sessions (tenant_id, created_by);

-- Maps a payment session to its tenant, so that a provider's webhook (which names only the
-- session) is handled in the tenant that created the session, never one named by the payload.
-- Global on purpose: it is consulted before any tenant is known, and it holds no tenant data.
CREATE TABLE payment_session_routes (
  session_id uuid PRIMARY KEY,
  owner_tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_session_routes_owner_idx ON payment_session_routes (owner_tenant_id);

-- Hardening: the same grants, RLS switches and policy on every tenant-owned table.
-- +goose StatementBegin
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY[
    'memberships', 'api_tokens', 'services', 'service_settings', 'team_members',
    'service_requests', 'bookings', 'work_orders', 'invoice_sequences', 'invoices',
    'invoice_items', 'expenses', 'attachments', 'reminders', 'chat_messages',
    'booking_settings', 'communication_settings', 'thresholds', 'posts', 'idempotency_keys',
    'audit_events', 'outbox_messages', 'payment_sessions'
  ] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = (SELECT app.current_tenant())) WITH CHECK (tenant_id = (SELECT app.current_tenant()))', t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO tenantd_app', t);
  END LOOP;
END
$$;
-- +goose StatementEnd

-- Authorization generation: every change that can alter a verification outcome bumps it.
-- +goose StatementBegin
CREATE FUNCTION app.bump_auth_gen() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE FUNCTION app.bump_own_auth_gen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.slug IS DISTINCT FROM OLD.slug OR NEW.primary_domain IS DISTINCT FROM OLD.primary_domain
     OR NEW.status IS DISTINCT FROM OLD.status THEN
    NEW.auth_gen := OLD.auth_gen + 1;
  END IF;
  RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER memberships_auth_gen AFTER INSERT OR UPDATE OR DELETE ON memberships
  FOR EACH ROW EXECUTE FUNCTION app.bump_auth_gen();
CREATE TRIGGER api_tokens_auth_gen AFTER INSERT OR UPDATE OR DELETE ON api_tokens
  FOR EACH ROW EXECUTE FUNCTION app.bump_auth_gen();
CREATE TRIGGER thresholds_auth_gen AFTER UPDATE OR DELETE ON thresholds
  FOR EACH ROW EXECUTE FUNCTION app.bump_auth_gen();
CREATE TRIGGER sessions_auth_gen AFTER UPDATE OR DELETE ON sessions
  FOR EACH ROW EXECUTE FUNCTION app.bump_auth_gen();
CREATE TRIGGER tenants_auth_gen BEFORE UPDATE ON tenants
  FOR EACH ROW EXECUTE FUNCTION app.bump_own_auth_gen();

-- A user may read their own memberships in every tenant (login and the session's membership
-- list); writing still needs the tenant.
CREATE POLICY member_self_read ON memberships FOR SELECT
  USING (user_id = (SELECT app.current_user_id()));

GRANT SELECT, INSERT, UPDATE, DELETE ON tenants TO tenantd_app;
-- DELETE: offboarding removes users left with no membership at all.
GRANT SELECT, INSERT, UPDATE, DELETE ON users TO tenantd_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON sessions TO tenantd_app;
GRANT SELECT, INSERT ON platform_events TO tenantd_app;
GRANT SELECT, INSERT ON payment_session_routes TO tenantd_app;
-- /readyz compares the applied version with the binary's.
GRANT SELECT ON goose_db_version TO tenantd_app;

-- +goose Down
DROP TABLE payment_session_routes, payment_sessions, outbox_messages, audit_events, idempotency_keys, posts, thresholds,
  communication_settings, booking_settings, chat_messages, reminders, attachments, expenses,
  invoice_items, invoices, invoice_sequences, work_orders, bookings, service_requests,
  team_members, service_settings, services, api_tokens, memberships, platform_events, sessions,
  users, tenants;
DROP SCHEMA app CASCADE;

