-- Per-client functions run as the role mospay_function, which holds no privilege on MosPay's tables:
-- the role, the view of the functions MosPay will call, the calls that refuse any other, and every
-- existing function in mospay_fn handed to that role (owner, SECURITY DEFINER, fixed search_path).

-- The role every per-client function runs as: MosPay makes each function in mospay_fn owned by it and
-- SECURITY DEFINER (mospay.seal_functions), so a body an operator wrote reaches only its arguments and the
-- public columns of services, never the tables, programs or roles MosPay's own role may reach. Roles
-- belong to the cluster, not the database: every MosPay database of a cluster shares this one, and a DBA
-- may create it beforehand (docs/database-roles.md). MosPay's role must be a member, to hand functions to
-- it. Run by the schema, the migration and after a restore (pg_restore --no-owner --no-privileges).
CREATE OR REPLACE FUNCTION mospay.ensure_function_role() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mospay_function') THEN
        BEGIN
            CREATE ROLE mospay_function NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION
                NOBYPASSRLS;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- another database of this cluster created it meanwhile
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mospay_function'
                  AND (rolsuper OR rolcreaterole OR rolcreatedb OR rolcanlogin OR rolreplication OR rolbypassrls))
       OR EXISTS (SELECT 1 FROM pg_auth_members WHERE member = 'mospay_function'::regrole) THEN
        RAISE EXCEPTION 'the role mospay_function must be NOLOGIN, without SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS, and a member of no other role';
    END IF;
    IF NOT pg_has_role(current_user, 'mospay_function', 'USAGE') THEN
        EXECUTE format('GRANT mospay_function TO %I', current_user);
    END IF;
    -- The one thing of MosPay's such a function may read besides its arguments: where and in which
    -- currency its service is called (the generated request and Status functions look these up).
    GRANT SELECT (name, service_url, currency) ON public.services TO mospay_function;
    -- PostgreSQL 15 no longer lets every role create objects in public; a cluster upgraded from an older
    -- release still does, and a function could then keep what it sees (f007) in a table of its own.
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
END $$;

SELECT mospay.ensure_function_role();

-- The per-client functions MosPay will call: owned by mospay_function, SECURITY DEFINER (so they run as
-- that role, and PostgreSQL refuses SET ROLE / RESET ROLE inside them), in a trusted language, with no
-- settings but a fixed search_path. mospay.seal_functions makes every function in mospay_fn so; the calls
-- below refuse any other, so a function changed behind MosPay's back (owner, SECURITY INVOKER, a SET
-- clause) does not run. One index probe of pg_proc per call.
CREATE OR REPLACE VIEW mospay.confined_functions AS
SELECT p.oid, p.proname AS name, p.proargtypes AS args
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace = 'mospay_fn'::regnamespace::oid
   AND p.proowner = pg_catalog.to_regrole('mospay_function')::oid  -- a view may not hold a role constant
   AND p.prosecdef AND l.lanpltrusted
   AND p.proconfig = '{"search_path=pg_catalog, public, pg_temp"}'::text[];

-- Before MosPay creates or replaces functions in mospay_fn (as mospay_function: SET LOCAL ROLE), that role
-- may create there until mospay.seal_functions, in the same transaction, takes it back. The lock keeps
-- two such transactions from granting on the schema at once (PostgreSQL would fail the second).
CREATE OR REPLACE FUNCTION mospay.open_function_schema() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7271005);
    GRANT USAGE, CREATE ON SCHEMA mospay_fn TO mospay_function;
END $$;

