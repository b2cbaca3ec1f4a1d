-- Reconciliation: what providers told us on their own (callbacks), when the reconciler asks them next,
-- its claim of due transactions and its verdict on each answer, and an operator's resolution of a
-- stuck one. See docs/guarantees.md.

-- Every callback a provider sent us, deduplicated on (service, body hash): a hint, never a verdict.
CREATE TABLE provider_callbacks (
    id           bigserial PRIMARY KEY,
    service      text NOT NULL,
    method       text NOT NULL,
    body_hash    text NOT NULL,
    body         jsonb,
    external_id  text,
    outcome      text NOT NULL,
    duplicates   integer NOT NULL DEFAULT 0,
    received_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (service, body_hash)
);

CREATE OR REPLACE FUNCTION mospay.call_status_function(
    p_name text, p_unique_id text, p_data jsonb, p_code integer, p_output jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_result jsonb;
BEGIN
    PERFORM 1 FROM mospay.confined_functions c WHERE c.name = p_name AND c.args = '25 3802 23 3802'::oidvector;
    IF NOT FOUND THEN  -- never by name alone: another overload (defaults, VARIADIC) could answer the call
        IF to_regprocedure(format('%I.%I(text, jsonb, integer, jsonb)', 'mospay_fn', p_name)) IS NULL THEN
            RAISE EXCEPTION 'function mospay_fn.%(text, jsonb, integer, jsonb) does not exist', p_name USING ERRCODE = 'undefined_function';
        END IF;
        RAISE EXCEPTION 'mospay_fn.%(text, jsonb, integer, jsonb) does not run as mospay_function: save it again through MosPay', p_name
            USING ERRCODE = 'MPF01';
    END IF;
    EXECUTE format('SELECT %I.%I($1, $2, $3, $4)', 'mospay_fn', p_name)
        INTO v_result USING p_unique_id, p_data, p_code, p_output;
    RETURN v_result;
END $$;

-- When the next status check of an open transaction is due; NULL when the schedule is exhausted.
CREATE OR REPLACE FUNCTION mospay.next_check_at(p_created timestamptz, p_schedule integer[], p_done integer)
RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_done < cardinality(p_schedule)
                THEN greatest(p_created + make_interval(secs => p_schedule[p_done + 1]),
                              p_created + make_interval(secs => 1))
           END
$$;

CREATE OR REPLACE FUNCTION mospay.claim_checks(p_limit integer, p_ids bigint[] DEFAULT NULL)
RETURNS TABLE (o_id bigint, o_public_id text, o_f010 text, o_status text, o_app_id text, o_service text,
               o_route text, o_connect_timeout_s numeric, o_timeout_s numeric)
LANGUAGE sql SET search_path = pg_catalog, public AS $$
    WITH due AS (
        SELECT t.id
          FROM transactions t
         WHERE t.status IN ('RECEIVED', 'PENDING', 'UNKNOWN') AND NOT t.stuck
           -- A callback (p_ids) may hurry a check, but never into a provider call still in flight
           -- (RECEIVED before its lease): the provider may not know the reference yet.
           AND (CASE WHEN p_ids IS NULL THEN t.next_check_at <= now()
                     ELSE t.id = ANY (p_ids) AND NOT (t.status = 'RECEIVED' AND t.next_check_at > now()) END)
         ORDER BY t.next_check_at NULLS FIRST
         LIMIT p_limit
           FOR UPDATE OF t SKIP LOCKED)
    UPDATE transactions t
       SET next_check_at = now() + make_interval(secs => s.connect_timeout_s + s.timeout_s + 10)
      FROM due, services s, clients c
     WHERE t.id = due.id AND s.id = t.service_id AND c.id = t.client_id
    RETURNING t.id, t.public_id, t.f010, t.status, c.app_id, s.name, t.route, s.connect_timeout_s, s.timeout_s
$$;

-- What each claimed transaction's Status function plans (a provider call, or a message): one
-- statement per claimed batch, p_functions[i] naming the function for p_ids[i].
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

-- An operator settles an open transaction by hand, with a reason; the history keeps who and why.
CREATE OR REPLACE FUNCTION mospay.resolve_transaction(
    p_public_id text, p_status text, p_user_id bigint, p_reason text)
RETURNS TABLE (o_id bigint, o_status text)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    v_id bigint;
    v_old text;
BEGIN
    SELECT t.id, t.status INTO v_id, v_old FROM transactions t WHERE t.public_id = p_public_id FOR UPDATE;
    IF v_id IS NULL THEN
        RETURN;
    END IF;
    IF v_old NOT IN ('RECEIVED', 'PENDING', 'UNKNOWN') OR p_status NOT IN ('SUCCESSFUL', 'FAILED') THEN
        RAISE EXCEPTION 'illegal transaction status change % -> %', v_old, p_status USING ERRCODE = 'MP001';
    END IF;
    UPDATE transactions t
       SET status = p_status, status_reason = 'operator', stuck = false, next_check_at = NULL,
           result = coalesce(t.result, '{}'::jsonb) || jsonb_build_object('status', p_status,
                    'message', 'resolved by an operator'),
           response_code = coalesce(t.response_code, mospay.http_status_for(p_status)),
           response_body = coalesce(t.response_body, mospay.public_answer(t.public_id, t.f010, p_status,
               jsonb_build_object('status', p_status, 'message', 'resolved by an operator'))),
           updated_at = now()
     WHERE t.id = v_id;  -- the status trigger refuses anything but an open -> final change
    UPDATE transaction_events e SET actor_user_id = p_user_id, note = p_reason
     WHERE e.transaction_id = v_id
       AND e.id = (SELECT max(id) FROM transaction_events WHERE transaction_id = v_id);
    RETURN QUERY SELECT v_id, p_status;
END $$;
