-- Transactions and their history. The state machine lives here: a trigger refuses illegal
-- transitions, every change is an event row, a final state enqueues the client's webhook, and a new
-- row is checked against the client's amount limits.

CREATE TABLE transactions (
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
    -- The reconciler's schedule (mospay.next_check_at): checks made, when the next one is due.
    check_attempts       integer NOT NULL DEFAULT 0,
    next_check_at        timestamptz,
    -- The schedule ran out without a final answer: an operator must resolve it (the portal's stuck queue).
    stuck                boolean NOT NULL DEFAULT false,
    -- The reference sent to the provider, when it is not the one derived from public_id
    -- (mospay.provider_reference): rows recorded before schema version 4 were sent their f010.
    provider_ref         text,
    -- The database session (backend pid) that recorded the row: while it is gone from pg_stat_activity,
    -- the process that is calling the provider for it is gone too, and a replay need not wait for it.
    owner_pid            integer DEFAULT pg_backend_pid(),
    -- How long the provider took to answer the payment call (ms; a timeout's wait too), written by
    -- finish_payment; NULL when no call was sent. Analytics' latency percentiles come from it.
    provider_ms          numeric(12, 1),
    -- The idempotency key: holds across threads, processes and machines.
    UNIQUE (client_id, f010)
);
CREATE INDEX transactions_created_idx ON transactions (created_at DESC, id DESC);
CREATE INDEX transactions_open_idx ON transactions (status, updated_at)
    WHERE status IN ('RECEIVED', 'PENDING', 'UNKNOWN');
CREATE INDEX transactions_due_idx ON transactions (next_check_at)
    WHERE status IN ('RECEIVED', 'PENDING', 'UNKNOWN') AND NOT stuck;
CREATE INDEX transactions_stuck_idx ON transactions (updated_at) WHERE stuck;
-- Transaction search by f010 or phone number in the portal, and per-client lists.
CREATE INDEX transactions_f010_idx ON transactions (f010);
CREATE INDEX transactions_msisdn_idx ON transactions (msisdn, created_at DESC);
-- INCLUDE: a merchant's totals (reports.sql transaction_totals) are an index-only scan.
CREATE INDEX transactions_client_created_idx ON transactions (client_id, created_at DESC, id DESC)
    INCLUDE (service_id, status, amount);

CREATE TABLE transaction_events (
    id              bigserial,
    transaction_id  bigint NOT NULL REFERENCES transactions (id) ON DELETE CASCADE,
    from_status     text,
    to_status       text NOT NULL,
    cause           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Who changed a state by hand, and why (cause = 'operator').
    actor_user_id   bigint REFERENCES users (id),
    note            text,
    -- The history is read per transaction in id order: this key serves that and max(id) per
    -- transaction, so each event row writes one index.
    CONSTRAINT transaction_events_pkey PRIMARY KEY (transaction_id, id)
);

-- What the provider is told, and what its callbacks and status answers are matched on: unique per
-- transaction across all clients (a client's f010 is only unique for that client, and is its
-- idempotency key, not the provider's). It is the UUID inside public_id ('txn_' + 32 hex digits),
-- so a merchant's transaction_id names the provider's reference too.
CREATE OR REPLACE FUNCTION mospay.provider_reference(p_public_id text, p_provider_ref text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(p_provider_ref, CASE WHEN p_public_id ~ '^txn_[0-9a-f]{32}$'
                                         THEN substr(p_public_id, 5)::uuid::text ELSE p_public_id END)
$$;

-- The public_id a reference derived by mospay.provider_reference stands for (NULL if it is none).
CREATE OR REPLACE FUNCTION mospay.public_id_for_reference(p_reference text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_reference ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                THEN 'txn_' || replace(lower(p_reference), '-', '') END
$$;

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

CREATE TRIGGER transactions_guard_status BEFORE UPDATE OF status ON transactions
    FOR EACH ROW EXECUTE FUNCTION mospay.guard_transaction_status();
CREATE TRIGGER transactions_record_event AFTER INSERT OR UPDATE OF status ON transactions
    FOR EACH ROW EXECUTE FUNCTION mospay.record_transaction_event();

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

CREATE TRIGGER transactions_amount_limits BEFORE INSERT ON transactions
    FOR EACH ROW EXECUTE FUNCTION mospay.check_amount_limits();

-- The webhook outbox (60_webhooks.sql): a final state writes the client's event in the same database
-- transaction, so a crash cannot lose it.
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
    ON CONFLICT (transaction_id, event_type) WHERE refund_id IS NULL DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER transactions_enqueue_webhook AFTER UPDATE OF status ON transactions
    FOR EACH ROW WHEN (NEW.status IN ('SUCCESSFUL', 'FAILED') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION mospay.enqueue_webhook();
