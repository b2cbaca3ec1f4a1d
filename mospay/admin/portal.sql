-- Named queries of the admin portal (sessions, lists, edits, audit). Values are always parameters.

-- name: session_insert
INSERT INTO admin_sessions (id_hash, user_id, csrf_token, ip, user_agent)
VALUES (:id_hash, :user_id, :csrf_token, :ip, :user_agent)

-- name: session_touch
-- One round trip per page: refresh last_seen and load the user, unless idle or absolute expiry passed.
UPDATE admin_sessions s SET last_seen_at = now()
  FROM users u
 WHERE s.id_hash = :id_hash AND u.id = s.user_id AND u.active
   AND s.last_seen_at > now() - make_interval(secs => :idle_s)
   AND s.created_at > now() - make_interval(secs => :absolute_s)
RETURNING s.csrf_token, s.created_at AS session_created_at, u.id, u.username, u.role,
          u.must_change_password, u.password_hash

-- name: session_check
-- The same checks without refreshing last_seen: a page polling by itself is not activity.
SELECT s.csrf_token, s.created_at AS session_created_at, u.id, u.username, u.role,
       u.must_change_password, u.password_hash
  FROM admin_sessions s JOIN users u ON u.id = s.user_id
 WHERE s.id_hash = :id_hash AND u.active
   AND s.last_seen_at > now() - make_interval(secs => :idle_s)
   AND s.created_at > now() - make_interval(secs => :absolute_s)

-- name: session_delete
DELETE FROM admin_sessions WHERE id_hash = :id_hash

-- name: sessions_delete_user
DELETE FROM admin_sessions WHERE user_id = :user_id AND id_hash <> coalesce(CAST(:keep AS text), '')

-- name: sessions_purge
DELETE FROM admin_sessions
 WHERE last_seen_at < now() - make_interval(secs => :idle_s) OR created_at < now() - make_interval(secs => :absolute_s)

-- name: login_failure_counts
SELECT (SELECT count(*) FROM login_failures
         WHERE username = :username AND created_at > now() - make_interval(secs => :window_s)) AS by_user,
       (SELECT count(*) FROM login_failures
         WHERE ip = :ip AND created_at > now() - make_interval(secs => :window_s)) AS by_ip

-- name: login_failure_insert
INSERT INTO login_failures (username, ip) VALUES (:username, :ip)

-- name: login_failures_clear
DELETE FROM login_failures WHERE username = :username OR created_at < now() - interval '1 day'

-- name: audit_insert
INSERT INTO audit_log (user_id, username, action, target_type, target_id, before, after, ip)
VALUES (:user_id, :username, :action, :target_type, :target_id, CAST(:before AS jsonb),
        CAST(:after AS jsonb), :ip)

-- name: audit_page
SELECT id, username, action, target_type, target_id, before, after, ip, created_at
  FROM audit_log
 WHERE (CAST(:q AS text) IS NULL OR action ILIKE '%' || CAST(:q AS text) || '%'
        OR username = CAST(:q AS text) OR target_id = CAST(:q AS text))
   AND (CAST(:before_at AS timestamptz) IS NULL
        OR (created_at, id) < (CAST(:before_at AS timestamptz), CAST(:before_id AS bigint)))
 ORDER BY created_at DESC, id DESC
 LIMIT :limit

-- name: clients_page
SELECT c.id, c.app_id, c.company_name, c.contact_email, c.active, c.created_at,
       (SELECT count(*) FROM client_services cs WHERE cs.client_id = c.id) AS services
  FROM clients c
 WHERE CAST(:q AS text) IS NULL OR c.app_id ILIKE '%' || CAST(:q AS text) || '%'
       OR c.company_name ILIKE '%' || CAST(:q AS text) || '%'
       OR c.contact_email ILIKE '%' || CAST(:q AS text) || '%'
 ORDER BY c.company_name, c.id
 LIMIT :limit OFFSET :offset

-- name: client_detail
SELECT id, app_id, company_name, contact_email, callback_url, api_username, credential_version, active,
       created_at, updated_at
  FROM clients WHERE app_id = :app_id

