-- Key roll with overlap, last use per secret generation, and the webhook delivery log for merchants.

-- Every generation of a client's API secret (generation = clients.credential_version when it was
-- current). The current one lives in clients.api_secret_hash (so a process of the previous release keeps
-- authenticating during a rolling upgrade); its row here has no hash and no expiry. A roll
-- (mospay.roll_client_secret) moves the old hash here with the expiry the user chose (0-7 days): until
-- then the old secret, and tokens issued with it (their `cv` claim), keep working. Last use is kept per
-- generation, written at most once a minute (insert_api_log, mospay.finish_payment).
CREATE TABLE client_secrets (
    client_id     bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    generation    integer NOT NULL,
    secret_hash   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    last_used_at  timestamptz,
    last_used_ip  text,
    PRIMARY KEY (client_id, generation),
    CONSTRAINT client_secrets_retired_check CHECK ((secret_hash IS NULL) = (expires_at IS NULL))
);

-- A new client's first generation gets its row here, whatever path inserted the client.
CREATE OR REPLACE FUNCTION mospay.client_secret_row() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO client_secrets (client_id, generation) VALUES (NEW.id, NEW.credential_version);
    RETURN NULL;
END $$;
CREATE TRIGGER clients_secret_row AFTER INSERT ON clients
    FOR EACH ROW EXECUTE FUNCTION mospay.client_secret_row();

-- Roll a client's API secret: the new hash becomes current (generation + 1); the old one stays valid for
-- p_overlap_s seconds (0: refused at once). Every older generation still in its overlap is cut to the
-- same deadline at most, so a roll with 0 revokes every old secret and token (the emergency rotation).
-- One row lock on the client: two rolls at once make two generations, never a lost one.
CREATE OR REPLACE FUNCTION mospay.roll_client_secret(p_app_id text, p_secret_hash text, p_overlap_s integer)
RETURNS TABLE (o_app_id text, o_api_username text, o_generation integer, o_previous_generation integer,
               o_previous_expires_at timestamptz)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    r record;
    v_expires timestamptz;
BEGIN
    IF p_overlap_s IS NULL OR p_overlap_s < 0 OR p_overlap_s > 7 * 86400 THEN
        RAISE EXCEPTION 'overlap must be 0 to 604800 seconds' USING ERRCODE = '22023';
    END IF;
    SELECT c.id, c.app_id, c.api_username, c.api_secret_hash, c.credential_version
      INTO r FROM clients c WHERE c.app_id = p_app_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    v_expires := now() + make_interval(secs => p_overlap_s);
    UPDATE client_secrets SET expires_at = v_expires
     WHERE client_id = r.id AND expires_at > v_expires;
    INSERT INTO client_secrets (client_id, generation, secret_hash, expires_at)
    VALUES (r.id, r.credential_version, r.api_secret_hash, v_expires)
    ON CONFLICT (client_id, generation)
        DO UPDATE SET secret_hash = EXCLUDED.secret_hash, expires_at = EXCLUDED.expires_at;
    UPDATE clients SET api_secret_hash = p_secret_hash, credential_version = credential_version + 1,
                       updated_at = now()
     WHERE id = r.id;
    INSERT INTO client_secrets (client_id, generation) VALUES (r.id, r.credential_version + 1)
    ON CONFLICT (client_id, generation) DO NOTHING;
    -- History of last use is kept for 30 days after a generation stopped working.
    DELETE FROM client_secrets WHERE client_id = r.id AND expires_at < now() - interval '30 days';
    RETURN QUERY SELECT r.app_id, r.api_username, r.credential_version + 1, r.credential_version, v_expires;
END $$;

-- Every existing client's current secret becomes its current generation (no hash here, no expiry): its
-- secret and tokens keep working unchanged.
INSERT INTO client_secrets (client_id, generation, created_at)
SELECT id, credential_version, updated_at FROM clients;

-- The payment path reads older generations still in their overlap into its cached context, and
-- finish_payment writes the last use of the generation that authenticated.
CREATE OR REPLACE FUNCTION mospay.start_payment(
    p_app_id text, p_service text, p_stamp text, p_route text, p_f010 text, p_amount numeric,
    p_msisdn text, p_request jsonb, p_request_hash text, p_function text, p_data jsonb,
    p_rate_default integer)
RETURNS TABLE (o_context jsonb, o_id bigint, o_public_id text, o_replay boolean, o_status text,
               o_request_hash text, o_response_code integer, o_response_body jsonb, o_plan jsonb,
               o_reference text, o_retry_after numeric)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    r record;
    v_stamp text;
    v_wait numeric;
    v_previous jsonb;
    v_previous_stamp text;
