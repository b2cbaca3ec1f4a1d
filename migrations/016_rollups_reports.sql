-- Analytics rollups and scheduled statements: transactions.provider_ms (written by finish_payment from
-- its p_log), payment_rollups and failure_rollups kept by a trigger on the status change and backfilled
-- here from the existing transactions (then folded into days before yesterday); report_recipients and
-- report_deliveries.

ALTER TABLE transactions ADD COLUMN provider_ms numeric(12, 1);

-- finish_payment keeps the provider call's duration (p_log ->> 'provider_ms'); full text as in
-- schema/40_payment_functions.sql (with 014's last use of the secret generation).
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

-- Analytics rollups: per hour (of created_at, UTC) x service x client x route x status, kept exact by a
-- trigger in the same statement that changes a transaction's status (finish_payment, the reconciler's
-- record_check, an operator's resolve_transaction). A late settle moves a payment from its PENDING or
-- UNKNOWN row to its final one. RECEIVED (the seconds a provider call is in flight) is not counted: a
-- payment enters the rollups with its first outcome. See docs/decisions.md ("Analytics rollups").

-- Provider latency histogram: bucket i (1-based) holds calls of [bounds[i-1], bounds[i]) ms, bucket 1
-- from 0, bucket 16 from 30,000 ms up. p50/p95 are read from it by linear interpolation inside a bucket
-- (mospay/analytics.py::quantile), as Prometheus's histogram_quantile does.
CREATE OR REPLACE FUNCTION mospay.latency_bucket(p_ms numeric) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT width_bucket(p_ms, '{50,100,200,300,500,750,1000,1500,2000,3000,5000,7500,10000,15000,30000}'::numeric[]) + 1
$$;

-- What a failed payment's provider said, for the top failure reasons: its code (the provider's own
-- field, else the gateway's reason) and its message, as the RESPONSE function or the provider gave them.
CREATE OR REPLACE FUNCTION mospay.failure_code(p_response jsonb, p_result jsonb, p_reason text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT left(coalesce(
        CASE WHEN jsonb_typeof(p_response) = 'object'
             THEN coalesce(p_response ->> 'reason', p_response ->> 'code', p_response ->> 'errorCode',
                           p_response ->> 'error_code', p_response ->> 'error') END,
        CASE WHEN jsonb_typeof(p_result) = 'object' THEN coalesce(p_result ->> 'code', p_result ->> 'reason') END,
        p_reason, ''), 100)
$$;

CREATE OR REPLACE FUNCTION mospay.failure_message(p_response jsonb, p_result jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT left(coalesce(
        CASE WHEN jsonb_typeof(p_result) = 'object' THEN p_result ->> 'message' END,
        CASE WHEN jsonb_typeof(p_response) = 'object' THEN p_response ->> 'message' END, ''), 200)
$$;

-- `shard` (transaction id mod 8) spreads concurrent payments of one client, service and route over 8
-- rows, so they do not queue on one row lock until commit; readers sum the shards. Hours before
-- yesterday are folded into one row per day (hour = its UTC midnight, shard 0: mospay.fold_rollups), so
-- a 90-day read sums days, not hours x shards. Every row is a sum, so a late settle that writes to an
-- hour already folded (its own row again, or a negative one) keeps every total exact.
CREATE TABLE payment_rollups (
    hour             timestamptz NOT NULL,
    service_id       bigint NOT NULL,
    client_id        bigint NOT NULL,
    route            text NOT NULL,
    status           text NOT NULL,
    shard            smallint NOT NULL,
    payments         bigint NOT NULL,
    amount           numeric(20, 2) NOT NULL,
    latency_count    bigint NOT NULL,
    latency_ms_sum   numeric NOT NULL,
    -- Payments whose outcome was not the payment call's own (open, or settled by the reconciler, a
    -- provider callback or an operator), and for the final ones the seconds from created to settled.
    reconciled       bigint NOT NULL,
    settle_s_sum     numeric NOT NULL,
    -- The latency histogram, bucket i of mospay.latency_bucket in latency_b<i>: columns, not an array,
    -- so a read sums them in the same pass as the counts.
    latency_b1 integer NOT NULL DEFAULT 0,
    latency_b2 integer NOT NULL DEFAULT 0,
    latency_b3 integer NOT NULL DEFAULT 0,
    latency_b4 integer NOT NULL DEFAULT 0,
    latency_b5 integer NOT NULL DEFAULT 0,
    latency_b6 integer NOT NULL DEFAULT 0,
    latency_b7 integer NOT NULL DEFAULT 0,
    latency_b8 integer NOT NULL DEFAULT 0,
    latency_b9 integer NOT NULL DEFAULT 0,
    latency_b10 integer NOT NULL DEFAULT 0,
    latency_b11 integer NOT NULL DEFAULT 0,
    latency_b12 integer NOT NULL DEFAULT 0,
    latency_b13 integer NOT NULL DEFAULT 0,
    latency_b14 integer NOT NULL DEFAULT 0,
    latency_b15 integer NOT NULL DEFAULT 0,
    latency_b16 integer NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, service_id, client_id, route, status, shard)
);
CREATE INDEX payment_rollups_client_idx ON payment_rollups (client_id, hour);

-- Failed payments by reason (final: a row is only ever added to, or taken from when a transaction is deleted).
CREATE TABLE failure_rollups (
    hour         timestamptz NOT NULL,
    service_id   bigint NOT NULL,
    client_id    bigint NOT NULL,
    route        text NOT NULL,
    http_status  integer NOT NULL,  -- the provider's HTTP status, 0 when it gave none
    code         text NOT NULL,
    message      text NOT NULL,
    payments     bigint NOT NULL,
    PRIMARY KEY (hour, service_id, client_id, route, http_status, code, message)
);
CREATE INDEX failure_rollups_client_idx ON failure_rollups (client_id, hour);

-- Add (p_sign 1) or take away (-1) one transaction's share of the rollups.
CREATE OR REPLACE FUNCTION mospay.roll_up(t transactions, p_sign integer) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    v_hour timestamptz := date_trunc('hour', t.created_at, 'UTC');
    v_open boolean := t.status IN ('PENDING', 'UNKNOWN');
    v_reconciled boolean := t.status IN ('PENDING', 'UNKNOWN') OR t.check_attempts > 0
                            OR t.status_reason IS NOT DISTINCT FROM 'operator';
    v_bucket integer := coalesce(mospay.latency_bucket(t.provider_ms), 0);  -- 0: no latency, no bucket
    v_timed integer := CASE WHEN t.provider_ms IS NULL THEN 0 ELSE p_sign END;
BEGIN
    IF t.status NOT IN ('PENDING', 'UNKNOWN', 'SUCCESSFUL', 'FAILED') THEN
        RETURN;
    END IF;
    INSERT INTO payment_rollups AS r (hour, service_id, client_id, route, status, shard, payments, amount,
                                      latency_count, latency_ms_sum, reconciled, settle_s_sum,
                                      latency_b1, latency_b2, latency_b3, latency_b4, latency_b5,
                                      latency_b6, latency_b7, latency_b8, latency_b9, latency_b10,
                                      latency_b11, latency_b12, latency_b13, latency_b14, latency_b15,
                                      latency_b16)
    VALUES (v_hour, t.service_id, t.client_id, t.route, t.status, (t.id % 8)::smallint, p_sign, p_sign * t.amount,
            v_timed, v_timed * coalesce(t.provider_ms, 0),
            CASE WHEN v_reconciled THEN p_sign ELSE 0 END,
            CASE WHEN v_reconciled AND NOT v_open
                 THEN p_sign * extract(epoch FROM t.updated_at - t.created_at) ELSE 0 END,
            (v_bucket = 1)::integer * v_timed, (v_bucket = 2)::integer * v_timed,
            (v_bucket = 3)::integer * v_timed, (v_bucket = 4)::integer * v_timed,
            (v_bucket = 5)::integer * v_timed, (v_bucket = 6)::integer * v_timed,
            (v_bucket = 7)::integer * v_timed, (v_bucket = 8)::integer * v_timed,
            (v_bucket = 9)::integer * v_timed, (v_bucket = 10)::integer * v_timed,
            (v_bucket = 11)::integer * v_timed, (v_bucket = 12)::integer * v_timed,
            (v_bucket = 13)::integer * v_timed, (v_bucket = 14)::integer * v_timed,
            (v_bucket = 15)::integer * v_timed, (v_bucket = 16)::integer * v_timed)
    ON CONFLICT (hour, service_id, client_id, route, status, shard) DO UPDATE
       SET payments = r.payments + EXCLUDED.payments,
           amount = r.amount + EXCLUDED.amount,
           latency_count = r.latency_count + EXCLUDED.latency_count,
           latency_ms_sum = r.latency_ms_sum + EXCLUDED.latency_ms_sum,
           reconciled = r.reconciled + EXCLUDED.reconciled,
           settle_s_sum = r.settle_s_sum + EXCLUDED.settle_s_sum,
           latency_b1 = r.latency_b1 + EXCLUDED.latency_b1, latency_b2 = r.latency_b2 + EXCLUDED.latency_b2,
           latency_b3 = r.latency_b3 + EXCLUDED.latency_b3, latency_b4 = r.latency_b4 + EXCLUDED.latency_b4,
           latency_b5 = r.latency_b5 + EXCLUDED.latency_b5, latency_b6 = r.latency_b6 + EXCLUDED.latency_b6,
           latency_b7 = r.latency_b7 + EXCLUDED.latency_b7, latency_b8 = r.latency_b8 + EXCLUDED.latency_b8,
           latency_b9 = r.latency_b9 + EXCLUDED.latency_b9,
           latency_b10 = r.latency_b10 + EXCLUDED.latency_b10,
           latency_b11 = r.latency_b11 + EXCLUDED.latency_b11,
           latency_b12 = r.latency_b12 + EXCLUDED.latency_b12,
           latency_b13 = r.latency_b13 + EXCLUDED.latency_b13,
           latency_b14 = r.latency_b14 + EXCLUDED.latency_b14,
           latency_b15 = r.latency_b15 + EXCLUDED.latency_b15,
           latency_b16 = r.latency_b16 + EXCLUDED.latency_b16;
    IF t.status = 'FAILED' THEN
        INSERT INTO failure_rollups AS f (hour, service_id, client_id, route, http_status, code, message, payments)
        VALUES (v_hour, t.service_id, t.client_id, t.route, coalesce(t.provider_http_status, 0),
                mospay.failure_code(t.provider_response, t.result, t.status_reason),
                mospay.failure_message(t.provider_response, t.result), p_sign)
        ON CONFLICT (hour, service_id, client_id, route, http_status, code, message) DO UPDATE
           SET payments = f.payments + EXCLUDED.payments;
    END IF;
END $$;

-- The trigger: a status change takes the old share away and adds the new one in the same transaction.
CREATE OR REPLACE FUNCTION mospay.roll_up_transaction() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM mospay.roll_up(OLD, -1);
    END IF;
    IF TG_OP = 'UPDATE' THEN
        PERFORM mospay.roll_up(NEW, 1);
    END IF;
    RETURN NULL;
END $$;

-- Only a changed status or latency moves a share: the reconciler's updates of an open row that stays
-- open (its schedule, attempts) touch no rollup. Nothing changes a final row's other inputs
-- (check_attempts, status_reason, updated_at) once it is final.
CREATE TRIGGER transactions_roll_up AFTER UPDATE OF status, provider_ms ON transactions
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.provider_ms IS DISTINCT FROM NEW.provider_ms)
    EXECUTE FUNCTION mospay.roll_up_transaction();
