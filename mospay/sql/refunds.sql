-- Refunds: the payment a refund names (always within the caller's client), start and finish, replays,
-- the reconciler's refund checks, and the lists the portals and lookups show.

-- name: refund_payment
-- The client's own payment by f010, and which refund functions and timeouts apply to it.
SELECT t.id, t.public_id, c.app_id, s.name AS service, s.connect_timeout_s, s.timeout_s
  FROM transactions t JOIN clients c ON c.id = t.client_id JOIN services s ON s.id = t.service_id
 WHERE t.client_id = :client_id AND t.f010 = :f010

-- name: refund_payment_by_public_id
-- An operator's refund names the payment by its public id (any client's: operators see all).
SELECT t.id, t.client_id, t.f010 FROM transactions t WHERE t.public_id = :public_id

-- name: refund_functions_present
SELECT count(*) AS n FROM pg_proc p
 WHERE p.pronamespace = 'mospay_fn'::regnamespace AND p.proname = ANY (CAST(:names AS text[]))

-- name: start_refund
SELECT o_outcome, o_message, o_id, o_status, o_request_hash, o_response_code, o_response_body, o_plan, o_reference
  FROM mospay.start_refund(:client_id, :f010, :refund_id, CAST(:amount AS numeric), :reason, :request_hash,
                           :function, CAST(:data AS jsonb), CAST(:max_refunds AS integer), CAST(:operator AS text))

-- name: finish_refund
SELECT o_status, o_response_code, o_response_body
  FROM mospay.finish_refund(CAST(:id AS uuid), :function, :code, CAST(:output AS jsonb), CAST(:result AS jsonb),
                            CAST(:log AS jsonb))

-- name: refund_stored_answer
-- A replay waiting for the first request of a refund_id: its stored answer, or, once that request is known
-- to be gone (the row moved on, the call's deadline passed, its database session closed), the current state.
SELECT x.response_code, x.response_body, mospay.http_status_for(o.status) AS open_code,
       CASE WHEN x.response_body IS NULL
             AND (x.status <> 'RECEIVED'
                  OR x.created_at + make_interval(secs => s.connect_timeout_s + s.timeout_s + 2) <= now()
                  OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = x.owner_pid))
            THEN mospay.refund_answer(x, o.status, jsonb_build_object(
                     'status', o.status, 'message', 'the first request for this refund_id ended without an answer; '
                                                    'the outcome is being checked'))
       END AS open_answer
  FROM refunds x
  JOIN transactions t ON t.id = x.transaction_id
  JOIN services s ON s.id = t.service_id
 CROSS JOIN LATERAL (SELECT CASE WHEN x.status = 'RECEIVED' THEN 'UNKNOWN' ELSE x.status END AS status) o
 WHERE x.id = CAST(:id AS uuid)

-- name: refund_current_answer
SELECT mospay.refund_answer(x, x.status, x.result) AS answer FROM refunds x WHERE x.id = CAST(:id AS uuid)

-- name: refunds_of_payment
SELECT x.public_id AS id, x.refund_id, x.status, x.amount, x.currency, x.reason, x.status_reason, x.result,
       x.provider_reference::text AS provider_reference, x.stuck, x.operator, x.created_at, x.updated_at
  FROM refunds x
 WHERE x.client_id = :client_id AND x.transaction_id = :transaction_id
 ORDER BY x.created_at, x.id

-- name: resolve_refund
SELECT o_status FROM mospay.resolve_refund(:public_id, :status, :actor, :reason)

-- name: refund_of_transaction
-- A refund by its public id, only as one of this payment's (the operator's pages name both).
SELECT x.public_id, x.status FROM refunds x JOIN transactions t ON t.id = x.transaction_id
 WHERE x.public_id = :public_id AND t.public_id = :transaction_id

-- name: client_payment_f010
-- A client's own payment by its public id (the merchant portal names payments so): scoped to the client.
SELECT t.id, t.f010 FROM transactions t WHERE t.client_id = :client_id AND t.public_id = :public_id

-- name: refund_history
SELECT e.from_status, e.to_status, e.cause, e.actor, e.note, e.created_at
  FROM refund_events e JOIN refunds x ON x.id = e.refund_id
 WHERE x.public_id = :public_id
 ORDER BY e.id

-- name: claim_refund_checks (prepared)
SELECT o_id, o_public_id, o_status, o_app_id, o_service, o_connect_timeout_s, o_timeout_s
  FROM mospay.claim_refund_checks(:limit, CAST(:ids AS uuid[]))

-- name: plan_refund_checks (prepared)
SELECT o_id, o_plan FROM mospay.plan_refund_checks(CAST(:ids AS uuid[]), CAST(:functions AS text[]))

-- name: record_refund_check (prepared)
SELECT o_status, o_stuck FROM mospay.record_refund_check(CAST(:id AS uuid), :function, :code, CAST(:output AS jsonb), :cause)

-- name: release_refund_checks (prepared)
UPDATE refunds
   SET next_check_at = now() + make_interval(secs => CAST(:after_s AS double precision))
 WHERE id = ANY (CAST(:ids AS uuid[])) AND status IN ('RECEIVED', 'PENDING', 'UNKNOWN') AND NOT stuck

-- name: refund_callback_matches (prepared)
-- A provider callback naming a refund's reference (its own UUID, unique across all clients).
SELECT x.id FROM refunds x
  JOIN transactions t ON t.id = x.transaction_id JOIN services s ON s.id = t.service_id
 WHERE s.name = :service AND x.provider_reference = CAST(:external_id AS uuid)
   AND x.status IN ('RECEIVED', 'PENDING', 'UNKNOWN')