-- name: client_update
UPDATE clients SET company_name = :company_name, contact_email = :contact_email,
                   callback_url = :callback_url, active = :active, updated_at = now()
 WHERE app_id = :app_id
RETURNING app_id

-- name: client_set_active
UPDATE clients SET active = :active, updated_at = now() WHERE app_id = :app_id RETURNING app_id

-- name: client_assignments
SELECT s.name AS service, s.display_name, cs.routes, cs.active, cs.created_at
  FROM client_services cs JOIN services s ON s.id = cs.service_id
 WHERE cs.client_id = :client_id ORDER BY s.name

-- name: assignment_delete
DELETE FROM client_services cs USING clients c, services s
 WHERE cs.client_id = c.id AND cs.service_id = s.id AND c.app_id = :app_id AND s.name = :service
RETURNING cs.routes

-- name: client_stats
SELECT count(*) AS total, count(*) FILTER (WHERE status = 'SUCCESSFUL') AS successful,
       count(*) FILTER (WHERE status IN ('SUCCESSFUL', 'FAILED')) AS settled
  FROM transactions WHERE client_id = :client_id

-- name: services_all
SELECT s.id, s.name, s.display_name, s.service_url, s.currency, s.timeout_s, s.connect_timeout_s, s.active,
       s.created_at, (SELECT count(*) FROM client_services cs WHERE cs.service_id = s.id) AS clients
  FROM services s ORDER BY s.name

-- name: service_update
UPDATE services SET display_name = :display_name, service_url = :service_url, timeout_s = :timeout_s,
                    active = :active, updated_at = now()
 WHERE name = :name
RETURNING name

-- name: service_fields
SELECT f.id, f.code, f.label, f.field_type, f.required, f.max_length, f.pattern, f.secret
  FROM service_fields f JOIN services s ON s.id = f.service_id
 WHERE s.name = :service ORDER BY f.code

-- name: field_upsert
INSERT INTO service_fields (service_id, code, label, field_type, required, max_length, pattern, secret)
SELECT s.id, :code, :label, :field_type, :required, :max_length, :pattern, :secret
  FROM services s WHERE s.name = :service
ON CONFLICT (service_id, code) DO UPDATE
   SET label = EXCLUDED.label, field_type = EXCLUDED.field_type, required = EXCLUDED.required,
       max_length = EXCLUDED.max_length, pattern = EXCLUDED.pattern, secret = EXCLUDED.secret
RETURNING id

-- name: field_delete
DELETE FROM service_fields f USING services s
 WHERE f.service_id = s.id AND s.name = :service AND f.code = :code
RETURNING f.code, f.label, f.field_type, f.required, f.max_length, f.pattern, f.secret

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

-- name: users_all
SELECT id, username, role, active, must_change_password, created_at, updated_at FROM users ORDER BY username

-- name: user_by_id
SELECT id, username, role, active, must_change_password, password_hash FROM users WHERE id = :id

-- name: user_set_active
UPDATE users SET active = :active, updated_at = now() WHERE id = :id RETURNING id

-- name: user_reset_password
UPDATE users SET password_hash = :password_hash, must_change_password = true,
                 credential_version = credential_version + 1, updated_at = now()
 WHERE id = :id RETURNING id

-- name: dry_run_timeout
-- A dry run must not hang a pooled connection on an endless loop in someone's function.
SET LOCAL statement_timeout = '5s'

-- name: dry_run_request
SELECT mospay.call_request_function(:name, :uid, CAST(:data AS jsonb)) AS result

-- name: dry_run_response
SELECT mospay.call_response_function(:name, :uid, CAST(:data AS jsonb), :code, CAST(:output AS jsonb)) AS result

-- name: assignment_remove_route
UPDATE client_services cs SET routes = array_remove(cs.routes, CAST(:route AS text))
  FROM clients c, services s
 WHERE cs.client_id = c.id AND cs.service_id = s.id AND c.app_id = :app_id AND s.name = :service
   AND CAST(:route AS text) = ANY (cs.routes)
RETURNING cs.id, cs.routes
