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

-- Round trip 1 of the payment path: record the transaction, then (only if it is new) ask the
-- client's request function what to do. Both happen in one database transaction, so a failing
-- function leaves no row behind; a replay returns the stored row and calls nothing.
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
                                   request_hash, status_reason)
    VALUES (p_client_id, p_service_id, p_route, p_f010, p_amount, p_msisdn, p_request,
            p_request_hash, 'received')
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

-- Round trip 2 of the payment path: interpret the provider's answer through the client's RESPONSE
-- function (or take the gateway's own result when there is no answer to interpret), record the
-- final state and the API log row, and return what the client is told.
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
    v_code := CASE v_status WHEN 'SUCCESSFUL' THEN 200 WHEN 'FAILED' THEN 402 ELSE 202 END;

    UPDATE transactions t
       SET status = v_status,
           status_reason = coalesce(v_reason, p_result ->> 'reason', 'gateway'),
           provider_http_status = p_code,
           provider_response = p_output,
           result = v_result,
           response_code = v_code,
           response_body = jsonb_build_object('transaction_id', t.public_id, 'f010', t.f010,
                                              'status', v_status, 'result', v_result),
           updated_at = now()
     WHERE t.id = p_id
     RETURNING t.response_body INTO v_body;

    INSERT INTO api_logs (request_id, client_id, app_id, endpoint, method, status_code, duration_ms,
                          ip, user_agent, request_body, response_body)
    VALUES (p_log ->> 'request_id', (p_log ->> 'client_id')::bigint, p_log ->> 'app_id',
            p_log ->> 'endpoint', p_log ->> 'method', v_code, (p_log ->> 'duration_ms')::numeric,
            p_log ->> 'ip', p_log ->> 'user_agent', p_log -> 'request_body', v_body);

    RETURN QUERY SELECT v_status, v_code, v_body;
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
