-- +goose Up
-- Idempotency-Key replays of API token creation used to be stored with the token's secret in
-- them. The secret is shown once and kept only hashed: remove it from every stored answer.
-- idempotency_keys forces row level security on its owner too, so each tenant is bound in turn.
-- +goose StatementBegin
DO $$
DECLARE
  t uuid;
BEGIN
  FOR t IN SELECT id FROM public.tenants LOOP
    PERFORM set_config('app.tenant_id', t::text, true);
    UPDATE public.idempotency_keys
       SET response_body = convert_to(jsonb_set(convert_from(response_body, 'UTF8')::jsonb, '{token}', 'null')::text, 'UTF8')
     WHERE tenant_id = t
       AND response_type LIKE 'application/json%'
       AND position('"api_token"' IN convert_from(response_body, 'UTF8')) > 0
       AND convert_from(response_body, 'UTF8')::jsonb ? 'api_token'
       AND jsonb_typeof(convert_from(response_body, 'UTF8')::jsonb -> 'token') = 'string';
  END LOOP;
  PERFORM set_config('app.tenant_id', '', true);
END
$$;
-- +goose StatementEnd

-- +goose Down
-- The secrets are gone for good; nothing to restore.
SELECT 1;
