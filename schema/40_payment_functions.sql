-- The payment path's SQL functions: the two round trips around the provider call, and the calls
-- into a client's generated request / RESPONSE functions (schema mospay_fn).

-- The HTTP status of a payment's answer, by transaction status: only a final state is 200 or 402.
CREATE OR REPLACE FUNCTION mospay.http_status_for(p_status text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE p_status WHEN 'SUCCESSFUL' THEN 200 WHEN 'FAILED' THEN 402 ELSE 202 END
$$;

-- The body of a payment's answer: the same shape wherever it is built (payment, reconciler, operator).
CREATE OR REPLACE FUNCTION mospay.public_answer(p_public_id text, p_f010 text, p_status text, p_result jsonb)
RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object('transaction_id', p_public_id, 'f010', p_f010, 'status', p_status,
                              'result', p_result)
$$;

-- The role every per-client function runs as: MosPay makes each function in mospay_fn owned by it and
-- SECURITY DEFINER (mospay.seal_functions), so a body an operator wrote reaches only its arguments and the
-- public columns of services, never the tables, programs or roles MosPay's own role may reach. Roles
-- belong to the cluster, not the database: every MosPay database of a cluster shares this one, and a DBA
-- may create it beforehand (docs/database-roles.md). MosPay's role must be a member, to hand functions to
-- it. Run by the schema, the migration and after a restore (pg_restore --no-owner --no-privileges).
CREATE OR REPLACE FUNCTION mospay.ensure_function_role() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mospay_function') THEN
        BEGIN
            CREATE ROLE mospay_function NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION
                NOBYPASSRLS;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- another database of this cluster created it meanwhile
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mospay_function'
                  AND (rolsuper OR rolcreaterole OR rolcreatedb OR rolcanlogin OR rolreplication OR rolbypassrls))
       OR EXISTS (SELECT 1 FROM pg_auth_members WHERE member = 'mospay_function'::regrole) THEN
        RAISE EXCEPTION 'the role mospay_function must be NOLOGIN, without SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS, and a member of no other role';
    END IF;
    IF NOT pg_has_role(current_user, 'mospay_function', 'USAGE') THEN
        EXECUTE format('GRANT mospay_function TO %I', current_user);
    END IF;
    -- The one thing of MosPay's such a function may read besides its arguments: where and in which
    -- currency its service is called (the generated request and Status functions look these up).
    GRANT SELECT (name, service_url, currency) ON public.services TO mospay_function;
    -- PostgreSQL 15 no longer lets every role create objects in public; a cluster upgraded from an older
    -- release still does, and a function could then keep what it sees (f007) in a table of its own.
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
END $$;

SELECT mospay.ensure_function_role();

-- The per-client functions MosPay will call: owned by mospay_function, SECURITY DEFINER (so they run as
-- that role, and PostgreSQL refuses SET ROLE / RESET ROLE inside them), in a trusted language, with no
-- settings but a fixed search_path. mospay.seal_functions makes every function in mospay_fn so; the calls
-- below refuse any other, so a function changed behind MosPay's back (owner, SECURITY INVOKER, a SET
-- clause) does not run. One index probe of pg_proc per call.
CREATE OR REPLACE VIEW mospay.confined_functions AS
SELECT p.oid, p.proname AS name, p.proargtypes AS args
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace = 'mospay_fn'::regnamespace::oid
   AND p.proowner = pg_catalog.to_regrole('mospay_function')::oid  -- a view may not hold a role constant
   AND p.prosecdef AND l.lanpltrusted
   AND p.proconfig = '{"search_path=pg_catalog, public, pg_temp"}'::text[];

-- Before MosPay creates or replaces functions in mospay_fn (as mospay_function: SET LOCAL ROLE), that role
-- may create there until mospay.seal_functions, in the same transaction, takes it back. The lock keeps
-- two such transactions from granting on the schema at once (PostgreSQL would fail the second).
CREATE OR REPLACE FUNCTION mospay.open_function_schema() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7271005);
    GRANT USAGE, CREATE ON SCHEMA mospay_fn TO mospay_function;
END $$;