-- Hands the functions of mospay_fn named in p_names (all of them when NULL) that are not yet confined to
-- mospay_function: owner, SECURITY DEFINER, their own SET clauses dropped for the fixed search_path. A
-- function in an untrusted language (C, plpython3u: code outside the database's rules) is refused, never
-- handed over. Returns how many changed.
CREATE OR REPLACE FUNCTION mospay.seal_functions(p_names text[] DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    f record;
    v_count integer := 0;
BEGIN
    PERFORM mospay.open_function_schema();  -- ALTER ... OWNER TO needs the new owner's CREATE on the schema
    FOR f IN SELECT p.oid::regprocedure AS sig, l.lanpltrusted AS trusted
               FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
              WHERE p.pronamespace = 'mospay_fn'::regnamespace
                AND (p_names IS NULL OR p.proname = ANY (p_names))
                AND p.oid NOT IN (SELECT c.oid FROM mospay.confined_functions c)
              ORDER BY p.oid
    LOOP
        IF NOT f.trusted THEN
            RAISE EXCEPTION '% is in an untrusted language: a client function must be plpgsql or sql', f.sig
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        EXECUTE format('ALTER FUNCTION %s OWNER TO mospay_function', f.sig);
        EXECUTE format('ALTER FUNCTION %s RESET ALL', f.sig);
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp', f.sig);
        v_count := v_count + 1;
    END LOOP;
    REVOKE USAGE, CREATE ON SCHEMA mospay_fn FROM mospay_function;
    RETURN v_count;
END $$;

-- Calls a generated function by name. format('%I') quotes the name, so nothing a client sends
-- can become SQL; the name itself was validated before it got here.
CREATE OR REPLACE FUNCTION mospay.call_request_function(p_name text, p_unique_id text, p_data jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_result jsonb;
BEGIN
    PERFORM 1 FROM mospay.confined_functions c WHERE c.name = p_name AND c.args = '25 3802'::oidvector;
    IF NOT FOUND THEN  -- never by name alone: another overload (defaults, VARIADIC) could answer the call
        IF to_regprocedure(format('%I.%I(text, jsonb)', 'mospay_fn', p_name)) IS NULL THEN
            RAISE EXCEPTION 'function mospay_fn.%(text, jsonb) does not exist', p_name USING ERRCODE = 'undefined_function';
        END IF;
        RAISE EXCEPTION 'mospay_fn.%(text, jsonb) does not run as mospay_function: save it again through MosPay', p_name
            USING ERRCODE = 'MPF01';
    END IF;
    EXECUTE format('SELECT %I.%I($1, $2)', 'mospay_fn', p_name) INTO v_result USING p_unique_id, p_data;
    RETURN v_result;
END $$;

CREATE OR REPLACE FUNCTION mospay.call_response_function(
    p_name text, p_unique_id text, p_data jsonb, p_code integer, p_output jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_result jsonb;
BEGIN
    PERFORM 1 FROM mospay.confined_functions c WHERE c.name = p_name AND c.args = '25 3802 23 3802'::oidvector;
    IF NOT FOUND THEN  -- never by name alone: another overload (defaults, VARIADIC) could answer the call
        IF to_regprocedure(format('%I.%I(text, jsonb, integer, jsonb)', 'mospay_fn', p_name)) IS NULL THEN
            RAISE EXCEPTION 'function mospay_fn.%(text, jsonb, integer, jsonb) does not exist', p_name USING ERRCODE = 'undefined_function';
        END IF;
        RAISE EXCEPTION 'mospay_fn.%(text, jsonb, integer, jsonb) does not run as mospay_function: save it again through MosPay', p_name
            USING ERRCODE = 'MPF01';
    END IF;
    EXECUTE format('SELECT %I.%I($1, $2, $3, $4)', 'mospay_fn', p_name)
        INTO v_result USING p_unique_id, p_data, p_code, p_output;
    RETURN v_result;
END $$;

CREATE OR REPLACE FUNCTION mospay.call_status_function(
    p_name text, p_unique_id text, p_data jsonb, p_code integer, p_output jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_result jsonb;
BEGIN
    PERFORM 1 FROM mospay.confined_functions c WHERE c.name = p_name AND c.args = '25 3802 23 3802'::oidvector;
    IF NOT FOUND THEN  -- never by name alone: another overload (defaults, VARIADIC) could answer the call
        IF to_regprocedure(format('%I.%I(text, jsonb, integer, jsonb)', 'mospay_fn', p_name)) IS NULL THEN
            RAISE EXCEPTION 'function mospay_fn.%(text, jsonb, integer, jsonb) does not exist', p_name USING ERRCODE = 'undefined_function';
        END IF;
        RAISE EXCEPTION 'mospay_fn.%(text, jsonb, integer, jsonb) does not run as mospay_function: save it again through MosPay', p_name
            USING ERRCODE = 'MPF01';
    END IF;
    EXECUTE format('SELECT %I.%I($1, $2, $3, $4)', 'mospay_fn', p_name)
        INTO v_result USING p_unique_id, p_data, p_code, p_output;
    RETURN v_result;
END $$;

-- The functions this database already has: handed to mospay_function the way every save does it.
SELECT mospay.seal_functions();
