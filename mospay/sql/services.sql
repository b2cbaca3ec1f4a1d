-- Services, their field definitions, and which client may use which service and routes.

-- name: insert_service
INSERT INTO services (name, display_name, service_url, currency, connect_timeout_s, timeout_s)
VALUES (:name, :display_name, :service_url, :currency, :connect_timeout_s, :timeout_s)
RETURNING id, name, display_name, service_url, currency, connect_timeout_s, timeout_s, active, created_at

-- name: insert_service_field
INSERT INTO service_fields (service_id, code, label, field_type, required, max_length, pattern, secret)
VALUES (:service_id, :code, :label, :field_type, :required, :max_length, :pattern, :secret)

-- name: service_by_name
SELECT id, name, display_name, service_url, currency, connect_timeout_s, timeout_s, active, created_at,
       refund_window_days
  FROM services WHERE name = :name

-- name: service_point_at
-- The demo's service, again at this run's simulator, on, with the demo's deadline.
UPDATE services SET service_url = :url, active = true, connect_timeout_s = :connect, timeout_s = :read,
       updated_at = now()
 WHERE name = :name

-- name: services_all
SELECT s.id, s.name, s.display_name, s.service_url, s.currency, s.timeout_s, s.connect_timeout_s, s.active,
       s.created_at, (SELECT count(*) FROM client_services cs WHERE cs.service_id = s.id) AS clients,
       s.refund_window_days
  FROM services s ORDER BY s.name

-- name: service_update
UPDATE services SET display_name = :display_name, service_url = :service_url, timeout_s = :timeout_s,
                    active = :active, refund_window_days = :refund_window_days, updated_at = now()
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

-- name: upsert_assignment
INSERT INTO client_services (client_id, service_id, routes)
VALUES (:client_id, :service_id, CAST(:routes AS text[]))
ON CONFLICT (client_id, service_id)
DO UPDATE SET routes = ARRAY(SELECT DISTINCT unnest(client_services.routes || EXCLUDED.routes) ORDER BY 1),
              active = true
RETURNING id, routes, active

-- name: client_assignments
SELECT s.name AS service, s.display_name, cs.routes, cs.active, cs.created_at
  FROM client_services cs JOIN services s ON s.id = cs.service_id
 WHERE cs.client_id = :client_id ORDER BY s.name

-- name: assignment_delete
DELETE FROM client_services cs USING clients c, services s
 WHERE cs.client_id = c.id AND cs.service_id = s.id AND c.app_id = :app_id AND s.name = :service
RETURNING cs.routes

-- name: assignment_remove_route
UPDATE client_services cs SET routes = array_remove(cs.routes, CAST(:route AS text))
  FROM clients c, services s
 WHERE cs.client_id = c.id AND cs.service_id = s.id AND c.app_id = :app_id AND s.name = :service
   AND CAST(:route AS text) = ANY (cs.routes)
RETURNING cs.id, cs.routes

-- name: services_after
-- The admin API's service list, in keyset pages (newest first).
SELECT s.id, s.name, s.display_name, s.service_url, s.currency, s.timeout_s, s.connect_timeout_s, s.active,
       s.created_at, (SELECT count(*) FROM client_services cs WHERE cs.service_id = s.id) AS clients,
       s.refund_window_days
  FROM services s
 WHERE CAST(:after_at AS timestamptz) IS NULL
       OR (s.created_at, s.id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS bigint))
 ORDER BY s.created_at DESC, s.id DESC
 LIMIT :limit
