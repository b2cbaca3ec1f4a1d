-- Accounts: the admin users of the portal and the API, and the merchant clients.

CREATE TABLE users (
    id                   bigserial PRIMARY KEY,
    username             text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    password_hash        text NOT NULL,
    role                 text NOT NULL DEFAULT 'admin' CHECK (role IN ('super_admin', 'admin', 'viewer')),
    active               boolean NOT NULL DEFAULT true,
    must_change_password boolean NOT NULL DEFAULT false,
    credential_version   integer NOT NULL DEFAULT 1,  -- carried in admin tokens: a password change revokes them
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE clients (
    id                 bigserial PRIMARY KEY,
    -- Alphanumeric only: '_' separates the parts of the generated function names.
    app_id             text NOT NULL UNIQUE CHECK (app_id ~ '^[A-Za-z0-9]{3,24}$'),
    company_name       text NOT NULL CHECK (length(company_name) BETWEEN 1 AND 200),
    contact_email      text CHECK (length(contact_email) <= 254),
    callback_url       text CHECK (callback_url ~ '^https?://'),
    api_username       text NOT NULL UNIQUE,
    api_secret_hash    text NOT NULL,           -- HMAC-SHA256 of the secret under the server key
    credential_version integer NOT NULL DEFAULT 1,  -- carried in tokens: rotation revokes them
    active             boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- Per-client webhook signing secret: derived from SECRET_KEY and a version, so no secret is stored.
    -- Rotation keeps the previous version valid until webhook_previous_expires_at (events carry both).
    webhook_secret_version      integer NOT NULL DEFAULT 1,
    webhook_previous_version    integer,
    webhook_previous_expires_at timestamptz,
    -- Per-client limits. NULL means: the server default (MOSPAY_RATE_LIMIT_PER_MINUTE) or no amount limit.
    rate_limit_per_minute       integer CHECK (rate_limit_per_minute BETWEEN 0 AND 10000000),
    max_amount_per_transaction  numeric(18, 2) CHECK (max_amount_per_transaction > 0),
    max_amount_per_day          numeric(18, 2) CHECK (max_amount_per_day > 0)
);

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
