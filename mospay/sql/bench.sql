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
