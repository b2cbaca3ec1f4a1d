-- MosPay's schema as a fresh install creates it: the files of this folder run in name order, in one
-- transaction, on an empty database (mospay/migrate.py). They always describe the latest version; an
-- existing database reaches the same shape through migrations/NNN_name.sql instead.

CREATE SCHEMA mospay;     -- the gateway's own functions
CREATE SCHEMA mospay_fn;  -- per-client request / RESPONSE / Status functions (generated)

-- Which versions this database has: 1 is v0.1.0's schema, each later number one migrations/ file.
CREATE TABLE schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
