-- Authentication throttling and the security events the portal shows.

-- Failed-authentication counters, one row per key ('ip:…', 'app:…', 'user:…', 'admin:…'), shared by
-- every process. Touched only when an authentication fails, never on the successful path.
CREATE TABLE auth_throttle (
    key           text PRIMARY KEY CHECK (length(key) <= 200),
    window_start  timestamptz NOT NULL,
    failures      integer NOT NULL,
    blocked_until timestamptz
);

-- What the portal shows as security events. Never holds a secret: only who, from where, and what kind.
CREATE TABLE security_events (
    id        bigserial PRIMARY KEY,
    kind      text NOT NULL CHECK (kind ~ '^[a-z_]{1,40}$'),
    ip        text CHECK (length(ip) <= 64),
    app_id    text CHECK (length(app_id) <= 64),
    username  text CHECK (length(username) <= 64),
    endpoint  text CHECK (length(endpoint) <= 200),
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX security_events_at_idx ON security_events (at DESC, id DESC);
-- The list filtered by kind pages on this index, as the unfiltered one does on security_events_at_idx.
CREATE INDEX security_events_kind_at_idx ON security_events (kind, at DESC, id DESC);

-- One round trip per failed authentication: record the event, count it against every key, and
-- answer which keys are now blocked (and for how long) so the calling process can cache that.
CREATE OR REPLACE FUNCTION mospay.record_auth_failure(
    p_kind text, p_ip text, p_app_id text, p_username text, p_endpoint text, p_keys text[],
    p_limit integer, p_window_s integer)
RETURNS TABLE (o_key text, o_retry_after integer)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    v_window interval := make_interval(secs => p_window_s);
    v_key text;
    v_failures integer;
    v_blocked timestamptz;
BEGIN
    INSERT INTO security_events (kind, ip, app_id, username, endpoint)
    VALUES (p_kind, left(p_ip, 64), left(p_app_id, 64), left(p_username, 64), left(p_endpoint, 200));
    FOREACH v_key IN ARRAY p_keys LOOP
        INSERT INTO auth_throttle AS a (key, window_start, failures)
        VALUES (left(v_key, 200), now(), 1)
        ON CONFLICT (key) DO UPDATE
           SET failures = CASE WHEN a.window_start <= now() - v_window THEN 1 ELSE a.failures + 1 END,
               window_start = CASE WHEN a.window_start <= now() - v_window THEN now() ELSE a.window_start END
        RETURNING a.failures, a.blocked_until INTO v_failures, v_blocked;
        IF v_failures >= p_limit THEN
            v_blocked := now() + v_window;
            UPDATE auth_throttle SET blocked_until = v_blocked WHERE key = left(v_key, 200);
            IF v_failures = p_limit THEN
                INSERT INTO security_events (kind, ip, app_id, username, endpoint)
                VALUES ('auth_blocked', left(p_ip, 64), left(p_app_id, 64), left(p_username, 64),
                        left(v_key, 200));
            END IF;
        END IF;
        IF v_blocked > now() THEN
            o_key := v_key;
            o_retry_after := greatest(1, ceil(extract(epoch FROM v_blocked - now())))::integer;
            RETURN NEXT;
        END IF;
    END LOOP;
    -- Old counters go away on their own, a little at a time, without a scheduled job.
    IF random() < 0.01 THEN
        DELETE FROM auth_throttle
         WHERE window_start < now() - greatest(v_window, interval '1 hour')
           AND coalesce(blocked_until, '-infinity') < now();
    END IF;
END $$;
