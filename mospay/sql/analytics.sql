-- Analytics (mospay/analytics.py): every figure read from the rollups (schema/35_rollups.sql), for a
-- window of whole hours (whole days past 1 day: rows before yesterday are one per day). :client_id narrows to one client (a merchant's own analytics: the filter is in
-- the statement), :service to one service; :by names the split (service, client, or service/route).

-- name: analytics_groups
-- Per group of the split and status: the counts, money, latency histogram (b1..b16) and reconciliation.
-- Summed first by the rollups' own keys (a few hundred groups, which the planner estimates well and
-- hashes), then by the split's label.
SELECT CASE CAST(:by AS text) WHEN 'client' THEN c.app_id WHEN 'route' THEN s.name || '/' || r.route
                              ELSE s.name END AS grp,
       r.status, s.currency, sum(r.payments)::bigint AS payments, sum(r.amount) AS amount,
       sum(r.latency_count)::bigint AS latency_count, sum(r.latency_ms_sum) AS latency_ms_sum,
       sum(r.reconciled)::bigint AS reconciled, sum(r.settle_s_sum) AS settle_s_sum,
       sum(r.b1)::bigint AS b1, sum(r.b2)::bigint AS b2, sum(r.b3)::bigint AS b3, sum(r.b4)::bigint AS b4,
       sum(r.b5)::bigint AS b5, sum(r.b6)::bigint AS b6, sum(r.b7)::bigint AS b7, sum(r.b8)::bigint AS b8,
       sum(r.b9)::bigint AS b9, sum(r.b10)::bigint AS b10, sum(r.b11)::bigint AS b11,
       sum(r.b12)::bigint AS b12, sum(r.b13)::bigint AS b13, sum(r.b14)::bigint AS b14,
       sum(r.b15)::bigint AS b15, sum(r.b16)::bigint AS b16
  FROM (SELECT service_id, client_id, route, status, sum(payments) AS payments, sum(amount) AS amount,
               sum(latency_count) AS latency_count, sum(latency_ms_sum) AS latency_ms_sum,
               sum(reconciled) AS reconciled, sum(settle_s_sum) AS settle_s_sum,
                   sum(latency_b1) AS b1, sum(latency_b2) AS b2, sum(latency_b3) AS b3,
                   sum(latency_b4) AS b4, sum(latency_b5) AS b5, sum(latency_b6) AS b6,
                   sum(latency_b7) AS b7, sum(latency_b8) AS b8, sum(latency_b9) AS b9,
                   sum(latency_b10) AS b10, sum(latency_b11) AS b11, sum(latency_b12) AS b12,
                   sum(latency_b13) AS b13, sum(latency_b14) AS b14, sum(latency_b15) AS b15,
                   sum(latency_b16) AS b16
          FROM payment_rollups
         WHERE hour >= CAST(:since AS timestamptz) AND hour < CAST(:until AS timestamptz)
           AND (CAST(:client_id AS bigint) IS NULL OR client_id = CAST(:client_id AS bigint))
           AND (CAST(:service AS text) IS NULL
                OR service_id = (SELECT id FROM services WHERE name = CAST(:service AS text)))
         GROUP BY service_id, client_id, route, status) r
  JOIN services s ON s.id = r.service_id JOIN clients c ON c.id = r.client_id
 GROUP BY 1, 2, 3
HAVING sum(r.payments) <> 0

-- name: analytics_series
-- Payments per step (hour or day, UTC) and status, for the chart.
SELECT date_trunc(CAST(:step AS text), r.hour, 'UTC') AS at, r.status, sum(r.payments)::bigint AS payments
  FROM payment_rollups r
 WHERE r.hour >= CAST(:since AS timestamptz) AND r.hour < CAST(:until AS timestamptz)
   AND (CAST(:client_id AS bigint) IS NULL OR r.client_id = CAST(:client_id AS bigint))
   AND (CAST(:service AS text) IS NULL
        OR r.service_id = (SELECT id FROM services WHERE name = CAST(:service AS text)))
 GROUP BY 1, 2
HAVING sum(r.payments) <> 0

-- name: analytics_failures
-- The top failure reasons: the provider's HTTP status, code and message, grouped.
SELECT f.http_status, f.code, f.message, sum(f.payments)::bigint AS payments,
       string_agg(DISTINCT s.name, ', ') AS services
  FROM failure_rollups f JOIN services s ON s.id = f.service_id
 WHERE f.hour >= CAST(:since AS timestamptz) AND f.hour < CAST(:until AS timestamptz)
   AND (CAST(:client_id AS bigint) IS NULL OR f.client_id = CAST(:client_id AS bigint))
   AND (CAST(:service AS text) IS NULL OR s.name = CAST(:service AS text))
 GROUP BY f.http_status, f.code, f.message
HAVING sum(f.payments) > 0
 ORDER BY 4 DESC, 2, 3
 LIMIT 10

-- name: client_id_by_app_id
SELECT id FROM clients WHERE app_id = :app_id

-- name: fold_rollups
SELECT mospay.fold_rollups(CAST(:before AS timestamptz)) AS folded
