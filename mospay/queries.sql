-- Every statement MosPay runs, by name. Values are always parameters (:name).

-- name: client_by_app_id
SELECT id AS client_id, app_id, api_username, api_secret_hash, credential_version, active AS client_active
  FROM clients WHERE app_id = :app_id

-- name: start_payment
-- Round trip 1 of 2 on the payment path: check the cached context's stamp, record, plan (or answer the
-- current context and record nothing).
SELECT o_context, o_id, o_public_id, o_replay, o_status, o_request_hash, o_response_code, o_response_body, o_plan
  FROM mospay.start_payment(:app_id, :service, :stamp, :route, :f010, CAST(:amount AS numeric), :msisdn,
                            CAST(:request AS jsonb), :request_hash, :function, CAST(:data AS jsonb))

-- name: finish_payment
-- Round trip 2 of 2: the RESPONSE function, the final state and the API log row (:log, request metadata).
SELECT o_status, o_response_code, o_response_body
  FROM mospay.finish_payment(:id, :function, :f010, CAST(:data AS jsonb), :code, CAST(:output AS jsonb),
                             CAST(:result AS jsonb), CAST(:log AS jsonb))

-- name: transaction_by_f010
SELECT t.public_id AS transaction_id, t.f010, t.status, t.amount, t.msisdn, t.route, s.name AS service,
       t.result, t.created_at, t.updated_at
  FROM transactions t JOIN services s ON s.id = t.service_id
 WHERE t.client_id = :client_id AND t.f010 = :f010

-- name: insert_api_log
INSERT INTO api_logs (request_id, client_id, app_id, endpoint, method, status_code, duration_ms, ip,
                      user_agent, request_body, response_body)
VALUES (:request_id, :client_id, :app_id, :endpoint, :method, :status_code, :duration_ms, :ip,
        :user_agent, CAST(:request_body AS jsonb), CAST(:response_body AS jsonb))

-- name: user_by_username
SELECT id, username, password_hash, role, active, must_change_password, credential_version
  FROM users WHERE username = :username

-- name: set_user_password
UPDATE users SET password_hash = :password_hash, must_change_password = false,
                 credential_version = credential_version + 1, updated_at = now()
 WHERE id = :id

-- name: insert_user
INSERT INTO users (username, password_hash, role, must_change_password)
VALUES (:username, :password_hash, :role, :must_change)
ON CONFLICT (username) DO NOTHING
RETURNING id, username, role, must_change_password

-- name: insert_service
INSERT INTO services (name, display_name, service_url, currency, connect_timeout_s, timeout_s)
VALUES (:name, :display_name, :service_url, :currency, :connect_timeout_s, :timeout_s)
RETURNING id, name, display_name, service_url, currency, connect_timeout_s, timeout_s, active, created_at

-- name: insert_service_field
INSERT INTO service_fields (service_id, code, label, field_type, required, max_length, pattern, secret)
VALUES (:service_id, :code, :label, :field_type, :required, :max_length, :pattern, :secret)

-- name: service_by_name
SELECT id, name, display_name, service_url, currency, connect_timeout_s, timeout_s, active, created_at
  FROM services WHERE name = :name

-- name: insert_client
INSERT INTO clients (app_id, company_name, contact_email, callback_url, api_username, api_secret_hash)
VALUES (:app_id, :company_name, :contact_email, :callback_url, :api_username, :api_secret_hash)
RETURNING id, app_id, company_name, api_username, active, created_at

-- name: upsert_assignment
INSERT INTO client_services (client_id, service_id, routes)
VALUES (:client_id, :service_id, CAST(:routes AS text[]))
ON CONFLICT (client_id, service_id)
DO UPDATE SET routes = ARRAY(SELECT DISTINCT unnest(client_services.routes || EXCLUDED.routes) ORDER BY 1),
              active = true
RETURNING id, routes, active

-- name: rotate_client_secret
UPDATE clients SET api_secret_hash = :api_secret_hash, credential_version = credential_version + 1,
                   updated_at = now()
 WHERE app_id = :app_id
RETURNING app_id, api_username, credential_version

-- name: any_user
SELECT 1 AS one FROM users LIMIT 1

-- name: webhook_backlog
-- Webhook events by delivery state (a /metrics gauge; GAVE_UP rows are the ones an operator must see).
SELECT state, count(*) AS n FROM webhook_events GROUP BY state

-- name: scheduler_claim
-- The scheduler takes a job's lease when the job is due (its interval has passed since the last start)
-- and nobody holds an unexpired lease. One statement: the row lock makes concurrent claims take turns,
-- and the loser sees the winner's start and finds the job no longer due. :now is NULL in production
-- (the database's clock, one clock for every instance); tests pass their own.
WITH t AS (SELECT COALESCE(CAST(:now AS timestamptz), now()) AS now)
INSERT INTO scheduler_jobs AS j (name, interval_s, lease_owner, lease_until, last_started_at)
SELECT :name, :interval_s, :owner, t.now + :lease_s * interval '1 second', t.now FROM t
ON CONFLICT (name) DO UPDATE
   SET interval_s = EXCLUDED.interval_s, lease_owner = EXCLUDED.lease_owner,
       lease_until = EXCLUDED.lease_until, last_started_at = EXCLUDED.last_started_at
 WHERE (j.lease_until IS NULL OR j.lease_until <= EXCLUDED.last_started_at)
   AND (j.last_started_at IS NULL
        OR j.last_started_at + j.interval_s * interval '1 second' <= EXCLUDED.last_started_at)
RETURNING j.name

-- name: scheduler_renew
-- The holder extends its lease while the job runs; a holder that died stops renewing and its lease expires.
UPDATE scheduler_jobs SET lease_until = COALESCE(CAST(:now AS timestamptz), now()) + :lease_s * interval '1 second'
 WHERE name = :name AND lease_owner = :owner
RETURNING name

-- name: scheduler_finish
-- Release the lease and record the run. No row: the lease had expired and another instance took it over.
UPDATE scheduler_jobs j
   SET lease_owner = NULL, lease_until = NULL, last_finished_at = t.now, last_duration_ms = :duration_ms,
       last_error = CAST(:error AS text), runs = j.runs + 1,
       failures = j.failures + CASE WHEN CAST(:error AS text) IS NULL THEN 0 ELSE 1 END,
       last_success_at = CASE WHEN CAST(:error AS text) IS NULL THEN t.now ELSE j.last_success_at END
  FROM (SELECT COALESCE(CAST(:now AS timestamptz), now()) AS now) t
 WHERE j.name = :name AND j.lease_owner = :owner
RETURNING j.name

-- name: scheduler_jobs
-- Every job's last run, for /metrics and the dashboard (shared by all instances: it is the database's view).
SELECT name, interval_s, lease_owner, COALESCE(lease_until > now(), false) AS running, last_started_at, last_finished_at,
       last_success_at, last_duration_ms, last_error, runs, failures,
       extract(epoch FROM last_success_at)::float8 AS last_success_epoch,
       extract(epoch FROM last_started_at)::float8 AS last_started_epoch
  FROM scheduler_jobs ORDER BY name
