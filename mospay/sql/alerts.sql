-- Alert rules, alerts and their deliveries (schema/96_alerts.sql), and the metrics rules are evaluated on.
-- Every metric query takes :now (NULL: the database's clock), :window_s, :service_id and :client_id (NULL:
-- every one) and answers one row per key: service, app_id (NULL when the key has no client), value, n
-- (how many observations the value stands on: the min_count guard).

-- name: alert_metric_success_rate
-- Final states only (PENDING/UNKNOWN are no failure yet), in percent, per service.
SELECT s.name AS service, CAST(:app_id AS text) AS app_id,
       round(100.0 * count(*) FILTER (WHERE t.status = 'SUCCESSFUL') / count(*), 4) AS value, count(*) AS n
  FROM transactions t JOIN services s ON s.id = t.service_id
 WHERE t.created_at > coalesce(CAST(:now AS timestamptz), now()) - make_interval(secs => :window_s)
   AND t.created_at <= coalesce(CAST(:now AS timestamptz), now())
   AND t.status IN ('SUCCESSFUL', 'FAILED')
   AND (CAST(:service_id AS bigint) IS NULL OR t.service_id = CAST(:service_id AS bigint))
   AND (CAST(:client_id AS bigint) IS NULL OR t.client_id = CAST(:client_id AS bigint))
 GROUP BY s.name

