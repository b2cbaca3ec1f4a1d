-- Read-only reports for the portal: dashboard figures, transaction, API-log and security-event lists.

-- name: dashboard_totals
SELECT (SELECT count(*) FROM clients) AS clients,
       (SELECT count(*) FROM clients WHERE active) AS active_clients,
       (SELECT count(*) FROM services) AS services,
       count(*) AS today,
       count(*) FILTER (WHERE status = 'SUCCESSFUL') AS today_successful,
       count(*) FILTER (WHERE status IN ('SUCCESSFUL', 'FAILED')) AS today_settled
  FROM transactions WHERE created_at >= date_trunc('day', now())

-- name: dashboard_volume
SELECT s.currency, sum(t.amount) AS volume
  FROM transactions t JOIN services s ON s.id = t.service_id
 WHERE t.created_at >= date_trunc('day', now()) AND t.status = 'SUCCESSFUL'
 GROUP BY s.currency ORDER BY s.currency

-- name: dashboard_hourly
SELECT floor(extract(epoch FROM now() - created_at) / 3600)::int AS hours_ago, status, count(*) AS n
  FROM transactions WHERE created_at > now() - interval '24 hours'
 GROUP BY 1, 2

-- name: dashboard_stuck
-- The 20 open transactions untouched longest: PENDING, UNKNOWN, and RECEIVED for over 5 minutes. One
-- short range per status on transactions_open_idx (status, updated_at), then merged: written as one OR,
-- PostgreSQL sorted every open row (430 ms with 50,000 open of 1,000,000, `python -m mospay.bench --big-data`).
SELECT t.public_id, t.f010, t.status, t.amount, c.app_id, s.name AS service, t.created_at, t.updated_at,
       extract(epoch FROM now() - t.updated_at)::bigint AS age_s
  FROM ((SELECT id FROM transactions WHERE status = 'PENDING' ORDER BY updated_at LIMIT 20)
        UNION ALL
        (SELECT id FROM transactions WHERE status = 'UNKNOWN' ORDER BY updated_at LIMIT 20)
        UNION ALL
        (SELECT id FROM transactions WHERE status = 'RECEIVED' AND updated_at < now() - interval '5 minutes'
          ORDER BY updated_at LIMIT 20)) AS open
  JOIN transactions t ON t.id = open.id JOIN clients c ON c.id = t.client_id JOIN services s ON s.id = t.service_id
 ORDER BY t.updated_at LIMIT 20

-- name: transactions_page
-- f010, msisdn and stuck are the admin API's exact filters (the portal's q covers the first two); a
-- fresh plan per run folds the unused ones away, so each still reaches its own index (stuck=true: the
-- partial transactions_stuck_idx; the operator's queue is short, so sorting it is cheap). :client_id is the
-- merchant portal's scope (mospay.merchant_records always sets it; transactions_client_created_idx).
SELECT t.id, t.public_id, t.f010, t.status, t.amount, t.msisdn, t.route, t.created_at, t.updated_at,
       t.provider_http_status, c.app_id, s.name AS service, s.currency
  FROM transactions t JOIN clients c ON c.id = t.client_id JOIN services s ON s.id = t.service_id
 WHERE (CAST(:client_id AS bigint) IS NULL OR t.client_id = CAST(:client_id AS bigint))
   AND (CAST(:app_id AS text) IS NULL OR c.app_id = CAST(:app_id AS text))
   AND (CAST(:service AS text) IS NULL OR s.name = CAST(:service AS text))
   AND (CAST(:status AS text) IS NULL OR t.status = CAST(:status AS text))
   AND (CAST(:date_from AS timestamptz) IS NULL OR t.created_at >= CAST(:date_from AS timestamptz))
   AND (CAST(:date_to AS timestamptz) IS NULL OR t.created_at < CAST(:date_to AS timestamptz))
   AND (CAST(:q AS text) IS NULL OR t.f010 = CAST(:q AS text) OR t.public_id = CAST(:q AS text)
        OR t.msisdn IN (CAST(:q AS text), '+' || CAST(:q AS text)))
   AND (CAST(:f010 AS text) IS NULL OR t.f010 = CAST(:f010 AS text))
   AND (CAST(:msisdn AS text) IS NULL OR t.msisdn IN (CAST(:msisdn AS text), '+' || CAST(:msisdn AS text)))
   AND (CAST(:stuck AS boolean) IS NULL
        OR (CAST(:stuck AS boolean) AND t.stuck AND t.status IN ('RECEIVED', 'PENDING', 'UNKNOWN'))
        OR (NOT CAST(:stuck AS boolean) AND NOT (t.stuck AND t.status IN ('RECEIVED', 'PENDING', 'UNKNOWN'))))
   AND (CAST(:after_at AS timestamptz) IS NULL
        OR (t.created_at, t.id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS bigint)))
 ORDER BY t.created_at DESC, t.id DESC
 LIMIT :limit