CREATE TRIGGER transactions_roll_up_delete AFTER DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION mospay.roll_up_transaction();

-- Recount every rollup from the transactions (the upgrade's backfill; after a bulk load that skipped
-- triggers), the hours before p_before (a UTC midnight) already folded into days, as fold_rollups
-- leaves them ('-infinity': none). Writers' trigger updates wait for it, then apply on top of the recount.
CREATE OR REPLACE FUNCTION mospay.rebuild_rollups(p_before timestamptz) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    v_rows bigint;
BEGIN
    LOCK TABLE payment_rollups, failure_rollups IN EXCLUSIVE MODE;
    DELETE FROM payment_rollups;
    DELETE FROM failure_rollups;
    INSERT INTO payment_rollups (hour, service_id, client_id, route, status, shard, payments, amount,
                                 latency_count, latency_ms_sum, reconciled, settle_s_sum,
                                 latency_b1, latency_b2, latency_b3, latency_b4, latency_b5,
                                 latency_b6, latency_b7, latency_b8, latency_b9, latency_b10,
                                 latency_b11, latency_b12, latency_b13, latency_b14, latency_b15,
                                 latency_b16)
    SELECT x.hour, x.service_id, x.client_id, x.route, x.status, x.shard, count(*), sum(x.amount),
           count(x.provider_ms), coalesce(sum(x.provider_ms), 0), count(*) FILTER (WHERE x.reconciled),
           coalesce(sum(extract(epoch FROM x.updated_at - x.created_at))
                    FILTER (WHERE x.reconciled AND x.status IN ('SUCCESSFUL', 'FAILED')), 0),
           count(*) FILTER (WHERE x.bucket = 1), count(*) FILTER (WHERE x.bucket = 2),
           count(*) FILTER (WHERE x.bucket = 3), count(*) FILTER (WHERE x.bucket = 4),
           count(*) FILTER (WHERE x.bucket = 5), count(*) FILTER (WHERE x.bucket = 6),
           count(*) FILTER (WHERE x.bucket = 7), count(*) FILTER (WHERE x.bucket = 8),
           count(*) FILTER (WHERE x.bucket = 9), count(*) FILTER (WHERE x.bucket = 10),
           count(*) FILTER (WHERE x.bucket = 11), count(*) FILTER (WHERE x.bucket = 12),
           count(*) FILTER (WHERE x.bucket = 13), count(*) FILTER (WHERE x.bucket = 14),
           count(*) FILTER (WHERE x.bucket = 15), count(*) FILTER (WHERE x.bucket = 16)
      FROM (SELECT date_trunc(CASE WHEN t.created_at < p_before THEN 'day' ELSE 'hour' END, t.created_at, 'UTC') AS hour,
                   t.service_id, t.client_id, t.route, t.status,
                   (CASE WHEN t.created_at < p_before THEN 0 ELSE t.id % 8 END)::smallint AS shard,
                   t.amount, t.provider_ms, t.created_at, t.updated_at,
                   mospay.latency_bucket(t.provider_ms) AS bucket,
                   (t.status IN ('PENDING', 'UNKNOWN') OR t.check_attempts > 0
                    OR t.status_reason IS NOT DISTINCT FROM 'operator') AS reconciled
              FROM transactions t
             WHERE t.status IN ('PENDING', 'UNKNOWN', 'SUCCESSFUL', 'FAILED')) x
     GROUP BY x.hour, x.service_id, x.client_id, x.route, x.status, x.shard;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    INSERT INTO failure_rollups (hour, service_id, client_id, route, http_status, code, message, payments)
    SELECT date_trunc(CASE WHEN t.created_at < p_before THEN 'day' ELSE 'hour' END, t.created_at, 'UTC'),
           t.service_id, t.client_id, t.route,
           coalesce(t.provider_http_status, 0), mospay.failure_code(t.provider_response, t.result, t.status_reason),
           mospay.failure_message(t.provider_response, t.result), count(*)
      FROM transactions t
     WHERE t.status = 'FAILED'
     GROUP BY 1, 2, 3, 4, 5, 6, 7;
    RETURN v_rows;
