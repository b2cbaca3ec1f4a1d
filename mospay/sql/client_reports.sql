-- Client statements (mospay/client_reports.py) and their scheduled delivery (mospay/report_delivery.py).
-- A statement's scope is a client, a service or both: :client_id / :service_id, each NULL for "any"
-- (a merchant's own statement always passes its client_id: the filter is in the statement).

-- name: report_totals
-- Transactions created in the period, by their status now, in each currency.
SELECT t.status, s.currency, count(*)::bigint AS payments, sum(t.amount) AS amount
  FROM transactions t JOIN services s ON s.id = t.service_id
 WHERE t.created_at >= CAST(:start AS timestamptz) AND t.created_at < CAST(:end AS timestamptz)
   AND (CAST(:client_id AS bigint) IS NULL OR t.client_id = CAST(:client_id AS bigint))
   AND (CAST(:service_id AS bigint) IS NULL OR t.service_id = CAST(:service_id AS bigint))
 GROUP BY t.status, s.currency
 ORDER BY t.status, s.currency

-- name: report_open_items
-- Open at :at: created before it and not settled by then (a final transaction's updated_at is when it
-- was settled: nothing writes a final row's updated_at again).
SELECT s.currency, count(*)::bigint AS payments, sum(t.amount) AS amount
  FROM transactions t JOIN services s ON s.id = t.service_id
 WHERE t.created_at < CAST(:at AS timestamptz)
   AND (t.status IN ('RECEIVED', 'PENDING', 'UNKNOWN') OR t.updated_at >= CAST(:at AS timestamptz))
   AND (CAST(:client_id AS bigint) IS NULL OR t.client_id = CAST(:client_id AS bigint))
   AND (CAST(:service_id AS bigint) IS NULL OR t.service_id = CAST(:service_id AS bigint))
 GROUP BY s.currency
 ORDER BY s.currency

-- name: report_scope_client
SELECT id, app_id, company_name FROM clients WHERE app_id = :app_id

-- name: report_scope_service
SELECT id, name, currency FROM services WHERE name = :name

-- name: report_recipients
SELECT r.id, c.app_id, c.company_name, r.email, r.daily, r.monthly, r.created_by, r.created_at
  FROM report_recipients r JOIN clients c ON c.id = r.client_id
 WHERE (CAST(:client_id AS bigint) IS NULL OR r.client_id = CAST(:client_id AS bigint))
 ORDER BY c.app_id, r.email

-- name: add_report_recipient
-- The same address for the same client again updates which statements it gets.
INSERT INTO report_recipients AS r (client_id, email, daily, monthly, created_by)
VALUES (:client_id, :email, :daily, :monthly, :created_by)
ON CONFLICT (client_id, email) DO UPDATE SET daily = EXCLUDED.daily, monthly = EXCLUDED.monthly
RETURNING r.id, r.email, r.daily, r.monthly, r.created_at

-- name: report_recipient
SELECT r.id, c.app_id, c.company_name, r.email, r.daily, r.monthly, r.created_by, r.created_at
  FROM report_recipients r JOIN clients c ON c.id = r.client_id
 WHERE r.id = :id

-- name: delete_report_recipient
DELETE FROM report_recipients WHERE id = :id RETURNING id

-- name: claim_report_deliveries
-- This run's deliveries of the period's statements: new ones (a recipient of that kind, added before
-- the period ended plus a day), failed ones with attempts left, and ones whose sender died (lease over).
-- The unique key (client, email, kind, period) makes each delivery happen once across instances.
INSERT INTO report_deliveries AS d (client_id, email, kind, period_start, state, attempts, lease_until)
SELECT r.client_id, r.email, CAST(:kind AS text), CAST(:period_start AS date), 'sending', 1,
       now() + make_interval(secs => CAST(:lease_s AS integer))
  FROM report_recipients r
 WHERE (CASE CAST(:kind AS text) WHEN 'daily' THEN r.daily ELSE r.monthly END)
   AND r.created_at < CAST(:period_end AS timestamptz) + interval '1 day'
ON CONFLICT (client_id, email, kind, period_start) DO UPDATE
   SET state = 'sending', attempts = d.attempts + 1,
       lease_until = now() + make_interval(secs => CAST(:lease_s AS integer))
 WHERE (d.state = 'failed' AND d.attempts < CAST(:max_attempts AS integer))
    OR (d.state = 'sending' AND d.lease_until < now())
RETURNING d.id, d.client_id, d.email, d.kind, d.period_start, d.attempts

-- name: finish_report_delivery
UPDATE report_deliveries
   SET state = CASE WHEN CAST(:error AS text) IS NULL THEN 'sent'
                    WHEN attempts >= CAST(:max_attempts AS integer) THEN 'gave_up' ELSE 'failed' END,
       last_error = CAST(:error AS text), lease_until = NULL,
       sent_at = CASE WHEN CAST(:error AS text) IS NULL THEN now() END
 WHERE id = :id
RETURNING state

-- name: report_deliveries_page
SELECT d.id, c.app_id, d.email, d.kind, d.period_start, d.state, d.attempts, d.last_error, d.created_at,
       d.sent_at
  FROM report_deliveries d JOIN clients c ON c.id = d.client_id
 WHERE (CAST(:client_id AS bigint) IS NULL OR d.client_id = CAST(:client_id AS bigint))
   AND (CAST(:after_at AS timestamptz) IS NULL
        OR (d.created_at, d.id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS bigint)))
 ORDER BY d.created_at DESC, d.id DESC
 LIMIT :limit

-- name: report_recipient_client
SELECT app_id FROM clients WHERE id = :client_id
