-- The payment path: the client, start (with the context check) and finish, the lookup by f010, the API log row.

-- name: client_by_app_id (prepared)
-- previous_secrets: older generations still in their overlap after a roll (the same shape as
-- start_payment's context).
SELECT c.id AS client_id, c.app_id, c.api_username, c.api_secret_hash, c.credential_version,
       c.active AS client_active, c.rate_limit_per_minute,
       coalesce((SELECT jsonb_agg(jsonb_build_object('generation', k.generation, 'secret_hash', k.secret_hash,
                                                     'expires_at', extract(epoch FROM k.expires_at)))
                   FROM client_secrets k
                  WHERE k.client_id = c.id AND k.generation <> c.credential_version AND k.expires_at > now()),
                '[]'::jsonb) AS previous_secrets
  FROM clients c WHERE c.app_id = :app_id

-- name: take_rate_token
-- One request from the client's shared bucket of this kind: 0 when admitted, else seconds to wait.
SELECT mospay.take_rate_token(:client_id, :kind, :per_minute) AS retry_after

-- name: start_payment (prepared)
-- Round trip 1 of 2 on the payment path: check the cached context's stamp, record, plan (or answer the
-- current context and record nothing; or, over the client's rate limit, record nothing and say how long to wait).
SELECT o_context, o_id, o_public_id, o_replay, o_status, o_request_hash, o_response_code, o_response_body, o_plan,
       o_reference, o_retry_after
  FROM mospay.start_payment(:app_id, :service, :stamp, :route, :f010, CAST(:amount AS numeric), :msisdn,
                            CAST(:request AS jsonb), :request_hash, :function, CAST(:data AS jsonb),
                            CAST(:rate_default AS integer))

-- name: finish_payment (prepared)
-- Round trip 2 of 2: the RESPONSE function, the final state and the API log row (:log, request metadata).
SELECT o_status, o_response_code, o_response_body
  FROM mospay.finish_payment(:id, :function, :reference, CAST(:data AS jsonb), :code, CAST(:output AS jsonb),
                             CAST(:result AS jsonb), CAST(:log AS jsonb))

-- name: transaction_by_f010 (prepared)
-- A client's status lookup, which takes a token from its 'status' bucket in the same statement: one row
-- always, retry_after > 0 when refused (and then no transaction), transaction_id NULL when not found.
-- With its refunds (refunded_amount: the SUCCESSFUL ones), each also scoped to the client.
SELECT w.retry_after, t.public_id AS transaction_id, t.f010, t.status, t.amount, t.msisdn, t.route,
       s.name AS service, t.result, t.created_at, t.updated_at,
       r.refunded_amount, coalesce(r.refunds, '[]'::jsonb) AS refunds
  FROM (SELECT mospay.take_rate_token(:client_id, 'status', CAST(:per_minute AS integer)) AS retry_after) w
  LEFT JOIN (transactions t JOIN services s ON s.id = t.service_id)
    ON w.retry_after = 0 AND t.client_id = :client_id AND t.f010 = :f010
  LEFT JOIN LATERAL (
        SELECT coalesce(sum(x.amount) FILTER (WHERE x.status = 'SUCCESSFUL'), 0)::numeric(18, 2)::text AS refunded_amount,
               jsonb_agg(jsonb_build_object('id', x.public_id, 'refund_id', x.refund_id, 'status', x.status,
                                            'amount', x.amount::text, 'currency', x.currency, 'reason', x.reason,
                                            'created_at', x.created_at, 'updated_at', x.updated_at)
                         ORDER BY x.created_at, x.id) AS refunds
          FROM refunds x WHERE x.transaction_id = t.id AND x.client_id = :client_id) r ON t.id IS NOT NULL

-- name: insert_api_log (prepared)
-- With the last use of the API secret generation that authenticated the call (:key_generation, NULL when
-- none did): written at most once a minute per generation, in this same statement.
WITH used AS (
    UPDATE client_secrets SET last_used_at = now(), last_used_ip = CAST(:ip AS text)
     WHERE client_id = CAST(:client_id AS bigint) AND generation = CAST(:key_generation AS integer)
       AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute'))
INSERT INTO api_logs (request_id, client_id, app_id, endpoint, method, status_code, duration_ms, ip,
                      user_agent, request_body, response_body)
VALUES (:request_id, CAST(:client_id AS bigint), :app_id, :endpoint, :method, :status_code, :duration_ms,
        CAST(:ip AS text), :user_agent, CAST(:request_body AS jsonb), CAST(:response_body AS jsonb))