BEGIN
    SELECT c.id AS client_id, c.app_id, c.api_username, c.api_secret_hash, c.credential_version,
           c.active AS client_active, c.rate_limit_per_minute,
           s.id AS service_id, s.active AS service_active, s.connect_timeout_s, s.timeout_s, s.fields_version,
           cs.routes, cs.active AS assignment_active
      INTO r
      FROM clients c
      LEFT JOIN services s ON s.name = p_service
      LEFT JOIN client_services cs ON cs.client_id = c.id AND cs.service_id = s.id
     WHERE c.app_id = p_app_id;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'null'::jsonb, NULL::bigint, NULL::text, NULL::boolean, NULL::text, NULL::text,
                            NULL::integer, NULL::jsonb, NULL::jsonb, NULL::text, NULL::numeric;
        RETURN;
    END IF;
    -- Older secrets still in their overlap after a roll (mospay.roll_client_secret): a retired
    -- generation's hash never changes and its expiry only shrinks, so generation and expiry stand for it.
    SELECT jsonb_agg(jsonb_build_object('generation', k.generation, 'secret_hash', k.secret_hash,
                                        'expires_at', extract(epoch FROM k.expires_at)) ORDER BY k.generation),
           string_agg(k.generation || '@' || extract(epoch FROM k.expires_at), ',' ORDER BY k.generation)
      INTO v_previous, v_previous_stamp
      FROM client_secrets k
     WHERE k.client_id = r.client_id AND k.generation <> r.credential_version AND k.expires_at > now();
    -- The secret's hash changes only with credential_version (rotation bumps it), so the version stands for both.
    v_stamp := format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', r.client_id, r.api_username, r.credential_version,
                      r.client_active, r.rate_limit_per_minute, r.service_id, r.service_active, r.fields_version,
                      r.connect_timeout_s, r.timeout_s, r.assignment_active, r.routes, v_previous_stamp);
    IF p_stamp IS DISTINCT FROM v_stamp THEN
        RETURN QUERY SELECT jsonb_build_object(
            'stamp', v_stamp, 'client_id', r.client_id, 'app_id', r.app_id, 'api_username', r.api_username,
            'api_secret_hash', r.api_secret_hash, 'credential_version', r.credential_version,
            'previous_secrets', coalesce(v_previous, '[]'::jsonb), 'client_active', r.client_active, 'rate_limit_per_minute', r.rate_limit_per_minute,
            'service_id', r.service_id, 'service_active', r.service_active,
            'connect_timeout_s', r.connect_timeout_s, 'timeout_s', r.timeout_s,
            'routes', r.routes, 'assignment_active', r.assignment_active,
            'fields', (SELECT jsonb_agg(jsonb_build_object(
                                'code', f.code, 'label', f.label, 'type', f.field_type, 'required', f.required,
                                'max_length', f.max_length, 'pattern', f.pattern, 'secret', f.secret)
                                ORDER BY f.code)
                         FROM service_fields f WHERE f.service_id = r.service_id)),
            NULL::bigint, NULL::text, NULL::boolean, NULL::text, NULL::text, NULL::integer, NULL::jsonb, NULL::jsonb,
            NULL::text, NULL::numeric;
        RETURN;
    END IF;
    IF coalesce(r.rate_limit_per_minute, p_rate_default) > 0 THEN  -- 0: no limit, no bucket to touch
        v_wait := mospay.take_rate_token(r.client_id, 'payment', coalesce(r.rate_limit_per_minute, p_rate_default));
    END IF;
    IF v_wait > 0 THEN
        RETURN QUERY SELECT NULL::jsonb, NULL::bigint, NULL::text, NULL::boolean, NULL::text, NULL::text,
                            NULL::integer, NULL::jsonb, NULL::jsonb, NULL::text, v_wait;
        RETURN;
    END IF;
    RETURN QUERY SELECT NULL::jsonb, p.*, 0::numeric
      FROM mospay.record_payment(r.client_id, r.service_id, p_route, p_f010, p_amount, p_msisdn, p_request,
                                 p_request_hash, p_function, p_data, r.connect_timeout_s + r.timeout_s + 2) p;
END $$;

CREATE OR REPLACE FUNCTION mospay.finish_payment(
    p_id bigint, p_function text, p_unique_id text, p_data jsonb, p_code integer,
    p_output jsonb, p_result jsonb, p_log jsonb)
