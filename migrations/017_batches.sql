-- Batches (bulk payments from one upload, maker-checker, leases, provider limits): schema/96_batches.sql.

-- Batches: many payments from one upload, approved by a second person, paid row by row through the
-- ordinary payment path (mospay/batches.py, mospay/batch_runner.py). The rules that decide money live
-- here: the state machine, the four-eyes rule, the per-service concurrency and rate, the leases.

-- An operator may let a client's batches up to this total approve themselves (NULL: every batch needs
-- a second person).
ALTER TABLE clients ADD COLUMN batch_auto_approve_max numeric(18, 2)
    CHECK (batch_auto_approve_max > 0);
-- How hard batch rows may press a provider, across every process: NULL is no limit (nothing changes
-- for an existing service).
ALTER TABLE services ADD COLUMN max_in_flight integer CHECK (max_in_flight BETWEEN 1 AND 10000);
ALTER TABLE services ADD COLUMN max_per_second integer CHECK (max_per_second BETWEEN 1 AND 100000);

CREATE TABLE batches (
    id                bigserial PRIMARY KEY,
    public_id         text NOT NULL UNIQUE DEFAULT ('bat_' || replace(gen_random_uuid()::text, '-', '')),
    client_id         bigint NOT NULL REFERENCES clients (id),
    name              text CHECK (length(name) <= 200),
    idempotency_key   text CHECK (length(idempotency_key) <= 200),
    upload_sha256     text NOT NULL,
    status            text NOT NULL DEFAULT 'VALIDATED'
                      CHECK (status IN ('VALIDATED', 'AWAITING_APPROVAL', 'APPROVED', 'RUNNING', 'PAUSED',
                                        'COMPLETED', 'REJECTED', 'CANCELLED')),
    rows              integer NOT NULL DEFAULT 0 CHECK (rows >= 0),
    valid_rows        integer NOT NULL DEFAULT 0 CHECK (valid_rows >= 0),
    invalid_rows      integer NOT NULL DEFAULT 0 CHECK (invalid_rows >= 0),
    total_amount      numeric(18, 2) NOT NULL DEFAULT 0,
    -- Problems of the file as a whole (the daily limit over the total): [{"field", "message", "code"}].
    file_errors       jsonb,
    -- Typed actors: client:<app_id>, admin:<username>, merchant:<user_id>, system:auto-approval.
    uploaded_by       text NOT NULL CHECK (uploaded_by ~ '^(client|admin|merchant):.+$'),
    approved_by       text CHECK (approved_by ~ '^(admin|merchant|system):.+$'),
    approved_at       timestamptz,
    rejected_by       text,
    reject_reason     text CHECK (length(reject_reason) <= 500),
    cancelled_by      text,
    started_at        timestamptz,
    finished_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- Maker-checker: whoever uploaded a batch can never be the one who approves it.
    CONSTRAINT batches_four_eyes CHECK (approved_by IS NULL OR approved_by <> uploaded_by),
    CONSTRAINT batches_approved_whole CHECK ((approved_by IS NULL) = (approved_at IS NULL)),
    CONSTRAINT batches_idempotency UNIQUE (client_id, idempotency_key)
);
CREATE INDEX batches_client_created_idx ON batches (client_id, created_at DESC, id DESC);
CREATE INDEX batches_created_idx ON batches (created_at DESC, id DESC);
CREATE INDEX batches_runnable_idx ON batches (id) WHERE status IN ('APPROVED', 'RUNNING');

