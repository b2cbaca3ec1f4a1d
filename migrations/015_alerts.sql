-- Alert rules, alerts (pending, firing, resolved; one open per rule, service and client) and their
-- notifications' delivery log.

CREATE TABLE alert_rules (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    metric      text NOT NULL CHECK (metric IN ('success_rate', 'provider_errors', 'latency_p95_ms', 'open_payments',
                                                'stuck', 'webhook_failing', 'no_traffic', 'volume')),
    service_id  bigint REFERENCES services (id) ON DELETE CASCADE,
    client_id   bigint REFERENCES clients (id) ON DELETE CASCADE,
    op          text NOT NULL CHECK (op IN ('<', '>')),
    threshold   numeric(18, 4) NOT NULL,
    -- volume only: payments counted, or the amount of the successful ones.
    measure     text CHECK (measure IN ('count', 'amount')),
    window_s    integer NOT NULL CHECK (window_s BETWEEN 10 AND 604800),
    min_count   integer NOT NULL DEFAULT 0 CHECK (min_count BETWEEN 0 AND 1000000),
    for_s       integer NOT NULL DEFAULT 0 CHECK (for_s BETWEEN 0 AND 86400),
    repeat_s    integer NOT NULL DEFAULT 14400 CHECK (repeat_s BETWEEN 60 AND 604800),
    severity    text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    -- [{"type": "webhook", "url"}, {"type": "email", "to"}], checked by mospay/alert_rules.py.
    channels    jsonb NOT NULL DEFAULT '[]'::jsonb
                CHECK (jsonb_typeof(channels) = 'array' AND jsonb_array_length(channels) <= 10),
    enabled     boolean NOT NULL DEFAULT true,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT alert_rules_measure CHECK ((metric = 'volume') = (measure IS NOT NULL))
);

-- service and app_id are names, not keys: the history outlives a deleted service or client.
CREATE TABLE alerts (
    id               bigserial PRIMARY KEY,
    rule_id          bigint NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    service          text,
    app_id           text,
    state            text NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
    value            numeric(20, 4),
    observed_count   bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),  -- the breach was first seen
    fired_at         timestamptz,
    resolved_at      timestamptz,
    evaluated_at     timestamptz NOT NULL DEFAULT now(),
    last_notified_at timestamptz,
    acknowledged_by  text,
    acknowledged_at  timestamptz,
    CONSTRAINT alerts_fired CHECK ((state = 'pending') = (fired_at IS NULL)),
    CONSTRAINT alerts_resolved CHECK ((state = 'resolved') = (resolved_at IS NOT NULL)),
    CONSTRAINT alerts_acknowledged CHECK ((acknowledged_by IS NULL) = (acknowledged_at IS NULL))
);
-- Dedup: one open alert per (rule, service, client).
CREATE UNIQUE INDEX alerts_open_key ON alerts (rule_id, coalesce(service, ''), coalesce(app_id, ''))
    WHERE state <> 'resolved';
CREATE INDEX alerts_created_idx ON alerts (created_at DESC, id DESC);

-- One notice to one channel (firing, repeat, resolved, or an operator's test), retried with backoff.
CREATE TABLE alert_deliveries (
    id               bigserial PRIMARY KEY,
    alert_id         bigint REFERENCES alerts (id) ON DELETE CASCADE,
    rule_id          bigint REFERENCES alert_rules (id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('firing', 'repeat', 'resolved', 'test')),
    channel          jsonb NOT NULL,
    subject          text NOT NULL,
    message          jsonb NOT NULL,
    state            text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'SENT', 'GAVE_UP')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_response    text CHECK (length(last_response) <= 500),
    sent_at          timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_deliveries_due_idx ON alert_deliveries (next_attempt_at) WHERE state = 'PENDING';
CREATE INDEX alert_deliveries_alert_idx ON alert_deliveries (alert_id, id);

-- Every attempt: what the channel answered (an excerpt), kept for the delivery log.
CREATE TABLE alert_delivery_attempts (
    id            bigserial PRIMARY KEY,
    delivery_id   bigint NOT NULL REFERENCES alert_deliveries (id) ON DELETE CASCADE,
    attempt       integer NOT NULL,
    ok            boolean NOT NULL,
    response      text CHECK (length(response) <= 500),
    duration_ms   numeric(10, 2),
    attempted_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_delivery_attempts_delivery_idx ON alert_delivery_attempts (delivery_id, id);
