-- Provider credentials (API keys, subscription keys): per service, optionally per client. Functions name
-- them ({{credential:name}} in the plan they return); MosPay fills the value in, in Python, just before the
-- provider call (mospay/credentials.py). The value is stored only sealed by MosPay (AES-256-GCM, bound to
-- its service, client and name; mospay/sealed.py) under a key the database never keeps
-- (MOSPAY_CREDENTIALS_KEY, or one derived from SECRET_KEY): a dump holds ciphertext, the name, the last
-- four characters and the dates. Until migration 018 values were pgcrypto ciphertext (value_enc); those
-- still open where pgcrypto is, and saving one again seals it.

-- pgcrypto ships in PostgreSQL's contrib package (trusted: a database owner may create it): kept for the
-- values saved before 018. The embedded pgserver build has none, so there the extension is skipped.
-- IF NOT EXISTS: an operator may have created it already, for this database's other users.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pgcrypto') THEN
        CREATE EXTENSION IF NOT EXISTS pgcrypto;
    END IF;
END $$;

CREATE TABLE provider_credentials (
    id          bigserial PRIMARY KEY,
    service_id  bigint NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    client_id   bigint REFERENCES clients (id) ON DELETE CASCADE,  -- NULL: every client of the service
    name        text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,63}$'),
    value_enc   bytea,                                              -- before 018: pgp_sym_encrypt(value, key)
    last4       text NOT NULL CHECK (length(last4) <= 4),           -- what the portal shows
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text,
    value_sealed bytea,                                             -- sealed.seal(key, value, its place)
    -- One value per (service, client or none, name): a client's own value overrides the service's.
    CONSTRAINT provider_credentials_unique UNIQUE NULLS NOT DISTINCT (service_id, client_id, name),
    CONSTRAINT provider_credentials_one_value CHECK (num_nonnulls(value_enc, value_sealed) = 1)
);
CREATE INDEX provider_credentials_client_idx ON provider_credentials (client_id) WHERE client_id IS NOT NULL;
