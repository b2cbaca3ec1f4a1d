-- Schema version 4: the reference sent to providers is unique per transaction across all clients
-- (derived from public_id; rows still open from before keep the f010 they were sent), and per-client
-- rate limits are counted in PostgreSQL, shared by every process and instance.

ALTER TABLE transactions ADD COLUMN provider_ref text;
-- Open rows were sent their f010: their status queries and callbacks must keep matching on it.
UPDATE transactions SET provider_ref = f010 WHERE status IN ('RECEIVED', 'PENDING', 'UNKNOWN');

CREATE OR REPLACE FUNCTION mospay.provider_reference(p_public_id text, p_provider_ref text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(p_provider_ref, CASE WHEN p_public_id ~ '^txn_[0-9a-f]{32}$'
                                         THEN substr(p_public_id, 5)::uuid::text ELSE p_public_id END)
$$;

CREATE OR REPLACE FUNCTION mospay.public_id_for_reference(p_reference text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_reference ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                THEN 'txn_' || replace(lower(p_reference), '-', '') END
$$;

CREATE TABLE client_rate_buckets (
    client_id     bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('payment', 'token', 'status')),
    tokens        double precision NOT NULL,
    refreshed_at  timestamptz NOT NULL,
    PRIMARY KEY (client_id, kind)
);

CREATE OR REPLACE FUNCTION mospay.take_rate_token(p_client_id bigint, p_kind text, p_per_minute integer)
RETURNS numeric LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_tokens double precision;
BEGIN
    IF coalesce(p_per_minute, 0) <= 0 THEN
        RETURN 0;
    END IF;
    INSERT INTO client_rate_buckets AS b (client_id, kind, tokens, refreshed_at)
    VALUES (p_client_id, p_kind, p_per_minute - 1, v_now)
    ON CONFLICT (client_id, kind) DO UPDATE
       SET tokens = least(p_per_minute::double precision,
                          b.tokens + extract(epoch FROM v_now - b.refreshed_at) * p_per_minute / 60.0) - 1,
           refreshed_at = v_now
     WHERE least(p_per_minute::double precision,
                 b.tokens + extract(epoch FROM v_now - b.refreshed_at) * p_per_minute / 60.0) >= 1
    RETURNING b.tokens INTO v_tokens;
    IF FOUND THEN
        RETURN 0;
    END IF;
    SELECT least(p_per_minute::double precision,
                 b.tokens + extract(epoch FROM v_now - b.refreshed_at) * p_per_minute / 60.0)
      INTO v_tokens
      FROM client_rate_buckets b WHERE b.client_id = p_client_id AND b.kind = p_kind;
    RETURN greatest(1, ceil((1 - v_tokens) * 60.0 / p_per_minute));
END $$;

-- New result columns (o_reference, o_retry_after) and a new argument (p_rate_default).
DROP FUNCTION mospay.start_payment(text, text, text, text, text, numeric, text, jsonb, text, text, jsonb);
DROP FUNCTION mospay.record_payment(bigint, bigint, text, text, numeric, text, jsonb, text, text, jsonb, numeric);

CREATE OR REPLACE FUNCTION mospay.record_payment(
    p_client_id bigint, p_service_id bigint, p_route text, p_f010 text, p_amount numeric,
    p_msisdn text, p_request jsonb, p_request_hash text, p_function text, p_data jsonb,
    p_check_after_s numeric)
RETURNS TABLE (o_id bigint, o_public_id text, o_replay boolean, o_status text, o_request_hash text,
               o_response_code integer, o_response_body jsonb, o_plan jsonb, o_reference text)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    v_id bigint;
    v_public_id text;
    v_reference text;
BEGIN
    INSERT INTO transactions AS t (client_id, service_id, route, f010, amount, msisdn, request,
                                   request_hash, status_reason, next_check_at)
    VALUES (p_client_id, p_service_id, p_route, p_f010, p_amount, p_msisdn, p_request, p_request_hash,
            'received', now() + make_interval(secs => p_check_after_s))
    ON CONFLICT (client_id, f010) DO NOTHING
    RETURNING t.id, t.public_id INTO v_id, v_public_id;

    IF v_id IS NULL THEN
        RETURN QUERY
            SELECT t.id, t.public_id, true, t.status, t.request_hash, t.response_code, t.response_body,
                   NULL::jsonb, mospay.provider_reference(t.public_id, t.provider_ref)
              FROM transactions t
             WHERE t.client_id = p_client_id AND t.f010 = p_f010;
        RETURN;
    END IF;
    v_reference := mospay.provider_reference(v_public_id, NULL);
    RETURN QUERY SELECT v_id, v_public_id, false, 'RECEIVED'::text, p_request_hash, NULL::integer,
                        NULL::jsonb, mospay.call_request_function(p_function, v_reference, p_data), v_reference;
END $$;

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
    -- The secret's hash changes only with credential_version (rotation bumps it), so the version stands for both.
    v_stamp := format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', r.client_id, r.api_username, r.credential_version,
                      r.client_active, r.rate_limit_per_minute, r.service_id, r.service_active, r.fields_version,
                      r.connect_timeout_s, r.timeout_s, r.assignment_active, r.routes);
    IF p_stamp IS DISTINCT FROM v_stamp THEN
        RETURN QUERY SELECT jsonb_build_object(
            'stamp', v_stamp, 'client_id', r.client_id, 'app_id', r.app_id, 'api_username', r.api_username,
            'api_secret_hash', r.api_secret_hash, 'credential_version', r.credential_version,
            'client_active', r.client_active, 'rate_limit_per_minute', r.rate_limit_per_minute,
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
    v_wait := mospay.take_rate_token(r.client_id, 'payment', coalesce(r.rate_limit_per_minute, p_rate_default));
    IF v_wait > 0 THEN
        RETURN QUERY SELECT NULL::jsonb, NULL::bigint, NULL::text, NULL::boolean, NULL::text, NULL::text,
                            NULL::integer, NULL::jsonb, NULL::jsonb, NULL::text, v_wait;
        RETURN;
    END IF;
    RETURN QUERY SELECT NULL::jsonb, p.*, 0::numeric
      FROM mospay.record_payment(r.client_id, r.service_id, p_route, p_f010, p_amount, p_msisdn, p_request,
                                 p_request_hash, p_function, p_data, r.connect_timeout_s + r.timeout_s + 2) p;
END $$;

CREATE OR REPLACE FUNCTION mospay.plan_checks(p_ids bigint[], p_functions text[])
RETURNS TABLE (o_id bigint, o_plan jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    r record;
    v_plan jsonb;
BEGIN
    FOR r IN
        SELECT t.id, mospay.provider_reference(t.public_id, t.provider_ref) AS reference, t.request, x.function
          FROM unnest(p_ids, p_functions) AS x (id, function)
          JOIN transactions t ON t.id = x.id
    LOOP
        BEGIN
            v_plan := mospay.call_status_function(r.function, r.reference, r.request, NULL, NULL);
        EXCEPTION WHEN OTHERS THEN
            v_plan := jsonb_build_object('action', 'ERROR', 'message', left(SQLERRM, 200));
        END;
        RETURN QUERY SELECT r.id, v_plan;
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION mospay.record_check(
    p_id bigint, p_function text, p_code integer, p_output jsonb, p_cause text)
RETURNS TABLE (o_status text, o_stuck boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    t record;
    v_result jsonb;
    v_status text := 'UNKNOWN';
    v_next timestamptz;
BEGIN
    SELECT tr.*, s.reconcile_schedule_s AS schedule
      INTO t
      FROM transactions tr JOIN services s ON s.id = tr.service_id
     WHERE tr.id = p_id
       FOR UPDATE OF tr;
    IF t.status NOT IN ('RECEIVED', 'PENDING', 'UNKNOWN') OR t.stuck THEN
        RETURN QUERY SELECT t.status, t.stuck;
        RETURN;
    END IF;
    IF p_code IS NOT NULL THEN
        BEGIN
            v_result := mospay.call_status_function(p_function, mospay.provider_reference(t.public_id, t.provider_ref),
                                                    t.request, p_code, p_output);
            v_status := upper(coalesce(v_result ->> 'status', ''));
        EXCEPTION WHEN OTHERS THEN
            v_status := 'UNKNOWN';
        END;
        IF v_status NOT IN ('SUCCESSFUL', 'FAILED', 'PENDING') OR (p_code >= 500 AND v_status = 'FAILED') THEN
            v_status := 'UNKNOWN';
        END IF;
    END IF;

    IF v_status IN ('SUCCESSFUL', 'FAILED') THEN
        v_result := v_result || jsonb_build_object('status', v_status);
        UPDATE transactions tr
           SET status = v_status, status_reason = p_cause, result = v_result,
               provider_response = coalesce(p_output, tr.provider_response),
               response_code = coalesce(tr.response_code, mospay.http_status_for(v_status)),
               response_body = coalesce(tr.response_body, mospay.public_answer(tr.public_id, tr.f010, v_status, v_result)),
               check_attempts = tr.check_attempts + 1, next_check_at = NULL, updated_at = now()
         WHERE tr.id = p_id;
        RETURN QUERY SELECT v_status, false;
        RETURN;
    END IF;

    v_next := mospay.next_check_at(t.created_at, t.schedule, t.check_attempts + 1);
    -- PENDING within the schedule stays PENDING (the payer may still approve); a RECEIVED row whose
    -- call never finished becomes PENDING or UNKNOWN; at the end of the schedule it is UNKNOWN.
    v_status := CASE WHEN v_next IS NULL THEN 'UNKNOWN'
                     WHEN t.status = 'UNKNOWN' THEN 'UNKNOWN'
                     WHEN v_status = 'PENDING' THEN 'PENDING'
                     WHEN t.status = 'PENDING' THEN 'PENDING'
                     ELSE 'UNKNOWN' END;
    UPDATE transactions tr
       SET status = v_status,
           status_reason = CASE WHEN v_status <> tr.status THEN p_cause ELSE tr.status_reason END,
           check_attempts = tr.check_attempts + 1,
           next_check_at = greatest(v_next, now()),
           stuck = v_next IS NULL,
           updated_at = now()
     WHERE tr.id = p_id;
    RETURN QUERY SELECT v_status, v_next IS NULL;
END $$;
