-- The merchant dashboard's figures: every statement is one client's (client_id in the statement), and
-- reads transactions_client_created_idx (client_id, created_at DESC, id DESC).

-- name: merchant_dashboard_totals
-- Today and the last 30 days (today and the 29 days before, UTC) per currency: every payment counted,
-- the value of the successful ones, and the success rate's parts over final states only.
SELECT s.currency,
       count(*) FILTER (WHERE t.created_at >= date_trunc('day', now())) AS today_count,
       count(*) FILTER (WHERE t.created_at >= date_trunc('day', now()) AND t.status = 'SUCCESSFUL') AS today_successful,
       count(*) FILTER (WHERE t.created_at >= date_trunc('day', now()) AND t.status IN ('SUCCESSFUL', 'FAILED'))
           AS today_final,
       coalesce(sum(t.amount) FILTER (WHERE t.created_at >= date_trunc('day', now()) AND t.status = 'SUCCESSFUL'), 0)
           AS today_value,
       count(*) AS month_count,
       count(*) FILTER (WHERE t.status = 'SUCCESSFUL') AS month_successful,
       count(*) FILTER (WHERE t.status IN ('SUCCESSFUL', 'FAILED')) AS month_final,
       coalesce(sum(t.amount) FILTER (WHERE t.status = 'SUCCESSFUL'), 0) AS month_value
  FROM transactions t JOIN services s ON s.id = t.service_id
 WHERE t.client_id = :client_id AND t.created_at >= date_trunc('day', now()) - interval '29 days'
 GROUP BY s.currency
 ORDER BY s.currency

-- name: merchant_dashboard_daily
-- Per service and day (0 = today) over the last 30 days: payments by status and the successful value.
SELECT s.name AS service, s.currency,
       extract(day FROM date_trunc('day', now()) - date_trunc('day', t.created_at))::int AS days_ago,
       t.status, count(*) AS n, coalesce(sum(t.amount) FILTER (WHERE t.status = 'SUCCESSFUL'), 0) AS value
  FROM transactions t JOIN services s ON s.id = t.service_id
 WHERE t.client_id = :client_id AND t.created_at >= date_trunc('day', now()) - interval '29 days'
 GROUP BY 1, 2, 3, 4

-- name: merchant_open_payments
-- The client's open payments waiting for the provider (PENDING) or for an answer (UNKNOWN), oldest first.
SELECT t.public_id, t.f010, t.status, t.amount, s.currency, s.name AS service, t.created_at, t.updated_at,
       extract(epoch FROM now() - t.updated_at)::bigint AS age_s
  FROM transactions t JOIN services s ON s.id = t.service_id
 WHERE t.client_id = :client_id AND t.status IN ('PENDING', 'UNKNOWN')
 ORDER BY t.updated_at
 LIMIT :limit

-- name: merchant_open_count
SELECT count(*) AS n FROM transactions WHERE client_id = :client_id AND status IN ('PENDING', 'UNKNOWN')
