-- Per-client request rates, shared by every process and instance: a token bucket per client and kind
-- of request ('payment', 'token', 'status'), each refilled at the client's rate_limit_per_minute.
-- A bucket is taken only after the client has authenticated, so a stranger cannot spend it.

CREATE TABLE client_rate_buckets (
    client_id     bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('payment', 'token', 'status')),
    tokens        double precision NOT NULL,
    refreshed_at  timestamptz NOT NULL,
    PRIMARY KEY (client_id, kind)
);

-- Takes one request from the client's bucket: 0 when admitted, else the seconds until the next token.
-- p_per_minute <= 0 (or NULL) means no limit and touches nothing. One row lock per client and kind:
-- concurrent requests from any number of processes are counted exactly.
CREATE OR REPLACE FUNCTION mospay.take_rate_token(p_client_id bigint, p_kind text, p_per_minute integer)
RETURNS numeric LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_tokens double precision;
BEGIN
    IF coalesce(p_per_minute, 0) <= 0 THEN
        RETURN 0;
    END IF;
    INSERT INTO client_rate_buckets AS b (client_id, kind, tokens, refreshed_at)
    VALUES (p_client_id, p_kind, p_per_minute - 1, v_now)
    ON CONFLICT (client_id, kind) DO UPDATE
       SET tokens = least(p_per_minute::double precision,
                          b.tokens + extract(epoch FROM v_now - b.refreshed_at) * p_per_minute / 60.0) - 1,
           refreshed_at = v_now
     WHERE least(p_per_minute::double precision,
                 b.tokens + extract(epoch FROM v_now - b.refreshed_at) * p_per_minute / 60.0) >= 1
    RETURNING b.tokens INTO v_tokens;
    IF FOUND THEN
        RETURN 0;
    END IF;
    SELECT least(p_per_minute::double precision,
                 b.tokens + extract(epoch FROM v_now - b.refreshed_at) * p_per_minute / 60.0)
      INTO v_tokens
      FROM client_rate_buckets b WHERE b.client_id = p_client_id AND b.kind = p_kind;
    RETURN greatest(1, ceil((1 - v_tokens) * 60.0 / p_per_minute));
END $$;