-- Hands the functions of mospay_fn named in p_names (all of them when NULL) that are not yet confined to
-- mospay_function: owner, SECURITY DEFINER, their own SET clauses dropped for the fixed search_path. A
-- function in an untrusted language (C, plpython3u: code outside the database's rules) is refused, never
-- handed over. Returns how many changed.
CREATE OR REPLACE FUNCTION mospay.seal_functions(p_names text[] DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    f record;
    v_count integer := 0;
BEGIN
    PERFORM mospay.open_function_schema();  -- ALTER ... OWNER TO needs the new owner's CREATE on the schema
    FOR f IN SELECT p.oid::regprocedure AS sig, l.lanpltrusted AS trusted
               FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
              WHERE p.pronamespace = 'mospay_fn'::regnamespace
                AND (p_names IS NULL OR p.proname = ANY (p_names))
                AND p.oid NOT IN (SELECT c.oid FROM mospay.confined_functions c)
              ORDER BY p.oid
    LOOP
        IF NOT f.trusted THEN
            RAISE EXCEPTION '% is in an untrusted language: a client function must be plpgsql or sql', f.sig
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        EXECUTE format('ALTER FUNCTION %s OWNER TO mospay_function', f.sig);
        EXECUTE format('ALTER FUNCTION %s RESET ALL', f.sig);
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp', f.sig);
        v_count := v_count + 1;
    END LOOP;
    REVOKE USAGE, CREATE ON SCHEMA mospay_fn FROM mospay_function;
    RETURN v_count;
END $$;

-- Calls a generated function by name. format('%I') quotes the name, so nothing a client sends
-- can become SQL; the name itself was validated before it got here.
CREATE OR REPLACE FUNCTION mospay.call_request_function(p_name text, p_unique_id text, p_data jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_result jsonb;
BEGIN
    PERFORM 1 FROM mospay.confined_functions c WHERE c.name = p_name AND c.args = '25 3802'::oidvector;
    IF NOT FOUND THEN  -- never by name alone: another overload (defaults, VARIADIC) could answer the call
        IF to_regprocedure(format('%I.%I(text, jsonb)', 'mospay_fn', p_name)) IS NULL THEN
            RAISE EXCEPTION 'function mospay_fn.%(text, jsonb) does not exist', p_name USING ERRCODE = 'undefined_function';
        END IF;
        RAISE EXCEPTION 'mospay_fn.%(text, jsonb) does not run as mospay_function: save it again through MosPay', p_name
            USING ERRCODE = 'MPF01';
    END IF;
    EXECUTE format('SELECT %I.%I($1, $2)', 'mospay_fn', p_name) INTO v_result USING p_unique_id, p_data;
    RETURN v_result;
END $$;

CREATE OR REPLACE FUNCTION mospay.call_response_function(
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

-- Round trip 1 of 2 on the payment path. The gateway decides (credentials, rate limit, assignment,
-- route, field validation) on a context it keeps in memory, identified by a stamp of every value it
-- decided on. Here the stamp is computed again from the current rows: if it matches, the payment is
-- recorded (record_payment); if not (or p_stamp is NULL: nothing cached yet), nothing is recorded and
-- the current context is returned in o_context (JSON null for an unknown app id), for the gateway to
-- decide again. A rotated secret, a deactivated client, a changed limit, route or field is therefore
-- seen by every process on its next payment, without a round trip of its own. The client's rate limit
-- (its own, or p_rate_default) is taken here too, from a bucket every process shares: a payment over
-- it records nothing and answers o_retry_after (seconds).
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

-- Round trip 2 of 2: interpret the provider's answer through the client's RESPONSE function (or take
-- the gateway's own result when there is no answer to interpret), record the final state and the API
-- log row (p_log: the request's metadata, written by the gateway's caller), and return what the client
-- is told. If the reconciler, a callback or an operator moved the transaction meanwhile, the answer is
-- applied only when it settles a still-open transaction; otherwise the state they wrote stands and is
-- what the client is told. A final state enqueues the client's webhook (trigger) in this same transaction.
-- p_log's `provider_ms` (the provider call's duration) is kept on the transaction for analytics.
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
           provider_ms = (p_log ->> 'provider_ms')::numeric,
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
