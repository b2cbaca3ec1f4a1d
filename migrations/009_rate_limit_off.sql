-- Schema version 9: start_payment touches no rate bucket when the client's limit is 0 (no limit); the
-- bucket function was called, and returned at once, on every payment.

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
