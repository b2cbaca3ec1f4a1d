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