-- One row of an upload. `fields` holds the non-secret fields (secret ones masked); `secrets` the secret
-- ones, encrypted by pgcrypto under a key the database never keeps, erased once the row's payment exists.
CREATE TABLE batch_rows (
    batch_id          bigint NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    line_no           integer NOT NULL CHECK (line_no > 0),
    service_id        bigint REFERENCES services (id),
    f010              text,
    amount            numeric(18, 2),
    fields            jsonb NOT NULL,
    secrets           bytea,
    errors            jsonb,  -- [{"field", "message", "code"}] when the row is invalid
    state             text NOT NULL DEFAULT 'QUEUED'
                      CHECK (state IN ('INVALID', 'QUEUED', 'IN_FLIGHT', 'DONE', 'REFUSED', 'CANCELLED')),
    lease_owner       text,
    lease_expires_at  timestamptz,
    not_before        timestamptz,  -- a row put back (breaker open, client rate limit) waits until then
    attempts          integer NOT NULL DEFAULT 0,
    transaction_id    bigint REFERENCES transactions (id),
    message           text CHECK (length(message) <= 500),
    finished_at       timestamptz,
    PRIMARY KEY (batch_id, line_no),
    CONSTRAINT batch_rows_lease_whole CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL)),
    CONSTRAINT batch_rows_valid_whole CHECK ((state = 'INVALID') = (errors IS NOT NULL)),
    CONSTRAINT batch_rows_payable CHECK (state = 'INVALID' OR (service_id IS NOT NULL AND f010 IS NOT NULL
                                                              AND amount > 0))
);
-- Open rows: per service for the claims, per batch for "is anything left" (every finished row asks).
CREATE INDEX batch_rows_open_idx ON batch_rows (service_id, batch_id, line_no) WHERE state IN ('QUEUED', 'IN_FLIGHT');
CREATE INDEX batch_rows_batch_open_idx ON batch_rows (batch_id) WHERE state IN ('QUEUED', 'IN_FLIGHT');
CREATE INDEX batch_rows_finished_idx ON batch_rows (batch_id, finished_at) WHERE finished_at IS NOT NULL;

-- Provider calls started by batch rows per service and wall-clock second (the database's clock): the
-- one counter every process claims against, so max_per_second holds across processes.
CREATE TABLE batch_send_windows (
    service_id  bigint PRIMARY KEY REFERENCES services (id) ON DELETE CASCADE,
    second      timestamptz NOT NULL,
    used        integer NOT NULL DEFAULT 0
);

-- The batch outbox events (batch.completed, batch.failed) share webhook_events with the payment events.
ALTER TABLE webhook_events ALTER COLUMN transaction_id DROP NOT NULL;
ALTER TABLE webhook_events ADD COLUMN batch_id bigint REFERENCES batches (id) ON DELETE CASCADE;
-- A payment's or refund's event names its transaction, a batch's its batch, a test event (test.ping) neither.
ALTER TABLE webhook_events ADD CONSTRAINT webhook_events_one_subject
    CHECK (num_nonnulls(transaction_id, batch_id) <= 1);
ALTER TABLE webhook_events ADD CONSTRAINT webhook_events_batch_once UNIQUE (batch_id, event_type);

-- A batch's states: VALIDATED -> AWAITING_APPROVAL -> APPROVED -> RUNNING -> COMPLETED, with PAUSED,
-- REJECTED and CANCELLED. A file with invalid rows stays VALIDATED (it can only be cancelled).
CREATE OR REPLACE FUNCTION mospay.guard_batch_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'VALIDATED' AND NEW.status IN ('AWAITING_APPROVAL', 'APPROVED', 'CANCELLED'))
        OR (OLD.status = 'AWAITING_APPROVAL' AND NEW.status IN ('APPROVED', 'REJECTED', 'CANCELLED'))
        OR (OLD.status = 'APPROVED' AND NEW.status IN ('RUNNING', 'PAUSED', 'CANCELLED', 'COMPLETED'))
        OR (OLD.status = 'RUNNING' AND NEW.status IN ('PAUSED', 'CANCELLED', 'COMPLETED'))
        OR (OLD.status = 'PAUSED' AND NEW.status IN ('APPROVED', 'RUNNING', 'CANCELLED'))) THEN
        RAISE EXCEPTION 'illegal batch status change % -> %', OLD.status, NEW.status USING ERRCODE = 'MPB01';
    END IF;
    IF NEW.status IN ('APPROVED', 'RUNNING') AND OLD.status IN ('VALIDATED', 'AWAITING_APPROVAL')
       AND (NEW.invalid_rows > 0 OR NEW.file_errors IS NOT NULL OR NEW.valid_rows = 0) THEN
        RAISE EXCEPTION 'a batch with invalid rows cannot be approved' USING ERRCODE = 'MPB02';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE TRIGGER batches_guard_status BEFORE UPDATE OF status ON batches
    FOR EACH ROW EXECUTE FUNCTION mospay.guard_batch_status();

