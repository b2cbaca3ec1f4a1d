-- Money safety (issue 4): replays, reconciliation, operator resolutions, callbacks, webhooks.

-- name: stored_answer
-- A replay waiting for the first request of the same f010 (possibly in another process).
SELECT response_code, response_body FROM transactions WHERE id = :id

-- name: claim_checks
SELECT o_id, o_public_id, o_f010, o_status, o_service, o_function, o_connect_timeout_s, o_timeout_s, o_plan
  FROM mospay.claim_checks(:limit, CAST(:ids AS bigint[]))

-- name: record_check
SELECT o_status, o_stuck FROM mospay.record_check(:id, :code, CAST(:output AS jsonb), :cause)

-- name: resolve_transaction
SELECT o_id, o_status FROM mospay.resolve_transaction(:public_id, :status, :user_id, :reason)

-- name: stuck_queue
-- The portal's stuck queue: the schedule ran out, an operator must decide.
SELECT t.public_id AS transaction_id, t.f010, t.status, t.amount, t.msisdn, t.route, s.name AS service,
       c.app_id, t.check_attempts, t.provider_http_status, t.provider_response, t.created_at, t.updated_at
  FROM transactions t JOIN services s ON s.id = t.service_id JOIN clients c ON c.id = t.client_id
 WHERE t.stuck AND t.status IN ('RECEIVED', 'PENDING', 'UNKNOWN')
 ORDER BY t.created_at
 LIMIT :limit

-- name: transaction_history
SELECT e.from_status, e.to_status, e.cause, e.actor_user_id, e.note, e.created_at
  FROM transaction_events e JOIN transactions t ON t.id = e.transaction_id
 WHERE t.public_id = :public_id
 ORDER BY e.id

-- name: service_exists
SELECT id FROM services WHERE name = :name

-- name: record_callback
-- Deduplicated on (service, body hash): a provider's retry or duplicate is counted, not processed again.
INSERT INTO provider_callbacks (service, method, body_hash, body, external_id, outcome)
VALUES (:service, :method, :body_hash, CAST(:body AS jsonb), :external_id, :outcome)
ON CONFLICT (service, body_hash) DO UPDATE SET duplicates = provider_callbacks.duplicates + 1
RETURNING id, (xmax = 0) AS first

-- name: set_callback_outcome
UPDATE provider_callbacks SET outcome = :outcome WHERE id = :id

-- name: callback_matches
SELECT t.id, t.status FROM transactions t JOIN services s ON s.id = t.service_id
 WHERE s.name = :service AND t.f010 = :external_id
