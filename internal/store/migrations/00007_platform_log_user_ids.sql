-- +goose Up
-- The platform log outlives offboarded tenants, so it names people by user id, not by email:
-- rewrite the emails earlier provisioning and member events recorded (dropped where the user is
-- gone already).
UPDATE platform_events e
   SET detail = (e.detail - 'owner_email') || CASE WHEN u.id IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('owner_user_id', u.id) END
  FROM (SELECT e2.id AS event_id, (SELECT id FROM users WHERE lower(email) = lower(e2.detail->>'owner_email')) AS id
          FROM platform_events e2 WHERE e2.kind = 'tenant.create' AND e2.detail ? 'owner_email') u
 WHERE e.id = u.event_id;
UPDATE platform_events e
   SET detail = (e.detail - 'email') || CASE WHEN u.id IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('user_id', u.id) END
  FROM (SELECT e2.id AS event_id, (SELECT id FROM users WHERE lower(email) = lower(e2.detail->>'email')) AS id
          FROM platform_events e2 WHERE e2.kind = 'member.add' AND e2.detail ? 'email') u
 WHERE e.id = u.event_id;

-- +goose Down
-- The emails are gone for good; nothing to restore.
SELECT 1;
