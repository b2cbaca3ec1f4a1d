-- Provider credentials sealed by MosPay itself (AES-256-GCM, mospay/sealed.py), so every PostgreSQL can
-- store them, the embedded one (no pgcrypto) included. Values saved before stay pgcrypto ciphertext in
-- value_enc and keep working where pgcrypto is; saving one again seals it. Runs in one transaction.
ALTER TABLE provider_credentials ALTER COLUMN value_enc DROP NOT NULL;
ALTER TABLE provider_credentials ADD COLUMN value_sealed bytea;
ALTER TABLE provider_credentials ADD CONSTRAINT provider_credentials_one_value
    CHECK (num_nonnulls(value_enc, value_sealed) = 1);
