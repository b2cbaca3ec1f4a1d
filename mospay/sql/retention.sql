-- api_logs retention. Batched so that no statement holds many row locks or runs long:
-- payments keep inserting their log rows while old ones go.

-- name: delete_expired_api_logs
DELETE FROM api_logs
 WHERE id IN (SELECT id FROM api_logs
               WHERE created_at < now() - make_interval(days => CAST(:days AS integer))
               ORDER BY created_at, id
               LIMIT CAST(:batch AS integer))
RETURNING 1 AS gone

-- name: delete_old_webhook_attempts
-- Webhook delivery attempts are kept :days days (the delivery log's window).
DELETE FROM webhook_attempts
 WHERE id IN (SELECT id FROM webhook_attempts
               WHERE attempted_at < now() - make_interval(days => CAST(:days AS integer))
               ORDER BY attempted_at
               LIMIT CAST(:batch AS integer))
RETURNING 1 AS gone
