-- Money safety: replays, reconciliation, operator resolutions, provider callbacks, webhook delivery.

-- name: stored_answer (prepared)
-- A replay waiting for the first request of the same f010 (possibly in another process): its stored
-- answer; else, when that request is known to be gone, the current state as a 202 (open_answer). Gone:
-- the reconciler has moved the row on, or the call's deadline (connect + read timeout + 2 s after the
-- row was recorded) has passed, or the database session that recorded it has closed (its process died).
SELECT t.response_code, t.response_body, mospay.http_status_for(o.status) AS open_code,
       CASE WHEN t.response_body IS NULL
             AND (t.status <> 'RECEIVED'
                  OR t.created_at + make_interval(secs => s.connect_timeout_s + s.timeout_s + 2) <= now()
                  OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = t.owner_pid))
            THEN mospay.public_answer(t.public_id, t.f010, o.status, jsonb_build_object(
                     'status', o.status, 'message', 'the first request for this f010 ended without an answer; '
                                                    'the outcome is being checked'))
       END AS open_answer
  FROM transactions t
  JOIN services s ON s.id = t.service_id
 CROSS JOIN LATERAL (SELECT CASE WHEN t.status = 'RECEIVED' THEN 'UNKNOWN' ELSE t.status END AS status) o
 WHERE t.id = :id

-- name: claim_checks (prepared)
SELECT o_id, o_public_id, o_f010, o_status, o_app_id, o_service, o_route, o_connect_timeout_s, o_timeout_s
  FROM mospay.claim_checks(:limit, CAST(:ids AS bigint[]))

-- name: plan_checks (prepared)
-- The claimed batch's Status functions (named by functions.status_function_name), one statement per batch.
SELECT o_id, o_plan FROM mospay.plan_checks(CAST(:ids AS bigint[]), CAST(:functions AS text[]))

-- name: record_check (prepared)
SELECT o_status, o_stuck FROM mospay.record_check(:id, :function, :code, CAST(:output AS jsonb), :cause)

-- name: release_checks (prepared)
-- Checks claimed but not made (the service's breaker refused the call): due again when the breaker
-- allows a call, instead of when the claim's lease (connect + read timeout + 10 s) runs out.
UPDATE transactions
   SET next_check_at = now() + make_interval(secs => CAST(:after_s AS double precision))
 WHERE id = ANY (CAST(:ids AS bigint[])) AND status IN ('RECEIVED', 'PENDING', 'UNKNOWN') AND NOT stuck

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

-- name: service_exists (prepared)
SELECT id FROM services WHERE name = :name

-- name: record_callback (prepared)
-- Deduplicated on (service, body hash): a provider's retry or duplicate is counted, not processed again.
INSERT INTO provider_callbacks (service, method, body_hash, body, external_id, outcome)
VALUES (:service, :method, :body_hash, CAST(:body AS jsonb), :external_id, :outcome)
ON CONFLICT (service, body_hash) DO UPDATE SET duplicates = provider_callbacks.duplicates + 1
RETURNING id, (xmax = 0) AS first

-- name: set_callback_outcome (prepared)
UPDATE provider_callbacks SET outcome = :outcome WHERE id = :id

-- name: callback_matches (prepared)
-- By the reference the provider was sent (mospay.provider_reference), never by a client's f010 alone:
-- two clients may use the same f010. Rows recorded before schema version 4 were sent their f010.
SELECT t.id, t.status FROM transactions t JOIN services s ON s.id = t.service_id
 WHERE s.name = :service
   AND (t.public_id = mospay.public_id_for_reference(:external_id)
        OR (t.f010 = :external_id AND t.provider_ref = :external_id))

-- name: claim_webhooks (prepared)
-- Due outbox events, claimed with SKIP LOCKED and leased for two minutes: one sender per event.
WITH due AS (
    SELECT e.id FROM webhook_events e
     WHERE e.state = 'PENDING' AND e.next_attempt_at <= now()
     ORDER BY e.next_attempt_at
     LIMIT :limit
       FOR UPDATE SKIP LOCKED)
UPDATE webhook_events e SET next_attempt_at = now() + interval '2 minutes'
  FROM due, clients c
 WHERE e.id = due.id AND c.id = e.client_id
RETURNING e.id, e.event_id, e.event_type, e.payload, e.attempts, e.created_at, c.app_id, c.callback_url,
          c.webhook_secret_version, c.webhook_previous_version,
          (c.webhook_previous_expires_at > now()) AS previous_valid

-- name: webhook_delivered (prepared)
WITH attempt AS (
    INSERT INTO webhook_attempts (event_id, url, http_status, duration_ms, response_excerpt)
    VALUES (:id, :url, :http_status, :duration_ms, CAST(:excerpt AS text)))
UPDATE webhook_events SET state = 'DELIVERED', attempts = attempts + 1, delivered_at = now(), last_error = NULL
 WHERE id = :id

-- name: webhook_failed (prepared)
-- Exponential backoff; an event still undelivered 3 days after it was created is given up.
WITH attempt AS (
    INSERT INTO webhook_attempts (event_id, url, http_status, error, duration_ms, response_excerpt)
    VALUES (:id, :url, :http_status, :error, :duration_ms, CAST(:excerpt AS text)))
UPDATE webhook_events
   SET attempts = attempts + 1, last_error = :error,
       next_attempt_at = now() + make_interval(secs => :delay_s),
       state = CASE WHEN now() + make_interval(secs => :delay_s) > created_at + interval '3 days'
                    THEN 'GAVE_UP' ELSE 'PENDING' END
 WHERE id = :id
RETURNING state

-- name: webhook_resend
UPDATE webhook_events SET state = 'PENDING', next_attempt_at = now()
 WHERE event_id = :event_id
RETURNING event_id, state

-- name: webhook_resend_own
-- The merchant portal's resend: only an event of the signed-in user's client.
UPDATE webhook_events SET state = 'PENDING', next_attempt_at = now()
 WHERE event_id = :event_id AND client_id = :client_id
RETURNING event_id, state

-- name: webhook_event_own
SELECT event_id, event_type, state FROM webhook_events WHERE event_id = :event_id AND client_id = :client_id

-- name: webhook_test_event
-- A test event through the outbox (no transaction), unless the client sent :per_minute in the last minute.
INSERT INTO webhook_events (client_id, transaction_id, event_type, payload)
SELECT c.id, NULL, :event_type,
       jsonb_build_object('app_id', c.app_id, 'message', 'a test event: your endpoint receives and verifies webhooks')
  FROM clients c
 WHERE c.id = :client_id
   AND (SELECT count(*) FROM webhook_events e
         WHERE e.client_id = :client_id AND e.event_type = :event_type
           AND e.created_at > now() - interval '1 minute') < CAST(:per_minute AS integer)
RETURNING event_id, event_type, state, created_at

-- name: webhook_log_page
-- A client's webhook events of the last :days days, newest first (keyset on created_at, id).
SELECT e.id, e.event_id, e.event_type, e.state, e.attempts, e.next_attempt_at, e.last_error, e.delivered_at,
       e.created_at, t.public_id AS transaction_id
  FROM webhook_events e LEFT JOIN transactions t ON t.id = e.transaction_id AND t.client_id = :client_id
 WHERE e.client_id = :client_id
   AND e.created_at > now() - make_interval(days => CAST(:days AS integer))
   AND (CAST(:after_at AS timestamptz) IS NULL
        OR (e.created_at, e.id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS bigint)))
 ORDER BY e.created_at DESC, e.id DESC
 LIMIT :limit

