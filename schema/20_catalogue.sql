-- The catalogue: provider services, the fields each one takes, and which client may use which
-- service on which routes.

CREATE TABLE services (
    id                bigserial PRIMARY KEY,
    name              text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9]{1,24}$'),
    display_name      text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    service_url       text NOT NULL CHECK (service_url ~ '^https?://[^\s]+$' AND length(service_url) <= 500),
    currency          text NOT NULL DEFAULT 'RWF' CHECK (currency ~ '^[A-Z]{3}$'),
    connect_timeout_s numeric(6, 2) NOT NULL DEFAULT 5 CHECK (connect_timeout_s > 0 AND connect_timeout_s <= 60),
    timeout_s         numeric(6, 2) NOT NULL DEFAULT 30 CHECK (timeout_s > 0 AND timeout_s <= 300),
    active            boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- Seconds after creation at which the reconciler asks the provider: MTN MoMo lets a payer approve
    -- for up to 5 minutes, so the early checks are hints and the later ones settle; then hourly for a day.
    reconcile_schedule_s integer[] NOT NULL DEFAULT
        '{30,120,300,900,3600,7200,10800,14400,18000,21600,25200,28800,32400,36000,39600,43200,46800,50400,54000,57600,61200,64800,68400,72000,75600,79200,82800,86400}'
        CHECK (cardinality(reconcile_schedule_s) BETWEEN 1 AND 100),
    -- Bumped by every change to a service's fields, in whatever process makes it: start_payment compares
    -- it (inside the context stamp) with the version a process validated against.
    fields_version    bigint NOT NULL DEFAULT 1,
    -- How long after a payment it may be refunded (mospay.start_refund); 0 switches refunds off.
    refund_window_days integer NOT NULL DEFAULT 180 CHECK (refund_window_days BETWEEN 0 AND 3650)
);

CREATE TABLE service_fields (
    id          bigserial PRIMARY KEY,
    service_id  bigint NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    code        text NOT NULL CHECK (code ~ '^f[0-9]{3}$'),
    label       text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    field_type  text NOT NULL DEFAULT 'string' CHECK (field_type IN ('string', 'amount', 'msisdn', 'integer')),
    required    boolean NOT NULL DEFAULT true,
    max_length  integer CHECK (max_length BETWEEN 1 AND 4096),
    pattern     text CHECK (length(pattern) <= 500),
    secret      boolean NOT NULL DEFAULT false,  -- masked before anything is stored or logged
    UNIQUE (service_id, code)
);
-- Any change to a service's fields bumps services.fields_version (the gateway's cached definitions).
CREATE OR REPLACE FUNCTION mospay.bump_fields_version() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    UPDATE services SET fields_version = fields_version + 1
     WHERE id IN (SELECT DISTINCT service_id FROM changed_fields);
    RETURN NULL;
END $$;
CREATE TRIGGER service_fields_bump_version_ins AFTER INSERT ON service_fields
    REFERENCING NEW TABLE AS changed_fields
    FOR EACH STATEMENT EXECUTE FUNCTION mospay.bump_fields_version();
CREATE TRIGGER service_fields_bump_version_upd AFTER UPDATE ON service_fields
    REFERENCING NEW TABLE AS changed_fields
    FOR EACH STATEMENT EXECUTE FUNCTION mospay.bump_fields_version();
CREATE TRIGGER service_fields_bump_version_del AFTER DELETE ON service_fields
    REFERENCING OLD TABLE AS changed_fields
    FOR EACH STATEMENT EXECUTE FUNCTION mospay.bump_fields_version();

CREATE TABLE client_services (
    id          bigserial PRIMARY KEY,
    client_id   bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    service_id  bigint NOT NULL REFERENCES services (id) ON DELETE RESTRICT,
    routes      text[] NOT NULL DEFAULT '{}',
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, service_id)
);