-- name: transaction_totals
-- Per currency: the rows transactions_page selects for these filters on every page together (the same
-- FROM and WHERE, the cursor left out: tests/unit/test_transaction_totals.py keeps them identical), their
-- amount and the successful amount. Only indexed columns are read for a merchant's unsearched list: an
-- index-only scan of transactions_client_created_idx, which INCLUDEs service_id, status and amount.
SELECT s.currency, count(*) AS n, coalesce(sum(t.amount), 0) AS amount,
       coalesce(sum(t.amount) FILTER (WHERE t.status = 'SUCCESSFUL'), 0) AS successful
  FROM transactions t JOIN clients c ON c.id = t.client_id JOIN services s ON s.id = t.service_id
 WHERE (CAST(:client_id AS bigint) IS NULL OR t.client_id = CAST(:client_id AS bigint))
   AND (CAST(:app_id AS text) IS NULL OR c.app_id = CAST(:app_id AS text))
   AND (CAST(:service AS text) IS NULL OR s.name = CAST(:service AS text))
   AND (CAST(:status AS text) IS NULL OR t.status = CAST(:status AS text))
   AND (CAST(:date_from AS timestamptz) IS NULL OR t.created_at >= CAST(:date_from AS timestamptz))
   AND (CAST(:date_to AS timestamptz) IS NULL OR t.created_at < CAST(:date_to AS timestamptz))
   AND (CAST(:q AS text) IS NULL OR t.f010 = CAST(:q AS text) OR t.public_id = CAST(:q AS text)
        OR t.msisdn IN (CAST(:q AS text), '+' || CAST(:q AS text)))
   AND (CAST(:f010 AS text) IS NULL OR t.f010 = CAST(:f010 AS text))
   AND (CAST(:msisdn AS text) IS NULL OR t.msisdn IN (CAST(:msisdn AS text), '+' || CAST(:msisdn AS text)))
   AND (CAST(:stuck AS boolean) IS NULL
        OR (CAST(:stuck AS boolean) AND t.stuck AND t.status IN ('RECEIVED', 'PENDING', 'UNKNOWN'))
        OR (NOT CAST(:stuck AS boolean) AND NOT (t.stuck AND t.status IN ('RECEIVED', 'PENDING', 'UNKNOWN'))))
 GROUP BY s.currency
 ORDER BY s.currency

-- name: transaction_detail
SELECT t.id, t.public_id, t.f010, t.status, t.status_reason, t.amount, t.msisdn, t.route, t.request,
       t.provider_http_status, t.provider_response, t.result, t.response_code, t.response_body,
       t.created_at, t.updated_at, t.stuck, t.check_attempts, t.next_check_at, c.app_id, c.company_name,
       s.name AS service, s.currency
  FROM transactions t JOIN clients c ON c.id = t.client_id JOIN services s ON s.id = t.service_id
 WHERE t.public_id = :public_id AND (CAST(:client_id AS bigint) IS NULL OR t.client_id = CAST(:client_id AS bigint))

-- name: transaction_events
-- An operator's resolution carries who (actor_user_id) and why (note).
SELECT e.from_status, e.to_status, e.cause, e.note, u.username AS actor, e.created_at
  FROM transaction_events e LEFT JOIN users u ON u.id = e.actor_user_id
 WHERE e.transaction_id = :transaction_id ORDER BY e.id