-- name: alert_metric_provider_errors
-- The payment call's own outcome: the event that took the payment out of RECEIVED carries its cause
-- (finish_payment's status_reason). Errors are timeouts, transport failures and HTTP 5xx, in percent of
-- the calls that reached the provider (nothing sent, or refused by the request function, is not counted).
SELECT s.name AS service, CAST(:app_id AS text) AS app_id,
       round(100.0 * count(*) FILTER (WHERE e.cause IN ('provider timeout', 'provider connection')
                                         OR t.provider_http_status >= 500) / count(*), 4) AS value,
       count(*) AS n
  FROM transactions t
  JOIN services s ON s.id = t.service_id
  JOIN transaction_events e ON e.transaction_id = t.id AND e.from_status = 'RECEIVED'
 WHERE t.created_at > coalesce(CAST(:now AS timestamptz), now()) - make_interval(secs => :window_s)
   AND t.created_at <= coalesce(CAST(:now AS timestamptz), now())
   AND (e.cause IN ('provider response', 'provider timeout', 'provider connection')
        OR e.cause LIKE 'response function error%')
   AND (CAST(:service_id AS bigint) IS NULL OR t.service_id = CAST(:service_id AS bigint))
   AND (CAST(:client_id AS bigint) IS NULL OR t.client_id = CAST(:client_id AS bigint))
 GROUP BY s.name

-- name: alert_metric_latency_p95_ms
-- The provider's answer time: from the row recorded before the call to the event that recorded its
-- answer (the call plus one round trip), over the same calls as provider_errors.
SELECT s.name AS service, CAST(:app_id AS text) AS app_id,
       round(CAST(percentile_cont(0.95) WITHIN GROUP (
           ORDER BY extract(epoch FROM e.created_at - t.created_at) * 1000) AS numeric), 4) AS value,
       count(*) AS n
  FROM transactions t
  JOIN services s ON s.id = t.service_id
  JOIN transaction_events e ON e.transaction_id = t.id AND e.from_status = 'RECEIVED'
 WHERE t.created_at > coalesce(CAST(:now AS timestamptz), now()) - make_interval(secs => :window_s)
   AND t.created_at <= coalesce(CAST(:now AS timestamptz), now())
   AND (e.cause IN ('provider response', 'provider timeout', 'provider connection')
        OR e.cause LIKE 'response function error%')
   AND (CAST(:service_id AS bigint) IS NULL OR t.service_id = CAST(:service_id AS bigint))
   AND (CAST(:client_id AS bigint) IS NULL OR t.client_id = CAST(:client_id AS bigint))
 GROUP BY s.name

-- name: alert_metric_open_payments
-- PENDING or UNKNOWN for longer than the window (the window is the age here), per service.
SELECT s.name AS service, CAST(:app_id AS text) AS app_id, count(*) AS value, count(*) AS n
  FROM transactions t JOIN services s ON s.id = t.service_id
 WHERE t.status IN ('PENDING', 'UNKNOWN')
   AND t.created_at <= coalesce(CAST(:now AS timestamptz), now()) - make_interval(secs => :window_s)
   AND (CAST(:service_id AS bigint) IS NULL OR t.service_id = CAST(:service_id AS bigint))
   AND (CAST(:client_id AS bigint) IS NULL OR t.client_id = CAST(:client_id AS bigint))
 GROUP BY s.name

-- name: alert_metric_stuck
-- The operator's queue: open transactions the reconciler gave up on, per service (a level, no window).
SELECT s.name AS service, CAST(:app_id AS text) AS app_id, count(*) AS value, count(*) AS n
  FROM transactions t JOIN services s ON s.id = t.service_id
 WHERE t.stuck AND t.status IN ('RECEIVED', 'PENDING', 'UNKNOWN')
   AND (CAST(:service_id AS bigint) IS NULL OR t.service_id = CAST(:service_id AS bigint))
   AND (CAST(:client_id AS bigint) IS NULL OR t.client_id = CAST(:client_id AS bigint))
 GROUP BY s.name

-- name: alert_metric_webhook_failing
-- Client webhook events in retry (failed at least once, not yet delivered nor given up) or given up
-- within the window, per client.
SELECT CAST(NULL AS text) AS service, c.app_id, count(*) AS value, count(*) AS n
  FROM webhook_events w
  JOIN clients c ON c.id = w.client_id
  JOIN transactions t ON t.id = w.transaction_id
 WHERE ((w.state = 'PENDING' AND w.attempts > 0)
        OR (w.state = 'GAVE_UP'
            AND w.next_attempt_at > coalesce(CAST(:now AS timestamptz), now()) - make_interval(secs => :window_s)))
   AND (CAST(:service_id AS bigint) IS NULL OR t.service_id = CAST(:service_id AS bigint))
   AND (CAST(:client_id AS bigint) IS NULL OR w.client_id = CAST(:client_id AS bigint))
 GROUP BY c.app_id

-- name: alert_metric_no_traffic
-- Payments recorded in the window per active service (the client's assigned ones when the rule names a
-- client): a service with none answers 0, so silence is seen.
SELECT s.name AS service, CAST(:app_id AS text) AS app_id, count(t.id) AS value, count(t.id) AS n
  FROM services s
  LEFT JOIN transactions t
         ON t.service_id = s.id
        AND t.created_at > coalesce(CAST(:now AS timestamptz), now()) - make_interval(secs => :window_s)
        AND t.created_at <= coalesce(CAST(:now AS timestamptz), now())
        AND (CAST(:client_id AS bigint) IS NULL OR t.client_id = CAST(:client_id AS bigint))
 WHERE s.active
   AND (CAST(:service_id AS bigint) IS NULL OR s.id = CAST(:service_id AS bigint))
   AND (CAST(:client_id AS bigint) IS NULL OR EXISTS (
           SELECT 1 FROM client_services cs
            WHERE cs.client_id = CAST(:client_id AS bigint) AND cs.service_id = s.id AND cs.active))
 GROUP BY s.name

-- name: alert_metric_volume
-- Payments recorded in the window (measure count), or the amount of the successful ones (measure
-- amount), per service.
SELECT s.name AS service, CAST(:app_id AS text) AS app_id,
       CASE WHEN CAST(:measure AS text) = 'amount'
            THEN coalesce(sum(t.amount) FILTER (WHERE t.status = 'SUCCESSFUL'), 0)
            ELSE count(*) END AS value,
       count(*) AS n
  FROM transactions t JOIN services s ON s.id = t.service_id
 WHERE t.created_at > coalesce(CAST(:now AS timestamptz), now()) - make_interval(secs => :window_s)
   AND t.created_at <= coalesce(CAST(:now AS timestamptz), now())
   AND (CAST(:service_id AS bigint) IS NULL OR t.service_id = CAST(:service_id AS bigint))
   AND (CAST(:client_id AS bigint) IS NULL OR t.client_id = CAST(:client_id AS bigint))
 GROUP BY s.name

-- name: alert_now
SELECT coalesce(CAST(:now AS timestamptz), now()) AS now

-- name: alert_rule_insert
INSERT INTO alert_rules (name, metric, service_id, client_id, op, threshold, measure, window_s, min_count, for_s,
                         repeat_s, severity, channels, enabled, created_by)
VALUES (:name, :metric, :service_id, :client_id, :op, CAST(:threshold AS numeric), :measure, :window_s, :min_count,
        :for_s, :repeat_s, :severity, CAST(:channels AS jsonb), :enabled, :created_by)
RETURNING id

-- name: alert_rule_update
UPDATE alert_rules
   SET name = :name, metric = :metric, service_id = :service_id, client_id = :client_id, op = :op,
       threshold = CAST(:threshold AS numeric), measure = :measure, window_s = :window_s, min_count = :min_count,
       for_s = :for_s, repeat_s = :repeat_s, severity = :severity, channels = CAST(:channels AS jsonb),
       enabled = :enabled, updated_at = now()
 WHERE id = :id
RETURNING id

-- name: alert_rule_delete
DELETE FROM alert_rules WHERE id = :id RETURNING id

-- name: alert_rules
-- Every rule with its service and client names and how many of its alerts are open.
SELECT r.id, r.name, r.metric, s.name AS service, c.app_id, r.service_id, r.client_id, r.op, r.threshold,
       r.measure, r.window_s, r.min_count, r.for_s, r.repeat_s, r.severity, r.channels, r.enabled,
       r.created_by, r.created_at, r.updated_at,
       (SELECT count(*) FROM alerts a WHERE a.rule_id = r.id AND a.state = 'firing') AS firing
  FROM alert_rules r
  LEFT JOIN services s ON s.id = r.service_id
  LEFT JOIN clients c ON c.id = r.client_id
 WHERE (CAST(:id AS bigint) IS NULL OR r.id = CAST(:id AS bigint))
   AND (NOT CAST(:enabled_only AS boolean) OR r.enabled)
 ORDER BY r.name

-- name: alerts_open_of_rule
SELECT id, service, app_id, state, created_at, fired_at, last_notified_at, acknowledged_at
  FROM alerts WHERE rule_id = :rule_id AND state <> 'resolved'

-- name: alert_open
INSERT INTO alerts (rule_id, service, app_id, state, value, observed_count, created_at, fired_at, evaluated_at)
VALUES (:rule_id, :service, :app_id, :state, CAST(:value AS numeric), CAST(:n AS bigint), CAST(:now AS timestamptz),
        CASE WHEN :state = 'firing' THEN CAST(:now AS timestamptz) END, CAST(:now AS timestamptz))
RETURNING id

-- name: alert_observe
UPDATE alerts
   SET value = coalesce(CAST(:value AS numeric), value), observed_count = coalesce(CAST(:n AS bigint), observed_count),
       evaluated_at = CAST(:now AS timestamptz),
       state = :state,
       fired_at = CASE WHEN :state = 'pending' THEN NULL ELSE coalesce(fired_at, CAST(:now AS timestamptz)) END,
       resolved_at = CASE WHEN :state = 'resolved' THEN CAST(:now AS timestamptz) END,
       last_notified_at = CASE WHEN :notified THEN CAST(:now AS timestamptz) ELSE last_notified_at END
 WHERE id = :id AND state <> 'resolved'
RETURNING id

-- name: alert_forget
-- A pending alert whose breach ended before for_s: it never fired, nobody was told, nothing to keep.
DELETE FROM alerts WHERE id = :id AND state = 'pending'

-- name: alert_acknowledge
UPDATE alerts SET acknowledged_by = :username, acknowledged_at = now()
 WHERE id = :id AND state <> 'resolved' AND acknowledged_at IS NULL
RETURNING id

-- name: alert_detail
SELECT a.id, a.rule_id, r.name AS rule, r.metric, r.severity, r.op, r.threshold, r.window_s, a.service, a.app_id,
       a.state, a.value, a.observed_count, a.created_at, a.fired_at, a.resolved_at, a.evaluated_at,
       a.last_notified_at, a.acknowledged_by, a.acknowledged_at
  FROM alerts a JOIN alert_rules r ON r.id = a.rule_id
 WHERE a.id = :id

-- name: alerts_page
-- The history, newest first, keyset on (created_at, id); every filter optional.
SELECT a.id, a.rule_id, r.name AS rule, r.metric, r.severity, r.op, r.threshold, r.window_s, a.service, a.app_id,
       a.state, a.value, a.observed_count, a.created_at, a.fired_at, a.resolved_at, a.evaluated_at,
       a.last_notified_at, a.acknowledged_by, a.acknowledged_at
  FROM alerts a JOIN alert_rules r ON r.id = a.rule_id
 WHERE (CAST(:state AS text) IS NULL OR a.state = CAST(:state AS text)
        OR (CAST(:state AS text) = 'open' AND a.state <> 'resolved'))
   AND (CAST(:rule_id AS bigint) IS NULL OR a.rule_id = CAST(:rule_id AS bigint))
   AND (CAST(:severity AS text) IS NULL OR r.severity = CAST(:severity AS text))
   AND (CAST(:service AS text) IS NULL OR a.service = CAST(:service AS text))
   AND (CAST(:app_id AS text) IS NULL OR a.app_id = CAST(:app_id AS text))
   AND (CAST(:since AS timestamptz) IS NULL OR a.created_at >= CAST(:since AS timestamptz))
   AND (CAST(:before_at AS timestamptz) IS NULL
        OR (a.created_at, a.id) < (CAST(:before_at AS timestamptz), CAST(:before_id AS bigint)))
 ORDER BY a.created_at DESC, a.id DESC
 LIMIT :limit

-- name: alert_delivery_insert
INSERT INTO alert_deliveries (alert_id, rule_id, kind, channel, subject, message)
VALUES (:alert_id, :rule_id, :kind, CAST(:channel AS jsonb), :subject, CAST(:message AS jsonb))
RETURNING id

-- name: alert_deliveries_claim
-- Due deliveries, each leased for two minutes (SKIP LOCKED: several senders never take the same one).
WITH due AS (
    SELECT id FROM alert_deliveries
     WHERE state = 'PENDING' AND next_attempt_at <= now()
     ORDER BY next_attempt_at, id
     LIMIT :limit
       FOR UPDATE SKIP LOCKED)
UPDATE alert_deliveries d SET next_attempt_at = now() + interval '120 seconds'
  FROM due WHERE d.id = due.id
RETURNING d.id, d.alert_id, d.rule_id, d.kind, d.channel, d.subject, d.message, d.attempts

-- name: alert_delivery_result
-- One attempt's outcome: SENT, or retried after :delay_s, given up after :max_attempts.
WITH d AS (
    UPDATE alert_deliveries
       SET attempts = attempts + 1, last_response = :response,
           state = CASE WHEN :ok THEN 'SENT' WHEN attempts + 1 >= :max_attempts THEN 'GAVE_UP' ELSE 'PENDING' END,
           sent_at = CASE WHEN :ok THEN now() END,
           next_attempt_at = CASE WHEN :ok THEN next_attempt_at ELSE now() + make_interval(secs => :delay_s) END
     WHERE id = :id
    RETURNING id, attempts, state)
INSERT INTO alert_delivery_attempts (delivery_id, attempt, ok, response, duration_ms)
SELECT d.id, d.attempts, :ok, :response, :duration_ms FROM d
RETURNING (SELECT state FROM d) AS state

-- name: alert_deliveries_of_alert
SELECT id, kind, channel, state, attempts, next_attempt_at, last_response, sent_at, created_at
  FROM alert_deliveries WHERE alert_id = :alert_id ORDER BY id

-- name: alert_deliveries_recent
-- The delivery log: the latest deliveries (tests included), newest first.
SELECT d.id, d.alert_id, r.name AS rule, d.kind, d.channel, d.state, d.attempts, d.next_attempt_at,
       d.last_response, d.sent_at, d.created_at
  FROM alert_deliveries d LEFT JOIN alert_rules r ON r.id = d.rule_id
 ORDER BY d.id DESC
 LIMIT :limit
