-- Refunds: money going back on a SUCCESSFUL payment. The cap (non-failed refunds never exceed the
-- payment), the refund window and the count limit are decided by mospay.start_refund under the payment's
-- row lock; the state machine is the transactions' one (a trigger, an event row per change, a webhook on
-- a final state). Each refund is sent to the provider under a fresh UUID of its own (provider_reference).

CREATE TABLE refunds (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    public_id            text NOT NULL UNIQUE GENERATED ALWAYS AS ('rfd_' || replace(id::text, '-', '')) STORED,
    transaction_id       bigint NOT NULL REFERENCES transactions (id),
    client_id            bigint NOT NULL REFERENCES clients (id),
    refund_id            text NOT NULL CHECK (refund_id ~ '^[A-Za-z0-9_.:-]{1,64}$'),  -- the client's idempotency key
    amount               numeric(18, 2) NOT NULL CHECK (amount > 0),
    currency             text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    reason               text CHECK (length(reason) <= 500),
    status               text NOT NULL DEFAULT 'RECEIVED'
                         CHECK (status IN ('RECEIVED', 'PENDING', 'SUCCESSFUL', 'FAILED', 'UNKNOWN')),
    status_reason        text,
    provider_reference   uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    request              jsonb NOT NULL,  -- what the refund functions receive (no secrets in it)
    request_hash         text NOT NULL,   -- sha256 of the body as the client sent it (409 on another body)
    provider_http_status integer,
    provider_response    jsonb,
    result               jsonb,
    response_code        integer,
    response_body        jsonb,
    operator             text CHECK (length(operator) <= 200),  -- who, for an operator's refund (admin portal / API)
    check_attempts       integer NOT NULL DEFAULT 0,
    next_check_at        timestamptz,
    stuck                boolean NOT NULL DEFAULT false,
    owner_pid            integer DEFAULT pg_backend_pid(),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, refund_id)
);
CREATE INDEX refunds_transaction_idx ON refunds (transaction_id, created_at);
CREATE INDEX refunds_due_idx ON refunds (next_check_at)
    WHERE status IN ('RECEIVED', 'PENDING', 'UNKNOWN') AND NOT stuck;

CREATE TABLE refund_events (
    id           bigserial,
    refund_id    uuid NOT NULL REFERENCES refunds (id) ON DELETE CASCADE,
    from_status  text,
    to_status    text NOT NULL,
    cause        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Who settled it by hand, and why (cause = 'operator').
    actor        text,
    note         text,
    CONSTRAINT refund_events_pkey PRIMARY KEY (refund_id, id)
);

-- The same transitions as a payment's: a final state is final.
CREATE OR REPLACE FUNCTION mospay.guard_refund_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'RECEIVED' AND NEW.status IN ('PENDING', 'SUCCESSFUL', 'FAILED', 'UNKNOWN'))
        OR (OLD.status = 'PENDING'  AND NEW.status IN ('SUCCESSFUL', 'FAILED', 'UNKNOWN'))
        OR (OLD.status = 'UNKNOWN'  AND NEW.status IN ('SUCCESSFUL', 'FAILED'))) THEN
        RAISE EXCEPTION 'illegal refund status change % -> %', OLD.status, NEW.status USING ERRCODE = 'MP001';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION mospay.record_refund_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO refund_events (refund_id, from_status, to_status, cause)
        VALUES (NEW.id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END, NEW.status, NEW.status_reason);
    END IF;
    RETURN NULL;
END $$;

-- The body of a refund's answer, wherever it is built (the refund call, its replay, the reconciler).
CREATE OR REPLACE FUNCTION mospay.refund_answer(p_refund refunds, p_status text, p_result jsonb)
RETURNS jsonb LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
    SELECT jsonb_build_object('id', p_refund.public_id, 'refund_id', p_refund.refund_id,
                              'transaction_id', t.public_id, 'f010', t.f010, 'status', p_status,
                              'amount', p_refund.amount::text, 'currency', p_refund.currency,
                              'reason', p_refund.reason, 'result', p_result)
      FROM transactions t WHERE t.id = p_refund.transaction_id
$$;

