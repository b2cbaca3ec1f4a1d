-- The admin portal: server-side sessions, failed logins, the audit trail and earlier versions of
-- the per-client functions.

-- Server-side sessions: the cookie carries a random id (signed); only its sha256 is stored, so a
-- database dump cannot be replayed as a login, and logout / expiry are real.
CREATE TABLE admin_sessions (
    id_hash       text PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token    text NOT NULL,
    ip            text,
    user_agent    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_sessions_user_idx ON admin_sessions (user_id);

-- Failed portal logins, counted per account and per IP over a sliding window.
CREATE TABLE login_failures (
    id          bigserial PRIMARY KEY,
    username    text NOT NULL,
    ip          text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_user_idx ON login_failures (username, created_at);
CREATE INDEX login_failures_ip_idx ON login_failures (ip, created_at);

-- Every admin change: who, when, what, before/after (secrets masked before they get here).
CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    user_id      bigint REFERENCES users (id) ON DELETE SET NULL,
    username     text NOT NULL,
    action       text NOT NULL,
    target_type  text NOT NULL,
    target_id    text,
    before       jsonb,
    after        jsonb,
    ip           text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_created_idx ON audit_log (created_at DESC, id DESC);

-- Every earlier source of a per-client function, kept before each save or restore.
CREATE TABLE function_versions (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    source      text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX function_versions_name_idx ON function_versions (name, id DESC);