-- name: own_transaction_events
-- A merchant's view of a transaction's history: its own transaction only, and no operator's name.
SELECT e.from_status, e.to_status, e.cause, e.created_at
  FROM transaction_events e JOIN transactions t ON t.id = e.transaction_id
 WHERE e.transaction_id = :transaction_id AND t.client_id = :client_id ORDER BY e.id

-- name: client_recent_transactions
SELECT t.public_id, t.f010, t.status, t.amount, t.created_at, s.name AS service, s.currency
  FROM transactions t JOIN services s ON s.id = t.service_id
 WHERE t.client_id = :client_id ORDER BY t.created_at DESC, t.id DESC LIMIT 10

-- name: api_logs_page
-- Payment rows authenticated by token carry client_id but no App-ID header: show the client's app id.
SELECT l.id, l.request_id, coalesce(l.app_id, c.app_id) AS app_id, l.endpoint, l.method, l.status_code,
       l.duration_ms, l.ip, l.created_at
  FROM api_logs l LEFT JOIN clients c ON c.id = l.client_id
 WHERE (CAST(:client_id AS bigint) IS NULL OR l.client_id = CAST(:client_id AS bigint))
   AND (CAST(:app_id AS text) IS NULL OR l.app_id = CAST(:app_id AS text) OR c.app_id = CAST(:app_id AS text))
   AND (CAST(:status_class AS integer) IS NULL OR l.status_code / 100 = CAST(:status_class AS integer))
   AND (CAST(:q AS text) IS NULL OR l.endpoint LIKE CAST(:q AS text) || '%' OR l.request_id = CAST(:q AS text))
   AND (CAST(:date_from AS timestamptz) IS NULL OR l.created_at >= CAST(:date_from AS timestamptz))
   AND (CAST(:date_to AS timestamptz) IS NULL OR l.created_at < CAST(:date_to AS timestamptz))
   AND (CAST(:after_at AS timestamptz) IS NULL
        OR (l.created_at, l.id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS bigint)))
 ORDER BY l.created_at DESC, l.id DESC
 LIMIT :limit

-- name: api_log_detail
SELECT l.id, l.request_id, l.client_id, coalesce(l.app_id, c.app_id) AS app_id, l.endpoint, l.method,
       l.status_code, l.duration_ms, l.ip, l.user_agent, l.request_body, l.response_body, l.created_at
  FROM api_logs l LEFT JOIN clients c ON c.id = l.client_id
 WHERE l.id = :id AND (CAST(:client_id AS bigint) IS NULL OR l.client_id = CAST(:client_id AS bigint))

-- name: reconciler_backlog
-- Open transactions the reconciler still checks, and those waiting for an operator (both partial indexes).
SELECT (SELECT count(*) FROM transactions
         WHERE status IN ('RECEIVED', 'PENDING', 'UNKNOWN') AND NOT stuck) AS open,
       (SELECT count(*) FROM transactions WHERE stuck AND status IN ('RECEIVED', 'PENDING', 'UNKNOWN')) AS stuck

-- name: security_events_page
-- `at AS created_at` so the shared keyset cursor works here too.
SELECT id, kind, ip, app_id, username, endpoint, at AS created_at
  FROM security_events
 WHERE (CAST(:kind AS text) IS NULL OR kind = CAST(:kind AS text))
   AND (CAST(:app_id AS text) IS NULL OR app_id = CAST(:app_id AS text))
   AND (CAST(:q AS text) IS NULL OR ip = CAST(:q AS text) OR username = CAST(:q AS text))
   AND (CAST(:date_from AS timestamptz) IS NULL OR at >= CAST(:date_from AS timestamptz))
   AND (CAST(:date_to AS timestamptz) IS NULL OR at < CAST(:date_to AS timestamptz))
   AND (CAST(:after_at AS timestamptz) IS NULL
        OR (at, id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS bigint)))
 ORDER BY at DESC, id DESC
 LIMIT :limit
