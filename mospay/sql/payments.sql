-- The payment path: the client, start (with the context check) and finish, the lookup by f010, the API log row.

-- name: client_by_app_id (prepared)
SELECT id AS client_id, app_id, api_username, api_secret_hash, credential_version, active AS client_active
  FROM clients WHERE app_id = :app_id

-- name: start_payment (prepared)
-- Round trip 1 of 2 on the payment path: check the cached context's stamp, record, plan (or answer the
-- current context and record nothing).
SELECT o_context, o_id, o_public_id, o_replay, o_status, o_request_hash, o_response_code, o_response_body, o_plan
  FROM mospay.start_payment(:app_id, :service, :stamp, :route, :f010, CAST(:amount AS numeric), :msisdn,
                            CAST(:request AS jsonb), :request_hash, :function, CAST(:data AS jsonb))

-- name: finish_payment (prepared)
-- Round trip 2 of 2: the RESPONSE function, the final state and the API log row (:log, request metadata).
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
