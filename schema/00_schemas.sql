-- MosPay's schema as a fresh install creates it: the files of this folder run in name order, in one
-- transaction, on an empty database (mospay/migrate.py). They always describe the latest version; an
-- existing database reaches the same shape through migrations/NNN_name.sql instead.

CREATE SCHEMA mospay;     -- the gateway's own functions
CREATE SCHEMA mospay_fn;  -- per-client request / RESPONSE / Status functions (generated)

-- The role every per-client function runs as: MosPay makes each function in mospay_fn owned by it and
-- SECURITY DEFINER (mospay.seal_functions), so a body an operator wrote reaches only its arguments and the
-- public columns of services, never the tables, programs or roles MosPay's own role may reach. Roles
-- belong to the cluster, not the database: every MosPay database of a cluster shares this one, and a DBA
-- may create it beforehand (docs/database-roles.md). MosPay's role must be a member, to hand functions to it.
DO $role$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'mospay_function') THEN
        BEGIN
            CREATE ROLE mospay_function NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION
                NOBYPASSRLS;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- another database of this cluster created it meanwhile
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'mospay_function'
                  AND (rolsuper OR rolcreaterole OR rolcreatedb OR rolcanlogin OR rolreplication OR rolbypassrls))
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members WHERE member = 'mospay_function'::regrole) THEN
        RAISE EXCEPTION 'the role mospay_function must be NOLOGIN, without SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS, and a member of no other role';
    END IF;
    IF NOT pg_catalog.pg_has_role(current_user, 'mospay_function', 'USAGE') THEN
        EXECUTE format('GRANT mospay_function TO %I', current_user);
    END IF;
END $role$;
-- PostgreSQL 15 no longer lets every role create objects in public; a cluster upgraded from an older
-- release still does, and a function could then keep what it sees (f007) in a table of its own.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- Which versions this database has: 1 is v0.1.0's schema, each later number one migrations/ file.
CREATE TABLE schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
