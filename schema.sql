-- MosPay schema: the source of truth for tables, constraints and the gateway's own SQL functions.
-- Applied by every start-up under an advisory lock; each statement is idempotent. A change to an
-- existing table goes into migrations/NNN_name.sql (applied once, recorded in schema_migrations).

CREATE SCHEMA IF NOT EXISTS mospay;     -- the gateway's own functions
CREATE SCHEMA IF NOT EXISTS mospay_fn;  -- per-client request / RESPONSE functions (generated)

CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS users (
    id                   bigserial PRIMARY KEY,
    username             text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    password_hash        text NOT NULL,
    role                 text NOT NULL DEFAULT 'admin' CHECK (role IN ('super_admin', 'admin', 'viewer')),
    active               boolean NOT NULL DEFAULT true,
    must_change_password boolean NOT NULL DEFAULT false,
    credential_version   integer NOT NULL DEFAULT 1,  -- carried in admin tokens: a password change revokes them
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS clients (
    id                 bigserial PRIMARY KEY,
    -- Alphanumeric only: '_' separates the parts of the generated function names.
    app_id             text NOT NULL UNIQUE CHECK (app_id ~ '^[A-Za-z0-9]{3,24}$'),
    company_name       text NOT NULL CHECK (length(company_name) BETWEEN 1 AND 200),
    contact_email      text CHECK (length(contact_email) <= 254),
    callback_url       text CHECK (callback_url ~ '^https?://'),
    api_username       text NOT NULL UNIQUE,
    api_secret_hash    text NOT NULL,           -- HMAC-SHA256 of the secret under the server key
    credential_version integer NOT NULL DEFAULT 1,  -- carried in tokens: rotation revokes them
    active             boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS services (
    id                bigserial PRIMARY KEY,
    name              text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9]{1,24}$'),
    display_name      text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    service_url       text NOT NULL CHECK (service_url ~ '^https?://[^\s]+$' AND length(service_url) <= 500),
    currency          text NOT NULL DEFAULT 'RWF' CHECK (currency ~ '^[A-Z]{3}$'),
    connect_timeout_s numeric(6, 2) NOT NULL DEFAULT 5 CHECK (connect_timeout_s > 0 AND connect_timeout_s <= 60),
    timeout_s         numeric(6, 2) NOT NULL DEFAULT 30 CHECK (timeout_s > 0 AND timeout_s <= 300),
    active            boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS service_fields (
    id          bigserial PRIMARY KEY,
    service_id  bigint NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    code        text NOT NULL CHECK (code ~ '^f[0-9]{3}$'),
    label       text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    field_type  text NOT NULL DEFAULT 'string' CHECK (field_type IN ('string', 'amount', 'msisdn', 'integer')),
    required    boolean NOT NULL DEFAULT true,
    max_length  integer CHECK (max_length BETWEEN 1 AND 4096),
    pattern     text CHECK (length(pattern) <= 500),
    secret      boolean NOT NULL DEFAULT false,  -- masked before anything is stored or logged
    UNIQUE (service_id, code)
);

CREATE TABLE IF NOT EXISTS client_services (
    id          bigserial PRIMARY KEY,
    client_id   bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    service_id  bigint NOT NULL REFERENCES services (id) ON DELETE RESTRICT,
    routes      text[] NOT NULL DEFAULT '{}',
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, service_id)
);

CREATE TABLE IF NOT EXISTS transactions (
    id                   bigserial PRIMARY KEY,
    public_id            text NOT NULL UNIQUE DEFAULT ('txn_' || replace(gen_random_uuid()::text, '-', '')),
    client_id            bigint NOT NULL REFERENCES clients (id),
    service_id           bigint NOT NULL REFERENCES services (id),
    route                text NOT NULL,
    f010                 text NOT NULL,
    amount               numeric(18, 2) NOT NULL CHECK (amount > 0),
    msisdn               text,
    request              jsonb NOT NULL,  -- masked: secret fields are never stored
    request_hash         text NOT NULL,   -- sha256 of the canonical non-secret fields (idempotency)
    status               text NOT NULL DEFAULT 'RECEIVED'
                         CHECK (status IN ('RECEIVED', 'PENDING', 'SUCCESSFUL', 'FAILED', 'UNKNOWN')),
    status_reason        text,
    provider_http_status integer,
    provider_response    jsonb,
    result               jsonb,
    response_code        integer,
    response_body        jsonb,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    -- The idempotency key: holds across threads, processes and machines.
    UNIQUE (client_id, f010)
);
CREATE INDEX IF NOT EXISTS transactions_created_idx ON transactions (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS transactions_open_idx ON transactions (status, updated_at)
    WHERE status IN ('RECEIVED', 'PENDING', 'UNKNOWN');

CREATE TABLE IF NOT EXISTS transaction_events (
    id              bigserial PRIMARY KEY,
    transaction_id  bigint NOT NULL REFERENCES transactions (id) ON DELETE CASCADE,
    from_status     text,
    to_status       text NOT NULL,
    cause           text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS transaction_events_txn_idx ON transaction_events (transaction_id, id);

CREATE TABLE IF NOT EXISTS api_logs (
    id             bigserial PRIMARY KEY,
    request_id     text,
    client_id      bigint REFERENCES clients (id) ON DELETE SET NULL,
    app_id         text,
    endpoint       text NOT NULL,
    method         text NOT NULL,
    status_code    integer NOT NULL,
    duration_ms    numeric(10, 2),
    ip             text,
    user_agent     text,
    request_body   jsonb,   -- masked
    response_body  jsonb,   -- masked
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS api_logs_created_idx ON api_logs (created_at DESC, id DESC);

-- A final state is final: no bug in the application can overwrite it.
CREATE OR REPLACE FUNCTION mospay.guard_transaction_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'RECEIVED' AND NEW.status IN ('PENDING', 'SUCCESSFUL', 'FAILED', 'UNKNOWN'))
        OR (OLD.status = 'PENDING'  AND NEW.status IN ('SUCCESSFUL', 'FAILED', 'UNKNOWN'))
        OR (OLD.status = 'UNKNOWN'  AND NEW.status IN ('SUCCESSFUL', 'FAILED'))) THEN
        RAISE EXCEPTION 'illegal transaction status change % -> %', OLD.status, NEW.status
            USING ERRCODE = 'MP001';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION mospay.record_transaction_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO transaction_events (transaction_id, from_status, to_status, cause)
        VALUES (NEW.id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END, NEW.status, NEW.status_reason);
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS transactions_guard_status ON transactions;
CREATE TRIGGER transactions_guard_status BEFORE UPDATE OF status ON transactions
    FOR EACH ROW EXECUTE FUNCTION mospay.guard_transaction_status();
DROP TRIGGER IF EXISTS transactions_record_event ON transactions;
CREATE TRIGGER transactions_record_event AFTER INSERT OR UPDATE OF status ON transactions
    FOR EACH ROW EXECUTE FUNCTION mospay.record_transaction_event();

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

-- == Money safety ==
-- Reconciliation schedule, stuck queue, operator resolutions, provider callbacks, client webhooks
-- (outbox). See docs/guarantees.md.

-- Seconds after creation at which the reconciler asks the provider: MTN MoMo lets a payer approve
-- for up to 5 minutes, so the early checks are hints and the later ones settle; then hourly for a day.
ALTER TABLE services ADD COLUMN IF NOT EXISTS reconcile_schedule_s integer[] NOT NULL DEFAULT
    '{30,120,300,900,3600,7200,10800,14400,18000,21600,25200,28800,32400,36000,39600,43200,46800,50400,54000,57600,61200,64800,68400,72000,75600,79200,82800,86400}'
    CHECK (cardinality(reconcile_schedule_s) BETWEEN 1 AND 100);

ALTER TABLE transactions ADD COLUMN IF NOT EXISTS check_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE transactions ADD COLUMN IF NOT EXISTS next_check_at timestamptz;
-- The schedule ran out without a final answer: an operator must resolve it (the portal's stuck queue).
ALTER TABLE transactions ADD COLUMN IF NOT EXISTS stuck boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS transactions_due_idx ON transactions (next_check_at)
    WHERE status IN ('RECEIVED', 'PENDING', 'UNKNOWN') AND NOT stuck;
CREATE INDEX IF NOT EXISTS transactions_stuck_idx ON transactions (updated_at) WHERE stuck;

-- Who changed a state by hand, and why (cause = 'operator').
ALTER TABLE transaction_events ADD COLUMN IF NOT EXISTS actor_user_id bigint REFERENCES users (id);
ALTER TABLE transaction_events ADD COLUMN IF NOT EXISTS note text;

-- Per-client webhook signing secret: derived from SECRET_KEY and a version, so no secret is stored.
-- Rotation keeps the previous version valid until webhook_previous_expires_at (events carry both).
ALTER TABLE clients ADD COLUMN IF NOT EXISTS webhook_secret_version integer NOT NULL DEFAULT 1;
ALTER TABLE clients ADD COLUMN IF NOT EXISTS webhook_previous_version integer;
ALTER TABLE clients ADD COLUMN IF NOT EXISTS webhook_previous_expires_at timestamptz;

-- Every callback a provider sent us, deduplicated on (service, body hash): a hint, never a verdict.
CREATE TABLE IF NOT EXISTS provider_callbacks (
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

-- The outbox: written by the trigger below in the same database transaction as the final state, so
-- a crash cannot lose an event. event_id is stable across retries: clients deduplicate on it.
CREATE TABLE IF NOT EXISTS webhook_events (
    id               bigserial PRIMARY KEY,
    event_id         text NOT NULL UNIQUE DEFAULT ('evt_' || replace(gen_random_uuid()::text, '-', '')),
    client_id        bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    transaction_id   bigint NOT NULL REFERENCES transactions (id) ON DELETE CASCADE,
    event_type       text NOT NULL,
    payload          jsonb NOT NULL,
    state            text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'DELIVERED', 'GAVE_UP')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (transaction_id, event_type)
);
CREATE INDEX IF NOT EXISTS webhook_events_due_idx ON webhook_events (next_attempt_at) WHERE state = 'PENDING';

CREATE TABLE IF NOT EXISTS webhook_attempts (
    id            bigserial PRIMARY KEY,
    event_id      bigint NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    url           text NOT NULL,
    http_status   integer,
    error         text,
    duration_ms   numeric(10, 2),
    attempted_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhook_attempts_event_idx ON webhook_attempts (event_id, id);

CREATE OR REPLACE FUNCTION mospay.enqueue_webhook() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_events (client_id, transaction_id, event_type, payload)
    SELECT NEW.client_id, NEW.id,
           CASE NEW.status WHEN 'SUCCESSFUL' THEN 'payment.succeeded' ELSE 'payment.failed' END,
           jsonb_build_object('transaction_id', NEW.public_id, 'f010', NEW.f010, 'status', NEW.status,
                              'amount', NEW.amount::text, 'route', NEW.route, 'result', NEW.result,
                              'updated_at', NEW.updated_at)
      FROM clients c
     WHERE c.id = NEW.client_id AND c.callback_url IS NOT NULL
    ON CONFLICT (transaction_id, event_type) DO NOTHING;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS transactions_enqueue_webhook ON transactions;
CREATE TRIGGER transactions_enqueue_webhook AFTER UPDATE OF status ON transactions
    FOR EACH ROW WHEN (NEW.status IN ('SUCCESSFUL', 'FAILED') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION mospay.enqueue_webhook();

CREATE OR REPLACE FUNCTION mospay.call_status_function(
    p_name text, p_unique_id text, p_data jsonb, p_code integer, p_output jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_result jsonb;
BEGIN
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
-- A final state enqueues the client's webhook (trigger above) in this same database transaction.
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

-- ===================================================================== Security (issue 5)
-- Per-client limits. NULL means: the server default (MOSPAY_RATE_LIMIT_PER_MINUTE) or no amount limit.
ALTER TABLE clients ADD COLUMN IF NOT EXISTS rate_limit_per_minute integer
    CHECK (rate_limit_per_minute BETWEEN 0 AND 10000000);
ALTER TABLE clients ADD COLUMN IF NOT EXISTS max_amount_per_transaction numeric(18, 2)
    CHECK (max_amount_per_transaction > 0);
ALTER TABLE clients ADD COLUMN IF NOT EXISTS max_amount_per_day numeric(18, 2)
    CHECK (max_amount_per_day > 0);
CREATE INDEX IF NOT EXISTS transactions_client_day_idx ON transactions (client_id, created_at);

-- Failed-authentication counters, one row per key ('ip:…', 'app:…', 'user:…', 'admin:…'), shared by
-- every process. Touched only when an authentication fails, never on the successful path.
CREATE TABLE IF NOT EXISTS auth_throttle (
    key           text PRIMARY KEY CHECK (length(key) <= 200),
    window_start  timestamptz NOT NULL,
    failures      integer NOT NULL,
    blocked_until timestamptz
);

-- What the portal shows as security events. Never holds a secret: only who, from where, and what kind.
CREATE TABLE IF NOT EXISTS security_events (
    id        bigserial PRIMARY KEY,
    kind      text NOT NULL CHECK (kind ~ '^[a-z_]{1,40}$'),
    ip        text CHECK (length(ip) <= 64),
    app_id    text CHECK (length(app_id) <= 64),
    username  text CHECK (length(username) <= 64),
    endpoint  text CHECK (length(endpoint) <= 200),
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS security_events_at_idx ON security_events (at DESC, id DESC);

-- One round trip per failed authentication: record the event, count it against every key, and
-- answer which keys are now blocked (and for how long) so the calling process can cache that.
CREATE OR REPLACE FUNCTION mospay.record_auth_failure(
    p_kind text, p_ip text, p_app_id text, p_username text, p_endpoint text, p_keys text[],
    p_limit integer, p_window_s integer)
RETURNS TABLE (o_key text, o_retry_after integer)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    v_window interval := make_interval(secs => p_window_s);
    v_key text;
    v_failures integer;
    v_blocked timestamptz;
BEGIN
    INSERT INTO security_events (kind, ip, app_id, username, endpoint)
    VALUES (p_kind, left(p_ip, 64), left(p_app_id, 64), left(p_username, 64), left(p_endpoint, 200));
    FOREACH v_key IN ARRAY p_keys LOOP
        INSERT INTO auth_throttle AS a (key, window_start, failures)
        VALUES (left(v_key, 200), now(), 1)
        ON CONFLICT (key) DO UPDATE
           SET failures = CASE WHEN a.window_start <= now() - v_window THEN 1 ELSE a.failures + 1 END,
               window_start = CASE WHEN a.window_start <= now() - v_window THEN now() ELSE a.window_start END
        RETURNING a.failures, a.blocked_until INTO v_failures, v_blocked;
        IF v_failures >= p_limit THEN
            v_blocked := now() + v_window;
            UPDATE auth_throttle SET blocked_until = v_blocked WHERE key = left(v_key, 200);
            IF v_failures = p_limit THEN
                INSERT INTO security_events (kind, ip, app_id, username, endpoint)
                VALUES ('auth_blocked', left(p_ip, 64), left(p_app_id, 64), left(p_username, 64),
                        left(v_key, 200));
            END IF;
        END IF;
        IF v_blocked > now() THEN
            o_key := v_key;
            o_retry_after := greatest(1, ceil(extract(epoch FROM v_blocked - now())))::integer;
            RETURN NEXT;
        END IF;
    END LOOP;
    -- Old counters go away on their own, a little at a time, without a scheduled job.
    IF random() < 0.01 THEN
        DELETE FROM auth_throttle
         WHERE window_start < now() - greatest(v_window, interval '1 hour')
           AND coalesce(blocked_until, '-infinity') < now();
    END IF;
END $$;

-- Amount limits, checked inside the same statement that records a payment (start_payment's INSERT):
-- no extra round trip, and under a per-client advisory lock so concurrent payments cannot overshoot
-- the daily limit together. A replay of an f010 already recorded is left to start_payment's ON CONFLICT.
CREATE OR REPLACE FUNCTION mospay.check_amount_limits() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    v_per_tx numeric;
    v_per_day numeric;
    v_today numeric;
BEGIN
    SELECT c.max_amount_per_transaction, c.max_amount_per_day INTO v_per_tx, v_per_day
      FROM clients c WHERE c.id = NEW.client_id;
    IF v_per_tx IS NULL AND v_per_day IS NULL THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM transactions t WHERE t.client_id = NEW.client_id AND t.f010 = NEW.f010) THEN
        RETURN NEW;
    END IF;
    IF NEW.amount > v_per_tx THEN
        RAISE EXCEPTION 'amount over the per-transaction limit' USING ERRCODE = 'MP002';
    END IF;
    IF v_per_day IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(7271005, NEW.client_id::integer);
        SELECT coalesce(sum(t.amount), 0) INTO v_today
          FROM transactions t
         WHERE t.client_id = NEW.client_id AND t.status <> 'FAILED'
           AND t.created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
        IF v_today + NEW.amount > v_per_day THEN
            RAISE EXCEPTION 'amount over the daily limit' USING ERRCODE = 'MP003';
        END IF;
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS transactions_amount_limits ON transactions;
CREATE TRIGGER transactions_amount_limits BEFORE INSERT ON transactions
    FOR EACH ROW EXECUTE FUNCTION mospay.check_amount_limits();

-- The reconciler's claim: due open transactions, locked with SKIP LOCKED so that several MosPay
-- processes never take the same one, leased (next_check_at pushed past the provider call) and
-- returned with the status call their status function plans. p_ids forces a check now (callbacks).
CREATE OR REPLACE FUNCTION mospay.claim_checks(p_limit integer, p_ids bigint[] DEFAULT NULL)
RETURNS TABLE (o_id bigint, o_public_id text, o_f010 text, o_status text, o_service text,
               o_function text, o_connect_timeout_s numeric, o_timeout_s numeric, o_plan jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    r record;
    v_plan jsonb;
BEGIN
    FOR r IN
        SELECT t.id, t.public_id, t.f010, t.status, t.request, s.name AS service,
               c.app_id || '_' || s.name || '_' || t.route || 'Status' AS function,
               s.connect_timeout_s, s.timeout_s
          FROM transactions t
          JOIN services s ON s.id = t.service_id
          JOIN clients c ON c.id = t.client_id
         WHERE t.status IN ('RECEIVED', 'PENDING', 'UNKNOWN') AND NOT t.stuck
           -- A callback (p_ids) may hurry a check, but never into a provider call still in flight
           -- (RECEIVED before its lease): the provider may not know the reference yet.
           AND (CASE WHEN p_ids IS NULL THEN t.next_check_at <= now()
                     ELSE t.id = ANY (p_ids) AND NOT (t.status = 'RECEIVED' AND t.next_check_at > now()) END)
         ORDER BY t.next_check_at NULLS FIRST
         LIMIT p_limit
           FOR UPDATE OF t SKIP LOCKED
    LOOP
        UPDATE transactions
           SET next_check_at = now() + make_interval(secs => r.connect_timeout_s + r.timeout_s + 10)
         WHERE id = r.id;
        BEGIN
            v_plan := mospay.call_status_function(r.function, r.f010, r.request, NULL, NULL);
        EXCEPTION WHEN OTHERS THEN
            v_plan := jsonb_build_object('action', 'ERROR', 'message', left(SQLERRM, 200));
        END;
        RETURN QUERY SELECT r.id, r.public_id, r.f010, r.status, r.service, r.function,
                            r.connect_timeout_s, r.timeout_s, v_plan;
    END LOOP;
END $$;

-- The reconciler's verdict on one status call: a final answer is written (cause 'reconciliation'
-- or 'callback'), anything else schedules the next check; when the schedule runs out the
-- transaction is UNKNOWN and stuck, waiting for an operator.
CREATE OR REPLACE FUNCTION mospay.record_check(
    p_id bigint, p_code integer, p_output jsonb, p_cause text)
RETURNS TABLE (o_status text, o_stuck boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    t record;
    v_result jsonb;
    v_status text := 'UNKNOWN';
    v_next timestamptz;
BEGIN
    SELECT tr.*, s.reconcile_schedule_s AS schedule,
           c.app_id || '_' || s.name || '_' || tr.route || 'Status' AS function
      INTO t
      FROM transactions tr JOIN services s ON s.id = tr.service_id JOIN clients c ON c.id = tr.client_id
     WHERE tr.id = p_id
       FOR UPDATE OF tr;
    IF t.status NOT IN ('RECEIVED', 'PENDING', 'UNKNOWN') OR t.stuck THEN
        RETURN QUERY SELECT t.status, t.stuck;
        RETURN;
    END IF;
    IF p_code IS NOT NULL THEN
        BEGIN
            v_result := mospay.call_status_function(t.function, t.f010, t.request, p_code, p_output);
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
               response_code = coalesce(tr.response_code, CASE v_status WHEN 'SUCCESSFUL' THEN 200 ELSE 402 END),
               response_body = coalesce(tr.response_body, jsonb_build_object(
                   'transaction_id', tr.public_id, 'f010', tr.f010, 'status', v_status, 'result', v_result)),
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
           response_code = coalesce(t.response_code, CASE p_status WHEN 'SUCCESSFUL' THEN 200 ELSE 402 END),
           response_body = coalesce(t.response_body, jsonb_build_object(
               'transaction_id', t.public_id, 'f010', t.f010, 'status', p_status,
               'result', jsonb_build_object('status', p_status, 'message', 'resolved by an operator'))),
           updated_at = now()
     WHERE t.id = v_id;  -- the status trigger refuses anything but an open -> final change
    UPDATE transaction_events e SET actor_user_id = p_user_id, note = p_reason
     WHERE e.id = (SELECT max(id) FROM transaction_events WHERE transaction_id = v_id);
    RETURN QUERY SELECT v_id, p_status;
END $$;

-- == Admin portal ==
-- Server-side sessions: the cookie carries a random id (signed); only its sha256 is stored, so a
-- database dump cannot be replayed as a login, and logout / expiry are real.
CREATE TABLE IF NOT EXISTS admin_sessions (
    id_hash       text PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token    text NOT NULL,
    ip            text,
    user_agent    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS admin_sessions_user_idx ON admin_sessions (user_id);

-- Failed portal logins, counted per account and per IP over a sliding window.
CREATE TABLE IF NOT EXISTS login_failures (
    id          bigserial PRIMARY KEY,
    username    text NOT NULL,
    ip          text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS login_failures_user_idx ON login_failures (username, created_at);
CREATE INDEX IF NOT EXISTS login_failures_ip_idx ON login_failures (ip, created_at);

-- Every admin change: who, when, what, before/after (secrets masked before they get here).
CREATE TABLE IF NOT EXISTS audit_log (
    id           bigserial PRIMARY KEY,
    user_id      bigint REFERENCES users (id) ON DELETE SET NULL,
    username     text NOT NULL,
    action       text NOT NULL,
    target_type  text NOT NULL,
    target_id    text,
    before       jsonb,
    after        jsonb,
    ip           text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS audit_log_created_idx ON audit_log (created_at DESC, id DESC);

-- Every earlier source of a per-client function, kept before each save or restore.
CREATE TABLE IF NOT EXISTS function_versions (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    source      text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS function_versions_name_idx ON function_versions (name, id DESC);

-- Transaction search by f010 or phone number in the portal, and per-client lists.
CREATE INDEX IF NOT EXISTS transactions_f010_idx ON transactions (f010);
CREATE INDEX IF NOT EXISTS transactions_msisdn_idx ON transactions (msisdn, created_at DESC);
CREATE INDEX IF NOT EXISTS transactions_client_created_idx ON transactions (client_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS api_logs_app_created_idx ON api_logs (app_id, created_at DESC, id DESC);

-- == Admin portal: security events page (issue 5) ==
-- The list filtered by kind pages on this index, as the unfiltered one does on security_events_at_idx.
CREATE INDEX IF NOT EXISTS security_events_kind_at_idx ON security_events (kind, at DESC, id DESC);
