-- The payment path: the client and service context, start and finish, the lookup by f010, the API log row.

-- name: payment_context (prepared)
-- Round trip 1 of 3 on the payment path: the client (for authentication) and the service it asks for.
SELECT c.id AS client_id, c.app_id, c.api_username, c.api_secret_hash, c.credential_version,
       c.active AS client_active, c.rate_limit_per_minute,
       s.id AS service_id, s.active AS service_active, s.connect_timeout_s, s.timeout_s,
       cs.routes, cs.active AS assignment_active,
       (SELECT json_agg(json_build_object('code', f.code, 'label', f.label, 'type', f.field_type,
                                          'required', f.required, 'max_length', f.max_length,
                                          'pattern', f.pattern, 'secret', f.secret) ORDER BY f.code)
          FROM service_fields f WHERE f.service_id = s.id) AS fields
  FROM clients c
  LEFT JOIN services s ON s.name = :service
  LEFT JOIN client_services cs ON cs.client_id = c.id AND cs.service_id = s.id
 WHERE c.app_id = :app_id

-- name: client_by_app_id (prepared)
SELECT id AS client_id, app_id, api_username, api_secret_hash, credential_version, active AS client_active
  FROM clients WHERE app_id = :app_id

-- name: start_payment (prepared)
SELECT o_id, o_public_id, o_replay, o_status, o_request_hash, o_response_code, o_response_body, o_plan
  FROM mospay.start_payment(:client_id, :service_id, :route, :f010, CAST(:amount AS numeric), :msisdn,
                            CAST(:request AS jsonb), :request_hash, :function, CAST(:data AS jsonb))

-- name: finish_payment (prepared)
SELECT o_status, o_response_code, o_response_body
  FROM mospay.finish_payment(:id, :function, :f010, CAST(:data AS jsonb), :code, CAST(:output AS jsonb),
                             CAST(:result AS jsonb), CAST(:log AS jsonb))

-- name: transaction_by_f010 (prepared)
SELECT t.public_id AS transaction_id, t.f010, t.status, t.amount, t.msisdn, t.route, s.name AS service,
       t.result, t.created_at, t.updated_at
  FROM transactions t JOIN services s ON s.id = t.service_id
 WHERE t.client_id = :client_id AND t.f010 = :f010

-- name: insert_api_log (prepared)
INSERT INTO api_logs (request_id, client_id, app_id, endpoint, method, status_code, duration_ms, ip,
                      user_agent, request_body, response_body)
VALUES (:request_id, :client_id, :app_id, :endpoint, :method, :status_code, :duration_ms, :ip,
        :user_agent, CAST(:request_body AS jsonb), CAST(:response_body AS jsonb))
