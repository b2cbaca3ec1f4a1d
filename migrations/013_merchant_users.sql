-- The merchant portal's users, sessions, one-time links, recovery codes and settings,
-- and the audit trail's client column (merchant users' changes).

-- A client's staff. Email is unique across every client (case-insensitively): sign-in is by email alone,
-- so one address names one account. password_hash is NULL until the invite is accepted. The TOTP secret
-- is never stored: it is derived from SECRET_KEY and totp_nonce (mospay/merchant_mfa.py), so a database
-- dump alone cannot produce codes. totp_last_step refuses a code's reuse.
CREATE TABLE merchant_users (
    id                 bigserial PRIMARY KEY,
    client_id          bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    email              text NOT NULL CHECK (email ~ '^[^@\s]{1,64}@[^@\s]{1,189}$'),
    role               text NOT NULL CHECK (role IN ('owner', 'developer', 'finance', 'viewer')),
    password_hash      text,
    active             boolean NOT NULL DEFAULT true,
    totp_nonce         text,
    totp_pending_nonce text,
    totp_last_step     bigint NOT NULL DEFAULT 0,
    created_by         text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    last_login_at      timestamptz
);
CREATE UNIQUE INDEX merchant_users_email_idx ON merchant_users (lower(email));
CREATE INDEX merchant_users_client_idx ON merchant_users (client_id, id);

-- Portal sessions, as admin_sessions: the cookie carries a signed random id, only its sha256 is kept.
-- mfa_pending: the password was right and the TOTP step is still to come (such a session opens nothing).
CREATE TABLE merchant_sessions (
    id_hash       text PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES merchant_users (id) ON DELETE CASCADE,
    client_id     bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    csrf_token    text NOT NULL,
    mfa_pending   boolean NOT NULL DEFAULT false,
    ip            text,
    user_agent    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX merchant_sessions_user_idx ON merchant_sessions (user_id);

-- One-time links (invites: 72 hours; password resets: 1 hour). Only an HMAC of the token is kept.
CREATE TABLE merchant_tokens (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES merchant_users (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('invite', 'reset')),
    token_hash  text NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX merchant_tokens_user_idx ON merchant_tokens (user_id);

-- Ten single-use TOTP recovery codes per user, kept as HMACs.
CREATE TABLE merchant_recovery_codes (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES merchant_users (id) ON DELETE CASCADE,
    code_hash  text NOT NULL UNIQUE,
    used_at    timestamptz
);
CREATE INDEX merchant_recovery_codes_user_idx ON merchant_recovery_codes (user_id);

-- A client's portal settings: for now, whether its owners require TOTP of the whole team.
CREATE TABLE merchant_settings (
    client_id     bigint PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
    require_totp  boolean NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Merchant users' changes share the operators' audit trail: username `merchant:<email>` and the client.
ALTER TABLE audit_log ADD COLUMN client_app_id text;
