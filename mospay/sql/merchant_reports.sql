-- The merchant dashboard's figures: every statement is one client's (client_id in the statement), and
-- reads transactions_client_created_idx (client_id, created_at DESC, id DESC).

-- name: merchant_dashboard_daily
-- Per service and day (0 = today; the last 30 days are today and the 29 UTC days before): payments by
-- status and the successful value. The dashboard's totals are sums of these rows: one scan, not two.
SELECT s.name AS service, s.currency,
       extract(day FROM date_trunc('day', now()) - date_trunc('day', t.created_at))::int AS days_ago,
       t.status, count(*) AS n, coalesce(sum(t.amount) FILTER (WHERE t.status = 'SUCCESSFUL'), 0) AS value
  FROM transactions t JOIN services s ON s.id = t.service_id
 WHERE t.client_id = :client_id AND t.created_at >= date_trunc('day', now()) - interval '29 days'
 GROUP BY 1, 2, 3, 4

-- name: merchant_open_payments
-- The client's open payments waiting for the provider (PENDING) or for an answer (UNKNOWN), oldest first,
-- each row with how many there are in all (the window runs before the LIMIT).
SELECT t.public_id, t.f010, t.status, t.amount, s.currency, s.name AS service, t.created_at, t.updated_at,
       extract(epoch FROM now() - t.updated_at)::bigint AS age_s, count(*) OVER () AS open_count
  FROM transactions t JOIN services s ON s.id = t.service_id
 WHERE t.client_id = :client_id AND t.status IN ('PENDING', 'UNKNOWN')
 ORDER BY t.updated_at
 LIMIT :limit
