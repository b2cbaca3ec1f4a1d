-- The per-client request/RESPONSE functions: catalogue, source, versions, the editor's dry run.

-- name: function_list
SELECT c.app_id, c.company_name, s.name AS service, r.route
  FROM client_services cs
  JOIN clients c ON c.id = cs.client_id
  JOIN services s ON s.id = cs.service_id
  CROSS JOIN LATERAL unnest(cs.routes) AS r(route)
 ORDER BY c.app_id, s.name, r.route

-- name: function_definition
SELECT p.oid::bigint AS oid, pg_get_functiondef(p.oid) AS source,
       pg_get_function_identity_arguments(p.oid) AS arguments
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'mospay_fn' AND p.proname = :name

-- name: function_fingerprints
-- Everything in mospay_fn, to check that a save changed exactly one function and nothing else.
SELECT p.oid::bigint AS oid, p.proname AS name, pg_get_function_identity_arguments(p.oid) AS arguments,
       md5(pg_get_functiondef(p.oid)) AS digest, p.prorettype::regtype::text AS returns
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'mospay_fn' ORDER BY p.oid

-- name: function_version_insert
INSERT INTO function_versions (name, source, created_by) VALUES (:name, :source, :created_by) RETURNING id

-- name: function_versions
SELECT id, name, created_by, created_at, length(source) AS size
  FROM function_versions WHERE name = :name ORDER BY id DESC LIMIT 50

-- name: function_version
SELECT id, name, source, created_by, created_at FROM function_versions WHERE name = :name AND id = :id

-- name: dry_run_timeout
-- A dry run must not hang a pooled connection on an endless loop in someone's function.
SET LOCAL statement_timeout = '5s'

-- name: dry_run_request
SELECT mospay.call_request_function(:name, :uid, CAST(:data AS jsonb)) AS result

-- name: dry_run_response
SELECT mospay.call_response_function(:name, :uid, CAST(:data AS jsonb), :code, CAST(:output AS jsonb)) AS result

-- name: function_schema_open
-- Lets mospay_function create in mospay_fn until functions_seal, in this transaction (see install()).
SELECT mospay.open_function_schema()

-- name: function_role_enter
-- The statements that define a client function run as the role it will run as.
SET LOCAL ROLE mospay_function

-- name: function_role_leave
RESET ROLE

-- name: functions_seal
SELECT mospay.seal_functions(CAST(:names AS text[])) AS sealed

-- name: functions_confine
-- After a restore (no owners, no privileges in it): the role, its grant, and every function handed to it.
SELECT mospay.ensure_function_role(), mospay.seal_functions() AS sealed

-- name: database_role
-- MosPay's own role: a superuser (or CREATEROLE) one is warned about at start and by `config`.
SELECT current_user AS name, r.rolsuper AS superuser, r.rolcreaterole AS createrole
  FROM pg_roles r WHERE r.rolname = current_user