-- A final state writes the client's refund.succeeded / refund.failed event into the webhook outbox in
-- the same database transaction.
CREATE OR REPLACE FUNCTION mospay.enqueue_refund_webhook() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_events (client_id, transaction_id, refund_id, event_type, payload)
    SELECT NEW.client_id, NEW.transaction_id, NEW.id,
           CASE NEW.status WHEN 'SUCCESSFUL' THEN 'refund.succeeded' ELSE 'refund.failed' END,
           mospay.refund_answer(NEW, NEW.status, NEW.result) || jsonb_build_object('updated_at', NEW.updated_at)
      FROM clients c
     WHERE c.id = NEW.client_id AND c.callback_url IS NOT NULL
    ON CONFLICT (refund_id, event_type) WHERE refund_id IS NOT NULL DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER refunds_guard_status BEFORE UPDATE OF status ON refunds
    FOR EACH ROW EXECUTE FUNCTION mospay.guard_refund_status();
CREATE TRIGGER refunds_record_event AFTER INSERT OR UPDATE OF status ON refunds
    FOR EACH ROW EXECUTE FUNCTION mospay.record_refund_event();
CREATE TRIGGER refunds_enqueue_webhook AFTER UPDATE OF status ON refunds
    FOR EACH ROW WHEN (NEW.status IN ('SUCCESSFUL', 'FAILED') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION mospay.enqueue_refund_webhook();

-- Round trip 1 of 2 of a refund: decide and record under the payment's row lock, then ask the client's
-- refund request function for the provider call. o_outcome says what happened: 'started', 'replay'
-- (this client already used p_refund_id: the first refund's row, for the caller to compare hashes),
-- 'payment_not_found', 'payment_not_refundable' or 'refund_exceeds_payment' (o_message says why).
-- Concurrent refunds of one payment queue on its row lock, so the sum they see is always current.
CREATE OR REPLACE FUNCTION mospay.start_refund(
    p_client_id bigint, p_f010 text, p_refund_id text, p_amount numeric, p_reason text, p_request_hash text,
    p_function text, p_data jsonb, p_max_refunds integer, p_operator text)
RETURNS TABLE (o_outcome text, o_message text, o_id uuid, o_status text, o_request_hash text,
               o_response_code integer, o_response_body jsonb, o_plan jsonb, o_reference text)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    p record;
    r refunds;
    v_count integer;
    v_left numeric;
    v_amount numeric;
    v_data jsonb;
BEGIN
    SELECT t.id, t.public_id, t.f010, t.status, t.amount, t.created_at, t.msisdn, t.provider_ref,
           t.provider_response, t.result, s.currency, s.refund_window_days,
           s.connect_timeout_s, s.timeout_s, cs.id AS assignment_id
      INTO p
      FROM transactions t
      JOIN services s ON s.id = t.service_id
      LEFT JOIN client_services cs ON cs.client_id = t.client_id AND cs.service_id = t.service_id
     WHERE t.client_id = p_client_id AND t.f010 = p_f010
       FOR UPDATE OF t;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'payment_not_found', 'no payment with this f010', NULL::uuid, NULL::text, NULL::text,
                            NULL::integer, NULL::jsonb, NULL::jsonb, NULL::text;
        RETURN;
    END IF;
    SELECT * INTO r FROM refunds x WHERE x.client_id = p_client_id AND x.refund_id = p_refund_id;
    IF FOUND THEN
        RETURN QUERY SELECT 'replay', NULL::text, r.id, r.status, r.request_hash, r.response_code, r.response_body,
                            NULL::jsonb, r.provider_reference::text;
        RETURN;
    END IF;
    IF p.status <> 'SUCCESSFUL' THEN
        RETURN QUERY SELECT 'payment_not_refundable', format('only a SUCCESSFUL payment can be refunded; this one is %s', p.status),
                            NULL::uuid, NULL::text, NULL::text, NULL::integer, NULL::jsonb, NULL::jsonb, NULL::text;
        RETURN;
    END IF;
    IF p.created_at + make_interval(days => p.refund_window_days) < now() THEN
        RETURN QUERY SELECT 'payment_not_refundable',
                            format('the refund window of this service (%s days after the payment) has passed', p.refund_window_days),
                            NULL::uuid, NULL::text, NULL::text, NULL::integer, NULL::jsonb, NULL::jsonb, NULL::text;
        RETURN;
    END IF;
    IF p.assignment_id IS NULL THEN
        RETURN QUERY SELECT 'payment_not_refundable', 'this service is no longer assigned to the client',
                            NULL::uuid, NULL::text, NULL::text, NULL::integer, NULL::jsonb, NULL::jsonb, NULL::text;
        RETURN;
    END IF;
    SELECT count(*), p.amount - coalesce(sum(x.amount) FILTER (WHERE x.status <> 'FAILED'), 0)
      INTO v_count, v_left
      FROM refunds x WHERE x.transaction_id = p.id;
    IF v_count >= p_max_refunds THEN
        RETURN QUERY SELECT 'payment_not_refundable', format('this payment already has %s refunds, the most allowed', v_count),
                            NULL::uuid, NULL::text, NULL::text, NULL::integer, NULL::jsonb, NULL::jsonb, NULL::text;
        RETURN;
    END IF;
    v_amount := coalesce(p_amount, v_left);
    IF v_left <= 0 OR v_amount > v_left THEN
        RETURN QUERY SELECT 'refund_exceeds_payment',
                            format('at most %s %s is left to refund on this payment', greatest(v_left, 0), p.currency),
                            NULL::uuid, NULL::text, NULL::text, NULL::integer, NULL::jsonb, NULL::jsonb, NULL::text;
        RETURN;
    END IF;
    v_data := coalesce(p_data, '{}'::jsonb) || jsonb_build_object(
        'refund_id', p_refund_id, 'amount', v_amount::text, 'currency', p.currency, 'reason', p_reason,
        'payment_reference', mospay.provider_reference(p.public_id, p.provider_ref),
        'payment_transaction_id', p.public_id, 'payment_f010', p.f010, 'payment_amount', p.amount::text,
        'payment_msisdn', p.msisdn,
        'financialTransactionId', coalesce(p.provider_response ->> 'financialTransactionId',
                                           p.result ->> 'financialTransactionId'));
    INSERT INTO refunds AS x (transaction_id, client_id, refund_id, amount, currency, reason, request, request_hash,
                              operator, status_reason, next_check_at)
    VALUES (p.id, p_client_id, p_refund_id, v_amount, p.currency, p_reason, v_data - '_callback_url', p_request_hash,
            p_operator, 'received', now() + make_interval(secs => p.connect_timeout_s + p.timeout_s + 2))
    RETURNING x.* INTO r;
    RETURN QUERY SELECT 'started', NULL::text, r.id, r.status, r.request_hash, NULL::integer, NULL::jsonb,
                        mospay.call_request_function(p_function, r.provider_reference::text, v_data),
                        r.provider_reference::text;
END $$;

-- Round trip 2 of 2: the provider's answer through the client's refund RESPONSE function (or the
-- gateway's own result when there was no answer), the state, and the API log row. As finish_payment:
-- an answer settles a refund still RECEIVED, or one the reconciler left open when it is final.
CREATE OR REPLACE FUNCTION mospay.finish_refund(
    p_id uuid, p_function text, p_code integer, p_output jsonb, p_result jsonb, p_log jsonb)
RETURNS TABLE (o_status text, o_response_code integer, o_response_body jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    r refunds;
    v_result jsonb := p_result;
    v_status text;
    v_reason text;
    v_code integer;
    v_body jsonb;
BEGIN
    SELECT * INTO r FROM refunds x WHERE x.id = p_id FOR UPDATE;
    IF p_function IS NOT NULL THEN
        BEGIN
            v_result := mospay.call_response_function(p_function, r.provider_reference::text, r.request, p_code, p_output);
            v_reason := 'provider response';
        EXCEPTION WHEN OTHERS THEN
            v_result := jsonb_build_object('status', 'UNKNOWN', 'message', 'the refund response function failed; outcome unknown');
            v_reason := 'response function error: ' || left(SQLERRM, 200);
        END;
    END IF;
    IF jsonb_typeof(v_result) IS DISTINCT FROM 'object' THEN
        v_result := jsonb_build_object('status', 'UNKNOWN', 'message', 'the response function returned no object');
    END IF;
    v_status := upper(coalesce(v_result ->> 'status', ''));
    IF v_status NOT IN ('SUCCESSFUL', 'FAILED', 'PENDING', 'UNKNOWN') OR (p_code >= 500 AND v_status = 'FAILED') THEN
        v_status := 'UNKNOWN';
    END IF;
    v_result := v_result || jsonb_build_object('status', v_status);
    v_code := mospay.http_status_for(v_status);
    IF r.status = 'RECEIVED' OR (r.status IN ('PENDING', 'UNKNOWN') AND v_status IN ('SUCCESSFUL', 'FAILED')) THEN
        UPDATE refunds x
           SET status = v_status, status_reason = coalesce(v_reason, p_result ->> 'reason', 'gateway'),
               provider_http_status = p_code, provider_response = p_output, result = v_result,
               response_code = v_code, response_body = mospay.refund_answer(r, v_status, v_result),
               next_check_at = CASE WHEN v_status IN ('PENDING', 'UNKNOWN')
                                    THEN mospay.next_check_at(x.created_at, s.reconcile_schedule_s, 0) END,
               updated_at = now()
          FROM transactions t JOIN services s ON s.id = t.service_id
         WHERE x.id = p_id AND t.id = x.transaction_id
        RETURNING x.status, x.response_code, x.response_body INTO v_status, v_code, v_body;
    ELSE
        UPDATE refunds x
           SET response_code = coalesce(x.response_code, mospay.http_status_for(x.status)),
               response_body = coalesce(x.response_body, mospay.refund_answer(r, x.status,
                                        coalesce(x.result, jsonb_build_object('status', x.status))))
         WHERE x.id = p_id
        RETURNING x.status, x.response_code, x.response_body INTO v_status, v_code, v_body;
    END IF;
    IF p_log IS NOT NULL THEN
        INSERT INTO api_logs (request_id, client_id, app_id, endpoint, method, status_code, duration_ms,
                              ip, user_agent, request_body, response_body)
        VALUES (p_log ->> 'request_id', (p_log ->> 'client_id')::bigint, p_log ->> 'app_id',
                p_log ->> 'endpoint', p_log ->> 'method', v_code, (p_log ->> 'duration_ms')::numeric,
                p_log ->> 'ip', p_log ->> 'user_agent', r.request, v_body);
    END IF;
    RETURN QUERY SELECT v_status, v_code, v_body;
END $$;

-- An operator settles an open refund by hand (after asking the provider), with a reason; its history keeps
-- who and why. Raises MP001 for a refund already final (the trigger's rule); no row for an unknown one.
CREATE OR REPLACE FUNCTION mospay.resolve_refund(p_public_id text, p_status text, p_actor text, p_reason text)
RETURNS TABLE (o_status text)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    r refunds;
    v_result jsonb;
BEGIN
    SELECT * INTO r FROM refunds x WHERE x.public_id = p_public_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF r.status NOT IN ('RECEIVED', 'PENDING', 'UNKNOWN') OR p_status NOT IN ('SUCCESSFUL', 'FAILED') THEN
        RAISE EXCEPTION 'illegal refund status change % -> %', r.status, p_status USING ERRCODE = 'MP001';
    END IF;
    v_result := coalesce(r.result, '{}'::jsonb) || jsonb_build_object('status', p_status,
                                                                      'message', 'resolved by an operator');
    UPDATE refunds x
       SET status = p_status, status_reason = 'operator', stuck = false, next_check_at = NULL, result = v_result,
           response_code = coalesce(x.response_code, mospay.http_status_for(p_status)),
           response_body = coalesce(x.response_body, mospay.refund_answer(r, p_status, v_result)),
           updated_at = now()
     WHERE x.id = r.id;
    UPDATE refund_events e SET actor = p_actor, note = p_reason
     WHERE e.refund_id = r.id AND e.id = (SELECT max(id) FROM refund_events WHERE refund_id = r.id);
    RETURN QUERY SELECT p_status;
END $$;

-- The reconciler's claim of due refunds (as claim_checks: SKIP LOCKED and a lease of one call's deadline).
CREATE OR REPLACE FUNCTION mospay.claim_refund_checks(p_limit integer, p_ids uuid[] DEFAULT NULL)
RETURNS TABLE (o_id uuid, o_public_id text, o_status text, o_app_id text, o_service text,
               o_connect_timeout_s numeric, o_timeout_s numeric)
LANGUAGE sql SET search_path = pg_catalog, public AS $$
    WITH due AS (
        SELECT x.id
          FROM refunds x
         WHERE x.status IN ('RECEIVED', 'PENDING', 'UNKNOWN') AND NOT x.stuck
           AND (CASE WHEN p_ids IS NULL THEN x.next_check_at <= now()
                     ELSE x.id = ANY (p_ids) AND NOT (x.status = 'RECEIVED' AND x.next_check_at > now()) END)
         ORDER BY x.next_check_at NULLS FIRST
         LIMIT p_limit
           FOR UPDATE OF x SKIP LOCKED)
    UPDATE refunds x
       SET next_check_at = now() + make_interval(secs => s.connect_timeout_s + s.timeout_s + 10)
      FROM due, transactions t, services s, clients c
     WHERE x.id = due.id AND t.id = x.transaction_id AND s.id = t.service_id AND c.id = x.client_id
    RETURNING x.id, x.public_id, x.status, c.app_id, s.name, s.connect_timeout_s, s.timeout_s
$$;

-- What each claimed refund's Status function plans (p_functions[i] for p_ids[i]).
CREATE OR REPLACE FUNCTION mospay.plan_refund_checks(p_ids uuid[], p_functions text[])
RETURNS TABLE (o_id uuid, o_plan jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    r record;
    v_plan jsonb;
BEGIN
    FOR r IN
        SELECT x.id, x.provider_reference::text AS reference, x.request, f.function
          FROM unnest(p_ids, p_functions) AS f (id, function)
          JOIN refunds x ON x.id = f.id
    LOOP
        BEGIN
            v_plan := mospay.call_status_function(r.function, r.reference, r.request, NULL, NULL);
        EXCEPTION WHEN OTHERS THEN
            v_plan := jsonb_build_object('action', 'ERROR', 'message', left(SQLERRM, 200));
        END;
        RETURN QUERY SELECT r.id, v_plan;
    END LOOP;
END $$;

-- The verdict on one status answer (record_check's rules: only SUCCESSFUL / FAILED settle; a 5xx is
-- never FAILED; a schedule run out leaves the refund UNKNOWN and stuck, for an operator).
CREATE OR REPLACE FUNCTION mospay.record_refund_check(
    p_id uuid, p_function text, p_code integer, p_output jsonb, p_cause text)
RETURNS TABLE (o_status text, o_stuck boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    r refunds;
    v_schedule integer[];
    v_result jsonb;
    v_status text := 'UNKNOWN';
    v_next timestamptz;
BEGIN
    SELECT x.* INTO r FROM refunds x WHERE x.id = p_id FOR UPDATE;
    SELECT s.reconcile_schedule_s INTO v_schedule
      FROM transactions t JOIN services s ON s.id = t.service_id WHERE t.id = r.transaction_id;
    IF r.status NOT IN ('RECEIVED', 'PENDING', 'UNKNOWN') OR r.stuck THEN
        RETURN QUERY SELECT r.status, r.stuck;
        RETURN;
    END IF;
    IF p_code IS NOT NULL THEN
        BEGIN
            v_result := mospay.call_status_function(p_function, r.provider_reference::text, r.request, p_code, p_output);
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
        UPDATE refunds x
           SET status = v_status, status_reason = p_cause, result = v_result,
               provider_response = coalesce(p_output, x.provider_response),
               response_code = coalesce(x.response_code, mospay.http_status_for(v_status)),
               response_body = coalesce(x.response_body, mospay.refund_answer(r, v_status, v_result)),
               check_attempts = x.check_attempts + 1, next_check_at = NULL, updated_at = now()
         WHERE x.id = p_id;
        RETURN QUERY SELECT v_status, false;
        RETURN;
    END IF;
    v_next := mospay.next_check_at(r.created_at, v_schedule, r.check_attempts + 1);
    v_status := CASE WHEN v_next IS NULL THEN 'UNKNOWN'
                     WHEN r.status = 'UNKNOWN' THEN 'UNKNOWN'
                     WHEN v_status = 'PENDING' OR r.status = 'PENDING' THEN 'PENDING'
                     ELSE 'UNKNOWN' END;
    UPDATE refunds x
       SET status = v_status,
           status_reason = CASE WHEN v_status <> x.status THEN p_cause ELSE x.status_reason END,
           check_attempts = x.check_attempts + 1, next_check_at = greatest(v_next, now()),
           stuck = v_next IS NULL, updated_at = now()
     WHERE x.id = p_id;
    RETURN QUERY SELECT v_status, v_next IS NULL;
END $$;