-- name: webhook_attempts_of_events
-- The attempts of some of a client's events (a page of the delivery log, a transaction's events).
SELECT a.event_id AS event_pk, a.url, a.http_status, a.error, a.duration_ms, a.response_excerpt, a.attempted_at
  FROM webhook_attempts a JOIN webhook_events e ON e.id = a.event_id
 WHERE e.client_id = :client_id AND a.event_id = ANY(CAST(:ids AS bigint[]))
 ORDER BY a.event_id, a.id

-- name: webhook_events_of_own_transaction
SELECT e.id, e.event_id, e.event_type, e.state, e.attempts, e.next_attempt_at, e.last_error, e.delivered_at,
       e.created_at
  FROM webhook_events e JOIN transactions t ON t.id = e.transaction_id
 WHERE t.public_id = :public_id AND t.client_id = :client_id AND e.client_id = :client_id
 ORDER BY e.id

-- name: webhook_events_of_transaction
SELECT e.event_id, e.event_type, e.state, e.attempts, e.next_attempt_at, e.last_error, e.delivered_at, e.created_at
  FROM webhook_events e JOIN transactions t ON t.id = e.transaction_id
 WHERE t.public_id = :public_id
 ORDER BY e.id

-- name: webhook_event
-- One event by its public id, with its transaction's or its batch's: the admin API resends by event id alone.
SELECT e.event_id, e.event_type, e.state, e.attempts, e.next_attempt_at, e.last_error, e.delivered_at,
       e.created_at, t.public_id AS transaction_id, b.public_id AS batch_id
  FROM webhook_events e LEFT JOIN transactions t ON t.id = e.transaction_id
  LEFT JOIN batches b ON b.id = e.batch_id
 WHERE e.event_id = :event_id

-- name: webhook_events_of_batch
-- A batch's own events (batch.completed, batch.failed), for an operator; its rows' payment events are theirs.
SELECT e.id, e.event_id, e.event_type, e.state, e.attempts, e.next_attempt_at, e.last_error, e.delivered_at,
       e.created_at
  FROM webhook_events e JOIN batches b ON b.id = e.batch_id
 WHERE b.public_id = :public_id
 ORDER BY e.id

-- name: webhook_events_of_own_batch
-- The same for the merchant portal: only a batch, and events, of the signed-in user's client.
SELECT e.id, e.event_id, e.event_type, e.state, e.attempts, e.next_attempt_at, e.last_error, e.delivered_at,
       e.created_at
  FROM webhook_events e JOIN batches b ON b.id = e.batch_id
 WHERE b.public_id = :public_id AND b.client_id = :client_id AND e.client_id = :client_id
 ORDER BY e.id

-- name: webhook_attempts
SELECT a.url, a.http_status, a.error, a.duration_ms, a.response_excerpt, a.attempted_at
  FROM webhook_attempts a JOIN webhook_events e ON e.id = a.event_id
 WHERE e.event_id = :event_id
 ORDER BY a.id

-- name: rotate_webhook_secret
UPDATE clients
   SET webhook_previous_version = webhook_secret_version,
       webhook_previous_expires_at = now() + make_interval(secs => :overlap_s),
       webhook_secret_version = webhook_secret_version + 1, updated_at = now()
 WHERE app_id = :app_id
RETURNING app_id, webhook_secret_version, webhook_previous_expires_at

-- name: set_reconcile_schedule
UPDATE services SET reconcile_schedule_s = CAST(:schedule AS integer[]), updated_at = now()
 WHERE name = :name
RETURNING name, reconcile_schedule_s
