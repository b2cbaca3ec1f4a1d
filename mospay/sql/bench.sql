-- The benchmark's bulk data (`python -m mospay.bench --big-data`): it then times the portal's own
-- named queries (reports.sql) on these rows.

-- name: seed_transactions
-- 1,000,000 transactions over the last 60 days: 85% successful, 10% failed, 5% still open.
INSERT INTO transactions (client_id, service_id, route, f010, amount, msisdn, request, request_hash, status,
                          status_reason, response_code, created_at, updated_at)
SELECT CAST(:client_id AS bigint), CAST(:service_id AS bigint), 'collection', 'big-' || g,
       (g % 50000 + 100)::numeric(18, 2), '+2507881' || lpad((g % 100000)::text, 5, '0'),
       jsonb_build_object('f004', (g % 50000 + 100)::text, 'f010', 'big-' || g), md5(g::text),
       CASE WHEN g % 20 < 17 THEN 'SUCCESSFUL' WHEN g % 20 < 19 THEN 'FAILED' ELSE 'UNKNOWN' END,
       'seeded', 200, now() - g * interval '5.184 seconds', now() - g * interval '5.184 seconds'
  FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS g

-- name: seed_api_logs
-- 2,000,000 API log rows over the last 120 days (some older than the 90-day retention).
INSERT INTO api_logs (request_id, client_id, app_id, endpoint, method, status_code, duration_ms, ip,
                      request_body, response_body, created_at)
SELECT md5(g::text), CAST(:client_id AS bigint), 'bench', '/api/v1/payment/process', 'POST',
       CASE WHEN g % 100 = 0 THEN 502 ELSE 200 END, (g % 300)::numeric / 10, '127.0.0.1',
       jsonb_build_object('f010', 'big-' || g), jsonb_build_object('status', 'SUCCESSFUL'),
       now() - g * interval '5.184 seconds'
  FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS g

-- name: seed_transactions_spread
-- The same rows as seed_transactions over 100 clients (--big-data, the merchant portal's pages): one in
-- ten to the first client (100,000 of 1,000,000: the CSV export's size; runs of 20 rows, so it has every
-- status in the same shares), the rest spread over the others.
INSERT INTO transactions (client_id, service_id, route, f010, amount, msisdn, request, request_hash, status,
                          status_reason, response_code, created_at, updated_at)
SELECT CASE WHEN (g / 20) % 10 = 0 THEN (CAST(:client_ids AS bigint[]))[1]
            ELSE (CAST(:client_ids AS bigint[]))[2 + g % (cardinality(CAST(:client_ids AS bigint[])) - 1)] END,
       CAST(:service_id AS bigint), 'collection', 'big-' || g,
       (g % 50000 + 100)::numeric(18, 2), '+2507881' || lpad((g % 100000)::text, 5, '0'),
       jsonb_build_object('f004', (g % 50000 + 100)::text, 'f010', 'big-' || g), md5(g::text),
       CASE WHEN g % 20 < 17 THEN 'SUCCESSFUL' WHEN g % 20 < 19 THEN 'FAILED' ELSE 'UNKNOWN' END,
       'seeded', 200, now() - g * interval '5.184 seconds', now() - g * interval '5.184 seconds'
  FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS g

-- name: seed_webhook_log
-- A month of a client's webhook events (test events: no transaction) with one attempt each.
WITH events AS (
    INSERT INTO webhook_events (client_id, event_type, payload, state, attempts, delivered_at, created_at)
    SELECT CAST(:client_id AS bigint), 'test.ping', '{}'::jsonb, 'DELIVERED', 1,
           now() - g * interval '4 minutes', now() - g * interval '4 minutes'
      FROM generate_series(1, CAST(:n AS integer)) AS g
    RETURNING id, created_at)
INSERT INTO webhook_attempts (event_id, url, http_status, duration_ms, response_excerpt, attempted_at)
SELECT id, 'https://shop.example/hooks', 200, 12.5, '{"received": true}', created_at FROM events

-- name: seed_clients
-- :n more clients for --big-data (no services: their rows are only read).
INSERT INTO clients (app_id, company_name, api_username, api_secret_hash)
SELECT 'benchm' || g, 'Bench merchant ' || g, 'mp_bench' || g, md5(g::text)
  FROM generate_series(1, CAST(:n AS integer)) AS g
RETURNING id
-- name: seed_varied_transactions
-- `python -m mospay.bench --analytics`: transactions over the last 90 days across the given clients,
-- services and two routes; 85% successful, 10% failed (eight provider reasons), 5% open; a provider
-- latency on each; one in twelve settled by the reconciler, minutes after it was created.
INSERT INTO transactions (client_id, service_id, route, f010, amount, msisdn, request, request_hash, status,
                          status_reason, response_code, provider_http_status, provider_response, provider_ms,
                          check_attempts, created_at, updated_at)
SELECT (CAST(:client_ids AS bigint[]))[1 + g % cardinality(CAST(:client_ids AS bigint[]))],
       (CAST(:service_ids AS bigint[]))[1 + (g / 7) % cardinality(CAST(:service_ids AS bigint[]))],
       CASE WHEN g % 3 = 0 THEN 'payout' ELSE 'collection' END, 'var-' || g,
       (g % 50000 + 100)::numeric(18, 2), '+2507881' || lpad((g % 100000)::text, 5, '0'),
       jsonb_build_object('f010', 'var-' || g), md5(g::text),
       CASE WHEN g % 20 < 17 THEN 'SUCCESSFUL' WHEN g % 20 < 19 THEN 'FAILED' ELSE 'UNKNOWN' END,
       CASE WHEN g % 12 = 0 THEN 'reconciliation' ELSE 'provider response' END, 200,
       CASE WHEN g % 20 = 18 AND g % 8 = 0 THEN 500 ELSE 200 END,
       CASE WHEN g % 20 IN (17, 18) THEN jsonb_build_object('status', 'FAILED', 'reason',
            (ARRAY['NOT_ENOUGH_FUNDS', 'PAYER_NOT_FOUND', 'APPROVAL_REJECTED', 'EXPIRED', 'PAYEE_NOT_ALLOWED',
                   'INTERNAL_PROCESSING_ERROR', 'LIMIT_EXCEEDED', 'INVALID_CURRENCY'])[1 + (g / 20) % 8])
            ELSE jsonb_build_object('status', 'SUCCESSFUL') END,
       ((g::bigint * 7919) % 1200 + CASE WHEN g % 50 = 0 THEN 9000 ELSE 40 END)::numeric,
       CASE WHEN g % 12 = 0 THEN 1 + g % 3 ELSE 0 END,
       now() - g * (interval '90 days' / CAST(:rows AS integer)),
       now() - g * (interval '90 days' / CAST(:rows AS integer))
             + CASE WHEN g % 12 = 0 THEN make_interval(secs => 60 + g % 600) ELSE interval '2 seconds' END
  FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS g
