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

-- Every generation of a client's API secret (generation = clients.credential_version when it was
-- current). The current one lives in clients.api_secret_hash (so a process of the previous release keeps
-- authenticating during a rolling upgrade); its row here has no hash and no expiry. A roll
-- (mospay.roll_client_secret) moves the old hash here with the expiry the user chose (0-7 days): until
-- then the old secret, and tokens issued with it (their `cv` claim), keep working. Last use is kept per
-- generation, written at most once a minute (insert_api_log, mospay.finish_payment).
CREATE TABLE client_secrets (
    client_id     bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    generation    integer NOT NULL,
    secret_hash   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    last_used_at  timestamptz,
    last_used_ip  text,
    PRIMARY KEY (client_id, generation),
    CONSTRAINT client_secrets_retired_check CHECK ((secret_hash IS NULL) = (expires_at IS NULL))
);

-- A new client's first generation gets its row here, whatever path inserted the client.
CREATE OR REPLACE FUNCTION mospay.client_secret_row() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO client_secrets (client_id, generation) VALUES (NEW.id, NEW.credential_version);
    RETURN NULL;
END $$;
CREATE TRIGGER clients_secret_row AFTER INSERT ON clients
    FOR EACH ROW EXECUTE FUNCTION mospay.client_secret_row();

-- Roll a client's API secret: the new hash becomes current (generation + 1); the old one stays valid for
-- p_overlap_s seconds (0: refused at once). Every older generation still in its overlap is cut to the
-- same deadline at most, so a roll with 0 revokes every old secret and token (the emergency rotation).
-- One row lock on the client: two rolls at once make two generations, never a lost one.
CREATE OR REPLACE FUNCTION mospay.roll_client_secret(p_app_id text, p_secret_hash text, p_overlap_s integer)
RETURNS TABLE (o_app_id text, o_api_username text, o_generation integer, o_previous_generation integer,
               o_previous_expires_at timestamptz)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    r record;
    v_expires timestamptz;
BEGIN
    IF p_overlap_s IS NULL OR p_overlap_s < 0 OR p_overlap_s > 7 * 86400 THEN
        RAISE EXCEPTION 'overlap must be 0 to 604800 seconds' USING ERRCODE = '22023';
    END IF;
    SELECT c.id, c.app_id, c.api_username, c.api_secret_hash, c.credential_version
      INTO r FROM clients c WHERE c.app_id = p_app_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    v_expires := now() + make_interval(secs => p_overlap_s);
    UPDATE client_secrets SET expires_at = v_expires
     WHERE client_id = r.id AND expires_at > v_expires;
    INSERT INTO client_secrets (client_id, generation, secret_hash, expires_at)
    VALUES (r.id, r.credential_version, r.api_secret_hash, v_expires)
    ON CONFLICT (client_id, generation)
        DO UPDATE SET secret_hash = EXCLUDED.secret_hash, expires_at = EXCLUDED.expires_at;
    UPDATE clients SET api_secret_hash = p_secret_hash, credential_version = credential_version + 1,
                       updated_at = now()
     WHERE id = r.id;
    INSERT INTO client_secrets (client_id, generation) VALUES (r.id, r.credential_version + 1)
    ON CONFLICT (client_id, generation) DO NOTHING;
    -- History of last use is kept for 30 days after a generation stopped working.
    DELETE FROM client_secrets WHERE client_id = r.id AND expires_at < now() - interval '30 days';
    RETURN QUERY SELECT r.app_id, r.api_username, r.credential_version + 1, r.credential_version, v_expires;
END $$;
