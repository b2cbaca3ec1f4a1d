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

-- One round trip per failed authentication: record the event, count it against every key (each key
-- with its own limit), and answer which keys are now blocked (and for how long) so the calling process
-- can cache that. p_counted: the attempt was already counted by reserve_auth_attempt (admin sign-in),
-- so only the event and the block are written here.
CREATE OR REPLACE FUNCTION mospay.record_auth_failure(
    p_kind text, p_ip text, p_app_id text, p_username text, p_endpoint text, p_keys text[],
    p_limits integer[], p_window_s integer, p_counted boolean)
RETURNS TABLE (o_key text, o_retry_after integer)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    v_window interval := make_interval(secs => p_window_s);
    v_i integer;
    v_key text;
    v_failures integer;
    v_blocked timestamptz;
BEGIN
    INSERT INTO security_events (kind, ip, app_id, username, endpoint)
    VALUES (p_kind, left(p_ip, 64), left(p_app_id, 64), left(p_username, 64), left(p_endpoint, 200));
    FOR v_i IN 1 .. coalesce(array_length(p_keys, 1), 0) LOOP
        v_key := left(p_keys[v_i], 200);
        IF p_counted THEN
            SELECT a.failures, a.blocked_until INTO v_failures, v_blocked FROM auth_throttle a WHERE a.key = v_key;
            CONTINUE WHEN NOT FOUND;
        ELSE
            INSERT INTO auth_throttle AS a (key, window_start, failures)
            VALUES (v_key, now(), 1)
            ON CONFLICT (key) DO UPDATE
               SET failures = CASE WHEN a.window_start <= now() - v_window THEN 1 ELSE a.failures + 1 END,
                   window_start = CASE WHEN a.window_start <= now() - v_window THEN now() ELSE a.window_start END
            RETURNING a.failures, a.blocked_until INTO v_failures, v_blocked;
        END IF;
        IF v_failures >= p_limits[v_i] AND coalesce(v_blocked, '-infinity') <= now() THEN
            v_blocked := now() + v_window;
            UPDATE auth_throttle SET blocked_until = v_blocked WHERE key = v_key;
            INSERT INTO security_events (kind, ip, app_id, username, endpoint)
            VALUES ('auth_blocked', left(p_ip, 64), left(p_app_id, 64), left(p_username, 64), v_key);
        END IF;
        IF v_blocked > now() THEN
            o_key := p_keys[v_i];
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

-- Before a password is checked (bcrypt: the costly part), in one statement: lock every key's counter
-- (in key order, so two attempts never deadlock), refuse when any key is blocked or at its limit, and
-- otherwise count this attempt against all of them. N parallel attempts check at most `limit` passwords.
-- Answers 0 (go ahead) or the seconds to wait. A successful sign-in gives its attempt back (release).
CREATE OR REPLACE FUNCTION mospay.reserve_auth_attempt(p_keys text[], p_limits integer[], p_window_s integer)
RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    v_window interval := make_interval(secs => p_window_s);
    v_wait integer := 0;
    r record;
BEGIN
    INSERT INTO auth_throttle (key, window_start, failures)
    SELECT DISTINCT left(k, 200), now(), 0 FROM unnest(p_keys) AS k ORDER BY 1
    ON CONFLICT (key) DO NOTHING;
    FOR r IN SELECT a.window_start, a.failures, a.blocked_until, l.lim
               FROM auth_throttle a JOIN unnest(p_keys, p_limits) AS l(k, lim) ON a.key = left(l.k, 200)
              ORDER BY a.key
                FOR UPDATE OF a
    LOOP
        IF r.blocked_until > now() THEN
            v_wait := greatest(v_wait, ceil(extract(epoch FROM r.blocked_until - now()))::integer);
        ELSIF r.window_start > now() - v_window AND r.failures >= r.lim THEN
            v_wait := greatest(v_wait, ceil(extract(epoch FROM r.window_start + v_window - now()))::integer);
        END IF;
    END LOOP;
    IF v_wait > 0 THEN
        RETURN greatest(v_wait, 1);
    END IF;
    UPDATE auth_throttle a
       SET failures = CASE WHEN a.window_start <= now() - v_window THEN 1 ELSE a.failures + 1 END,
           window_start = CASE WHEN a.window_start <= now() - v_window THEN now() ELSE a.window_start END
     WHERE a.key IN (SELECT left(k, 200) FROM unnest(p_keys) AS k);
    RETURN 0;
END $$;
