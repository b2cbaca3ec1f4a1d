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