RETURNS TABLE (o_status text, o_response_code integer, o_response_body jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    v_result jsonb := p_result;
    v_status text;
    v_reason text;
    v_code integer;
    v_body jsonb;
BEGIN
    IF p_function IS NOT NULL THEN
        BEGIN
            v_result := mospay.call_response_function(p_function, p_unique_id, p_data, p_code, p_output);
            v_reason := 'provider response';
        EXCEPTION WHEN OTHERS THEN
            -- The provider was called: an answer we cannot interpret is UNKNOWN, never FAILED.
            v_result := jsonb_build_object('status', 'UNKNOWN',
                                           'message', 'the response function failed; outcome unknown');
            v_reason := 'response function error: ' || left(SQLERRM, 200);
        END;
    END IF;
    IF jsonb_typeof(v_result) IS DISTINCT FROM 'object' THEN
        v_result := jsonb_build_object('status', 'UNKNOWN', 'message', 'the response function returned no object');
    END IF;
    v_status := upper(coalesce(v_result ->> 'status', ''));
    IF v_status NOT IN ('SUCCESSFUL', 'FAILED', 'PENDING', 'UNKNOWN') THEN
        v_status := 'UNKNOWN';
    END IF;
    -- A 5xx is not a decline: the money may have moved.
    IF p_code >= 500 AND v_status = 'FAILED' THEN
        v_status := 'UNKNOWN';
    END IF;
    v_result := v_result || jsonb_build_object('status', v_status);
    v_code := mospay.http_status_for(v_status);

    -- One statement, one row lock: the answer is applied to a transaction still RECEIVED, or to one
    -- that the reconciler left open when this answer settles it.
    UPDATE transactions t
       SET status = v_status,
           status_reason = coalesce(v_reason, p_result ->> 'reason', 'gateway'),
           provider_http_status = p_code,
           provider_response = p_output,
           result = v_result,
           response_code = v_code,
           response_body = mospay.public_answer(t.public_id, t.f010, v_status, v_result),
           next_check_at = CASE WHEN v_status IN ('PENDING', 'UNKNOWN')
                                THEN mospay.next_check_at(t.created_at, s.reconcile_schedule_s, 0) END,
           updated_at = now()
      FROM services s
     WHERE t.id = p_id AND s.id = t.service_id
       AND (t.status = 'RECEIVED'
            OR (t.status IN ('PENDING', 'UNKNOWN') AND v_status IN ('SUCCESSFUL', 'FAILED')))
     RETURNING t.response_body INTO v_body;
    IF NOT FOUND THEN
        UPDATE transactions t
           SET response_code = coalesce(t.response_code, mospay.http_status_for(t.status)),
               response_body = coalesce(t.response_body, mospay.public_answer(
                   t.public_id, t.f010, t.status, coalesce(t.result, jsonb_build_object('status', t.status))))
         WHERE t.id = p_id
        RETURNING t.status, t.response_code, t.response_body INTO v_status, v_code, v_body;
    END IF;

    INSERT INTO api_logs (request_id, client_id, app_id, endpoint, method, status_code, duration_ms,
                          ip, user_agent, request_body, response_body)
    VALUES (p_log ->> 'request_id', (p_log ->> 'client_id')::bigint, p_log ->> 'app_id',
            p_log ->> 'endpoint', p_log ->> 'method', v_code, (p_log ->> 'duration_ms')::numeric,
            p_log ->> 'ip', p_log ->> 'user_agent', p_data, v_body);
    -- When and from where this secret generation was last used: at most one write a minute per key.
    UPDATE client_secrets SET last_used_at = now(), last_used_ip = p_log ->> 'ip'
     WHERE client_id = (p_log ->> 'client_id')::bigint AND generation = (p_log ->> 'key_generation')::integer
       AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');

    RETURN QUERY SELECT v_status, v_code, v_body;
END $$;

-- Webhooks: test events have no transaction; each attempt keeps the start of the endpoint's answer;
-- a client's delivery log and the 30-day pruning of attempts have their indexes.
ALTER TABLE webhook_events ALTER COLUMN transaction_id DROP NOT NULL;
CREATE INDEX webhook_events_client_idx ON webhook_events (client_id, created_at DESC, id DESC);
ALTER TABLE webhook_attempts ADD COLUMN response_excerpt text CHECK (length(response_excerpt) <= 500);
CREATE INDEX webhook_attempts_attempted_idx ON webhook_attempts (attempted_at);

-- A client's own API calls (merchant portal). Built inside the migration's transaction: on a large
-- api_logs, upgrade in a quiet hour or create it beforehand with CREATE INDEX CONCURRENTLY under this name.
CREATE INDEX IF NOT EXISTS api_logs_client_created_idx ON api_logs (client_id, created_at DESC, id DESC);

-- A merchant's transaction totals read only this index (index-only scan): rebuilt with INCLUDE. Built
-- inside the migration's transaction (writes to transactions wait, about 2 s per million rows).
DROP INDEX transactions_client_created_idx;
CREATE INDEX transactions_client_created_idx ON transactions (client_id, created_at DESC, id DESC)
    INCLUDE (service_id, status, amount);
