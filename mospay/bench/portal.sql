-- The admin portal's heaviest reads, as a portal would run them; timed by `python -m mospay.bench --big-data`
-- on 1,000,000 transactions and 2,000,000 api_logs rows.

-- name: dashboard_counts
-- The dashboard's figures: today's traffic by status (index range on created_at), not full-table scans.
SELECT count(*) FILTER (WHERE status = 'SUCCESSFUL') AS successful_24h,
       count(*) FILTER (WHERE status = 'FAILED') AS failed_24h,
       count(*) FILTER (WHERE status IN ('RECEIVED', 'PENDING', 'UNKNOWN')) AS open_24h,
       coalesce(sum(amount) FILTER (WHERE status = 'SUCCESSFUL'), 0) AS volume_24h
  FROM transactions
 WHERE created_at >= now() - interval '24 hours'

-- name: dashboard_open_transactions
-- Transactions waiting for an outcome, all time (the partial index keeps this small).
SELECT count(*) AS open_total FROM transactions WHERE status IN ('RECEIVED', 'PENDING', 'UNKNOWN')

-- name: dashboard_api_calls
SELECT count(*) AS calls_24h, count(*) FILTER (WHERE status_code >= 500) AS errors_24h
  FROM api_logs
 WHERE created_at >= now() - interval '24 hours'

-- name: dashboard_totals
-- All-time row counts from the planner's statistics: exact count(*) over millions of rows is a scan.
SELECT (SELECT reltuples::bigint FROM pg_class WHERE oid = 'transactions'::regclass) AS transactions_estimate,
       (SELECT reltuples::bigint FROM pg_class WHERE oid = 'api_logs'::regclass) AS api_logs_estimate

-- name: transactions_first_page
SELECT t.id, t.public_id, t.f010, t.status, t.amount, t.msisdn, t.route, s.name AS service, c.app_id,
       t.created_at
  FROM transactions t
  JOIN clients c ON c.id = t.client_id
  JOIN services s ON s.id = t.service_id
 ORDER BY t.created_at DESC, t.id DESC
 LIMIT 50

-- name: transactions_next_page
-- Keyset pagination: the cursor is the last row's (created_at, id), so page 10,000 costs what page 2 does.
SELECT t.id, t.public_id, t.f010, t.status, t.amount, t.msisdn, t.route, s.name AS service, c.app_id,
       t.created_at
  FROM transactions t
  JOIN clients c ON c.id = t.client_id
  JOIN services s ON s.id = t.service_id
 WHERE (t.created_at, t.id) < (CAST(:created_at AS timestamptz), CAST(:id AS bigint))
 ORDER BY t.created_at DESC, t.id DESC
 LIMIT 50

-- name: seed_transactions
-- 1,000,000 transactions over the last 60 days: 85% successful, 10% failed, 5% still open.
INSERT INTO transactions (client_id, service_id, route, f010, amount, msisdn, request, request_hash, status,
                          status_reason, response_code, created_at, updated_at)
SELECT CAST(:client_id AS bigint), CAST(:service_id AS bigint), 'collection', 'big-' || g,
       (g % 50000 + 100)::numeric(18, 2), '+2507881' || lpad((g % 100000)::text, 5, '0'),
       jsonb_build_object('f004', (g % 50000 + 100)::text, 'f010', 'big-' || g), md5(g::text),
       CASE WHEN g % 20 < 17 THEN 'SUCCESSFUL' WHEN g % 20 < 19 THEN 'FAILED' ELSE 'UNKNOWN' END,
       'seeded', 200, now() - g * interval '5.184 seconds', now() - g * interval '5.184 seconds'
  FROM generate_series(1, CAST(:n AS integer)) AS g

-- name: seed_api_logs
-- 2,000,000 API log rows over the last 120 days (some older than the 90-day retention).
INSERT INTO api_logs (request_id, client_id, app_id, endpoint, method, status_code, duration_ms, ip,
                      request_body, response_body, created_at)
SELECT md5(g::text), CAST(:client_id AS bigint), 'bench', '/api/v1/payment/process', 'POST',
       CASE WHEN g % 100 = 0 THEN 502 ELSE 200 END, (g % 300)::numeric / 10, '127.0.0.1',
       jsonb_build_object('f010', 'big-' || g), jsonb_build_object('status', 'SUCCESSFUL'),
       now() - g * interval '5.184 seconds'
  FROM generate_series(1, CAST(:n AS integer)) AS g
