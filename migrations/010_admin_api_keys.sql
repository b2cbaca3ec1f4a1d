-- Schema version 10: API keys for automation (service accounts) on the admin API.

-- API keys for automation (service accounts): an admin-API credential with a role, never a portal
-- login. The key is `mpk_<id>_<secret>`; only an HMAC-SHA256 of the secret under the server key is kept.
-- Names stay unique after revocation so an audit row's "key:<name>" always names one key.
CREATE TABLE admin_api_keys (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    role          text NOT NULL CHECK (role IN ('super_admin', 'admin', 'viewer')),
    secret_hash   text NOT NULL,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    last_used_ip  text
);
