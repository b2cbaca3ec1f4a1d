-- Client webhooks, an outbox: events are written by the transactions trigger (30_transactions.sql)
-- in the same database transaction as the final state; each delivery attempt is kept.

-- event_id is stable across retries: clients deduplicate on it. A test event (test.ping, sent from the
-- merchant portal) has no transaction.
CREATE TABLE webhook_events (
    id               bigserial PRIMARY KEY,
    event_id         text NOT NULL UNIQUE DEFAULT ('evt_' || replace(gen_random_uuid()::text, '-', '')),
    client_id        bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    transaction_id   bigint REFERENCES transactions (id) ON DELETE CASCADE,
    event_type       text NOT NULL,
    payload          jsonb NOT NULL,
    state            text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'DELIVERED', 'GAVE_UP')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- A refund's event (refund.succeeded / refund.failed) names its refund; transaction_id is its payment.
    refund_id        uuid REFERENCES refunds (id) ON DELETE CASCADE
);
-- One event of each type per payment, and one per refund (a payment may have up to 10 refunds).
CREATE UNIQUE INDEX webhook_events_payment_event_key ON webhook_events (transaction_id, event_type)
    WHERE refund_id IS NULL;
CREATE UNIQUE INDEX webhook_events_refund_event_key ON webhook_events (refund_id, event_type)
    WHERE refund_id IS NOT NULL;
CREATE INDEX webhook_events_due_idx ON webhook_events (next_attempt_at) WHERE state = 'PENDING';
-- A client's delivery log, newest first (the merchant portal).
CREATE INDEX webhook_events_client_idx ON webhook_events (client_id, created_at DESC, id DESC);

CREATE TABLE webhook_attempts (
    id            bigserial PRIMARY KEY,
    event_id      bigint NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    url           text NOT NULL,
    http_status   integer,
    error         text,
    duration_ms   numeric(10, 2),
    attempted_at  timestamptz NOT NULL DEFAULT now(),
    response_excerpt text CHECK (length(response_excerpt) <= 500)  -- the start of the endpoint's answer
);
CREATE INDEX webhook_attempts_event_idx ON webhook_attempts (event_id, id);
-- Attempts are kept 30 days (mospay.retention.prune_webhook_attempts).
CREATE INDEX webhook_attempts_attempted_idx ON webhook_attempts (attempted_at);