END $$;

-- Fold every hourly row before p_before (a UTC midnight) into its day's row (hour = the day's midnight,
-- shard 0), in one statement per table: totals never change, a 90-day read sums 90 rows per key instead
-- of up to 2,160 x 8. The scheduler runs it hourly (fold_rollups) with p_before = yesterday's midnight,
-- so the last 24 hours stay hourly for the 1-day chart.
CREATE OR REPLACE FUNCTION mospay.fold_rollups(p_before timestamptz) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    v_rows bigint;
BEGIN
    WITH moved AS (
        DELETE FROM payment_rollups r
         WHERE r.hour < p_before AND NOT (r.shard = 0 AND r.hour = date_trunc('day', r.hour, 'UTC'))
        RETURNING r.*)
    INSERT INTO payment_rollups AS r (hour, service_id, client_id, route, status, shard, payments, amount,
                                      latency_count, latency_ms_sum, reconciled, settle_s_sum,
                                      latency_b1, latency_b2, latency_b3, latency_b4, latency_b5,
                                      latency_b6, latency_b7, latency_b8, latency_b9, latency_b10,
                                      latency_b11, latency_b12, latency_b13, latency_b14, latency_b15,
                                      latency_b16)
    SELECT date_trunc('day', m.hour, 'UTC'), m.service_id, m.client_id, m.route, m.status, 0, sum(m.payments),
           sum(m.amount), sum(m.latency_count), sum(m.latency_ms_sum), sum(m.reconciled), sum(m.settle_s_sum),
           sum(m.latency_b1), sum(m.latency_b2), sum(m.latency_b3), sum(m.latency_b4),
           sum(m.latency_b5), sum(m.latency_b6), sum(m.latency_b7), sum(m.latency_b8),
           sum(m.latency_b9), sum(m.latency_b10), sum(m.latency_b11), sum(m.latency_b12),
           sum(m.latency_b13), sum(m.latency_b14), sum(m.latency_b15), sum(m.latency_b16)
      FROM moved m
     GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (hour, service_id, client_id, route, status, shard) DO UPDATE
       SET payments = r.payments + EXCLUDED.payments,
           amount = r.amount + EXCLUDED.amount,
           latency_count = r.latency_count + EXCLUDED.latency_count,
           latency_ms_sum = r.latency_ms_sum + EXCLUDED.latency_ms_sum,
           reconciled = r.reconciled + EXCLUDED.reconciled,
           settle_s_sum = r.settle_s_sum + EXCLUDED.settle_s_sum,
           latency_b1 = r.latency_b1 + EXCLUDED.latency_b1, latency_b2 = r.latency_b2 + EXCLUDED.latency_b2,
           latency_b3 = r.latency_b3 + EXCLUDED.latency_b3, latency_b4 = r.latency_b4 + EXCLUDED.latency_b4,
           latency_b5 = r.latency_b5 + EXCLUDED.latency_b5, latency_b6 = r.latency_b6 + EXCLUDED.latency_b6,
           latency_b7 = r.latency_b7 + EXCLUDED.latency_b7, latency_b8 = r.latency_b8 + EXCLUDED.latency_b8,
           latency_b9 = r.latency_b9 + EXCLUDED.latency_b9,
           latency_b10 = r.latency_b10 + EXCLUDED.latency_b10,
           latency_b11 = r.latency_b11 + EXCLUDED.latency_b11,
           latency_b12 = r.latency_b12 + EXCLUDED.latency_b12,
           latency_b13 = r.latency_b13 + EXCLUDED.latency_b13,
           latency_b14 = r.latency_b14 + EXCLUDED.latency_b14,
           latency_b15 = r.latency_b15 + EXCLUDED.latency_b15,
           latency_b16 = r.latency_b16 + EXCLUDED.latency_b16;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    WITH moved AS (
        DELETE FROM failure_rollups f
         WHERE f.hour < p_before AND f.hour <> date_trunc('day', f.hour, 'UTC')
        RETURNING f.*)
    INSERT INTO failure_rollups AS f (hour, service_id, client_id, route, http_status, code, message, payments)
    SELECT date_trunc('day', m.hour, 'UTC'), m.service_id, m.client_id, m.route, m.http_status, m.code, m.message,
           sum(m.payments)
      FROM moved m
     GROUP BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT (hour, service_id, client_id, route, http_status, code, message) DO UPDATE
       SET payments = f.payments + EXCLUDED.payments;
    RETURN v_rows;
END $$;

-- Scheduled statements by email: who receives each client's daily and monthly statement, and the
-- delivery log, whose key (client, address, kind, period) makes each delivery happen once, across
-- instances and restarts.

CREATE TABLE report_recipients (
    id          bigserial PRIMARY KEY,
    client_id   bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    email       text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    daily       boolean NOT NULL DEFAULT true,
    monthly     boolean NOT NULL DEFAULT true,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, email),
    CHECK (daily OR monthly)
);

CREATE TABLE report_deliveries (
    id            bigserial PRIMARY KEY,
    client_id     bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    email         text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('daily', 'monthly')),
    period_start  date NOT NULL,
    state         text NOT NULL CHECK (state IN ('sending', 'sent', 'failed', 'gave_up')),
    attempts      integer NOT NULL DEFAULT 1,
    lease_until   timestamptz,  -- while 'sending': another run may take it over after this
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    UNIQUE (client_id, email, kind, period_start)
);
CREATE INDEX report_deliveries_created_idx ON report_deliveries (created_at DESC, id DESC);

-- The backfill: every existing transaction's share, days before yesterday already folded (the trigger
-- keeps them from now on).
SELECT mospay.rebuild_rollups(date_trunc('day', now(), 'UTC') - interval '1 day');
