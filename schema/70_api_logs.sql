-- Every API call, masked (written by the request middleware and by mospay.finish_payment); pruned
-- after MOSPAY_LOG_RETENTION_DAYS.

CREATE TABLE api_logs (
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
CREATE INDEX api_logs_created_idx ON api_logs (created_at DESC, id DESC);
CREATE INDEX api_logs_app_created_idx ON api_logs (app_id, created_at DESC, id DESC);
-- A client's own calls (the merchant portal): by the authenticated client, never by a claimed App-ID.
CREATE INDEX api_logs_client_created_idx ON api_logs (client_id, created_at DESC, id DESC);
