-- The payment path's SQL functions: the two round trips around the provider call, and the calls
-- into a client's generated request / RESPONSE functions (schema mospay_fn).

-- Calls a generated function by name. format('%I') quotes the name, so nothing a client sends
-- can become SQL; the name itself was validated before it got here.
CREATE OR REPLACE FUNCTION mospay.call_request_function(p_name text, p_unique_id text, p_data jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_result jsonb;
BEGIN
    EXECUTE format('SELECT %I.%I($1, $2)', 'mospay_fn', p_name) INTO v_result USING p_unique_id, p_data;
    RETURN v_result;
END $$;

CREATE OR REPLACE FUNCTION mospay.call_response_function(
    p_name text, p_unique_id text, p_data jsonb, p_code integer, p_output jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_result jsonb;
BEGIN
    EXECUTE format('SELECT %I.%I($1, $2, $3, $4)', 'mospay_fn', p_name)
        INTO v_result USING p_unique_id, p_data, p_code, p_output;
    RETURN v_result;
END $$;

-- Round trip 2 of the payment path: record the transaction, then (only if it is new) ask the
-- client's request function what to do. Both happen in one database transaction, so a failing
-- function leaves no row behind; a replay returns the stored row and calls nothing. A new row is
-- due for a status check once the provider call must be over: a crash mid-call is found, not lost.
CREATE OR REPLACE FUNCTION mospay.start_payment(
    p_client_id bigint, p_service_id bigint, p_route text, p_f010 text, p_amount numeric,
    p_msisdn text, p_request jsonb, p_request_hash text, p_function text, p_data jsonb)
RETURNS TABLE (o_id bigint, o_public_id text, o_replay boolean, o_status text, o_request_hash text,
               o_response_code integer, o_response_body jsonb, o_plan jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    v_id bigint;
    v_public_id text;
BEGIN
    INSERT INTO transactions AS t (client_id, service_id, route, f010, amount, msisdn, request,
                                   request_hash, status_reason, next_check_at)
    SELECT p_client_id, p_service_id, p_route, p_f010, p_amount, p_msisdn, p_request, p_request_hash,
           'received', now() + make_interval(secs => s.connect_timeout_s + s.timeout_s + 2)
      FROM services s WHERE s.id = p_service_id
    ON CONFLICT (client_id, f010) DO NOTHING
    RETURNING t.id, t.public_id INTO v_id, v_public_id;

    IF v_id IS NULL THEN
        RETURN QUERY
            SELECT t.id, t.public_id, true, t.status, t.request_hash, t.response_code, t.response_body,
                   NULL::jsonb
              FROM transactions t
             WHERE t.client_id = p_client_id AND t.f010 = p_f010;
        RETURN;
    END IF;
    RETURN QUERY SELECT v_id, v_public_id, false, 'RECEIVED'::text, p_request_hash, NULL::integer,
                        NULL::jsonb, mospay.call_request_function(p_function, p_f010, p_data);
END $$;

-- Round trip 3 of the payment path: interpret the provider's answer through the client's RESPONSE
-- function (or take the gateway's own result when there is no answer to interpret), record the
-- final state and the API log row, and return what the client is told. If the reconciler, a
-- callback or an operator moved the transaction meanwhile, the answer is applied only when it
-- settles a still-open transaction; otherwise the state they wrote stands and is what the client is told.
-- A final state enqueues the client's webhook (30_transactions.sql) in this same database transaction.
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
    v_current text;
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
    v_code := CASE v_status WHEN 'SUCCESSFUL' THEN 200 WHEN 'FAILED' THEN 402 ELSE 202 END;

    SELECT t.status INTO v_current FROM transactions t WHERE t.id = p_id FOR UPDATE;
    IF v_current = 'RECEIVED'
       OR (v_current IN ('PENDING', 'UNKNOWN') AND v_status IN ('SUCCESSFUL', 'FAILED')) THEN
        UPDATE transactions t
           SET status = v_status,
               status_reason = coalesce(v_reason, p_result ->> 'reason', 'gateway'),
               provider_http_status = p_code,
               provider_response = p_output,
               result = v_result,
               response_code = v_code,
               response_body = jsonb_build_object('transaction_id', t.public_id, 'f010', t.f010,
                                                  'status', v_status, 'result', v_result),
               next_check_at = CASE WHEN v_status IN ('PENDING', 'UNKNOWN')
                                    THEN mospay.next_check_at(t.created_at, s.reconcile_schedule_s, 0) END,
               updated_at = now()
          FROM services s
         WHERE t.id = p_id AND s.id = t.service_id
         RETURNING t.response_body INTO v_body;
    ELSE
        v_code := CASE v_current WHEN 'SUCCESSFUL' THEN 200 WHEN 'FAILED' THEN 402 ELSE 202 END;
        UPDATE transactions t
           SET response_code = coalesce(t.response_code, v_code),
               response_body = coalesce(t.response_body, jsonb_build_object(
                   'transaction_id', t.public_id, 'f010', t.f010, 'status', t.status,
                   'result', coalesce(t.result, jsonb_build_object('status', t.status))))
         WHERE t.id = p_id
        RETURNING t.status, t.response_code, t.response_body INTO v_status, v_code, v_body;
    END IF;

    INSERT INTO api_logs (request_id, client_id, app_id, endpoint, method, status_code, duration_ms,
                          ip, user_agent, request_body, response_body)
    VALUES (p_log ->> 'request_id', (p_log ->> 'client_id')::bigint, p_log ->> 'app_id',
            p_log ->> 'endpoint', p_log ->> 'method', v_code, (p_log ->> 'duration_ms')::numeric,
            p_log ->> 'ip', p_log ->> 'user_agent', p_log -> 'request_body', v_body);

    RETURN QUERY SELECT v_status, v_code, v_body;
END $$;