-- batch.completed / batch.failed (cancelled or rejected) into the client's outbox, in the same
-- transaction as the state change.
CREATE OR REPLACE FUNCTION mospay.enqueue_batch_webhook() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_events (client_id, batch_id, event_type, payload)
    SELECT NEW.client_id, NEW.id,
           CASE NEW.status WHEN 'COMPLETED' THEN 'batch.completed' ELSE 'batch.failed' END,
           jsonb_build_object('batch_id', NEW.public_id, 'name', NEW.name, 'status', NEW.status,
                              'rows', NEW.rows, 'total_amount', NEW.total_amount::text,
                              'reason', NEW.reject_reason, 'updated_at', NEW.updated_at)
      FROM clients c
     WHERE c.id = NEW.client_id AND c.callback_url IS NOT NULL
    ON CONFLICT (batch_id, event_type) DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER batches_enqueue_webhook AFTER UPDATE OF status ON batches
    FOR EACH ROW WHEN (NEW.status IN ('COMPLETED', 'CANCELLED', 'REJECTED') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION mospay.enqueue_batch_webhook();

-- Claims up to p_limit payable rows for p_owner, leased for the service's call time plus p_lease_s seconds: queued rows of approved
-- or running batches, and rows whose holder's lease ran out (its process died). Per service, under an
-- advisory lock (so every process counts the same rows): at most max_in_flight leased rows at once, and
-- at most max_per_second rows started per wall-clock second of the database. A row claimed against a
-- second's allowance must be started before o_send_by (the caller puts it back otherwise).
CREATE OR REPLACE FUNCTION mospay.claim_batch_rows(p_owner text, p_lease_s numeric, p_limit integer)
RETURNS TABLE (o_batch_id bigint, o_line_no integer, o_batch text, o_app_id text, o_fields jsonb,
               o_secrets bytea, o_send_by timestamptz)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    s record;
    v_room integer;
    v_left integer := p_limit;
    v_in_flight integer;
    v_second timestamptz;
    v_used integer;
    v_send_by timestamptz;
    v_n integer;
BEGIN
    -- Rows of a cancelled batch whose holder died: over, paid or not (a payment it recorded is theirs).
    UPDATE batch_rows r
       SET state = CASE WHEN x.txn IS NULL THEN 'CANCELLED' ELSE 'DONE' END, transaction_id = x.txn,
           message = CASE WHEN x.txn IS NULL THEN 'cancelled' END, secrets = NULL, finished_at = now(),
           lease_owner = NULL, lease_expires_at = NULL
      FROM (SELECT r2.batch_id, r2.line_no,
                   (SELECT t.id FROM transactions t WHERE t.client_id = b.client_id AND t.f010 = r2.f010) AS txn
              FROM batch_rows r2 JOIN batches b ON b.id = r2.batch_id
             WHERE b.status = 'CANCELLED' AND r2.state = 'IN_FLIGHT' AND r2.lease_expires_at < now()) x
     WHERE r.batch_id = x.batch_id AND r.line_no = x.line_no;
    -- A batch whose rows are all over is COMPLETED (finish_batch_row does it; this is the safety net).
    UPDATE batches b SET status = 'COMPLETED', finished_at = now()
     WHERE b.status IN ('APPROVED', 'RUNNING')
       AND NOT EXISTS (SELECT 1 FROM batch_rows r WHERE r.batch_id = b.id AND r.state IN ('QUEUED', 'IN_FLIGHT'));
    FOR s IN SELECT DISTINCT r.service_id, sv.max_in_flight, sv.max_per_second,
                    (sv.connect_timeout_s + sv.timeout_s)::double precision AS call_s
               FROM batch_rows r JOIN batches b ON b.id = r.batch_id JOIN services sv ON sv.id = r.service_id
              WHERE b.status IN ('APPROVED', 'RUNNING')
                AND ((r.state = 'QUEUED' AND (r.not_before IS NULL OR r.not_before <= now()))
                     OR (r.state = 'IN_FLIGHT' AND r.lease_expires_at < now()))
              ORDER BY r.service_id
    LOOP
        EXIT WHEN v_left <= 0;
        v_room := v_left;
        v_send_by := NULL;
        PERFORM pg_advisory_xact_lock(7271015, s.service_id::integer);
        IF s.max_in_flight IS NOT NULL THEN
            SELECT count(*) INTO v_in_flight FROM batch_rows r
             WHERE r.service_id = s.service_id AND r.state = 'IN_FLIGHT' AND r.lease_expires_at >= now();
            v_room := least(v_room, s.max_in_flight - v_in_flight);
        END IF;
        IF s.max_per_second IS NOT NULL AND v_room > 0 THEN
            v_second := date_trunc('second', clock_timestamp());
            v_send_by := v_second + interval '850 milliseconds';
            IF clock_timestamp() >= v_send_by - interval '50 milliseconds' THEN
                CONTINUE;  -- too late in this second to start a call inside it
            END IF;
            INSERT INTO batch_send_windows AS w (service_id, second, used) VALUES (s.service_id, v_second, 0)
            ON CONFLICT (service_id) DO UPDATE
               SET second = EXCLUDED.second, used = CASE WHEN w.second = EXCLUDED.second THEN w.used ELSE 0 END
            RETURNING w.used INTO v_used;
            v_room := least(v_room, s.max_per_second - v_used);
        END IF;
        CONTINUE WHEN v_room <= 0;
        RETURN QUERY
            WITH picked AS (
                SELECT r.batch_id, r.line_no FROM batch_rows r JOIN batches b ON b.id = r.batch_id
                 WHERE r.service_id = s.service_id AND b.status IN ('APPROVED', 'RUNNING')
                   AND ((r.state = 'QUEUED' AND (r.not_before IS NULL OR r.not_before <= now()))
                        OR (r.state = 'IN_FLIGHT' AND r.lease_expires_at < now()))
                 ORDER BY r.batch_id, r.line_no
                 LIMIT v_room
                   FOR UPDATE OF r SKIP LOCKED),
            claimed AS (
                UPDATE batch_rows r
                   SET state = 'IN_FLIGHT', lease_owner = p_owner, attempts = r.attempts + 1,
                       lease_expires_at = now() + make_interval(secs => s.call_s + p_lease_s::double precision)
                  FROM picked WHERE r.batch_id = picked.batch_id AND r.line_no = picked.line_no
                RETURNING r.batch_id, r.line_no, r.fields, r.secrets)
            SELECT c.batch_id, c.line_no, b.public_id, cl.app_id, c.fields, c.secrets, v_send_by
              FROM claimed c JOIN batches b ON b.id = c.batch_id JOIN clients cl ON cl.id = b.client_id;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_left := v_left - v_n;
        IF s.max_per_second IS NOT NULL AND v_n > 0 THEN
            UPDATE batch_send_windows SET used = used + v_n WHERE service_id = s.service_id;
        END IF;
    END LOOP;
    -- A batch whose first row is claimed is RUNNING.
    UPDATE batches b SET status = 'RUNNING', started_at = coalesce(b.started_at, now())
     WHERE b.status = 'APPROVED'
       AND EXISTS (SELECT 1 FROM batch_rows r WHERE r.batch_id = b.id AND r.state = 'IN_FLIGHT');
END $$;

-- A row is over: its payment exists (DONE, linked to it; the secrets are erased) or it was refused before
-- anything was recorded (REFUSED). Only the lease holder may finish it. The batch is COMPLETED with its
-- last row.
CREATE OR REPLACE FUNCTION mospay.finish_batch_row(p_batch_id bigint, p_line_no integer, p_owner text,
                                                   p_state text, p_message text)
RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    -- The batch row first: two last rows finishing at once would each see the other still open.
    PERFORM 1 FROM batches WHERE id = p_batch_id FOR UPDATE;
    UPDATE batch_rows r
       SET state = p_state, message = left(p_message, 500), finished_at = now(), secrets = NULL,
           lease_owner = NULL, lease_expires_at = NULL,
           transaction_id = (SELECT t.id FROM transactions t JOIN batches b ON b.client_id = t.client_id
                              WHERE b.id = r.batch_id AND t.f010 = r.f010)
     WHERE r.batch_id = p_batch_id AND r.line_no = p_line_no AND r.state = 'IN_FLIGHT' AND r.lease_owner = p_owner;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE batches b SET status = 'COMPLETED', finished_at = now()
     WHERE b.id = p_batch_id AND b.status IN ('RUNNING', 'APPROVED')
       AND NOT EXISTS (SELECT 1 FROM batch_rows r WHERE r.batch_id = b.id AND r.state IN ('QUEUED', 'IN_FLIGHT'));
    RETURN true;
END $$;
