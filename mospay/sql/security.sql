-- Security: throttling, security events and per-client limits. Values are always parameters.

-- name: record_auth_failure (prepared)
-- Only on a failed authentication: the event, the counters, and which keys are blocked now.
SELECT o_key, o_retry_after
  FROM mospay.record_auth_failure(:kind, :ip, :app_id, :username, :endpoint, CAST(:keys AS text[]),
                                  CAST(:limits AS integer[]), :window_s, :counted)

-- name: reserve_auth_attempt
-- Before a password is checked: 0 when this attempt may go ahead (and is counted), else seconds to wait.
SELECT mospay.reserve_auth_attempt(CAST(:keys AS text[]), CAST(:limits AS integer[]), :window_s) AS wait

-- name: release_auth_attempt
-- A successful sign-in gives back the attempt it reserved.
UPDATE auth_throttle SET failures = greatest(failures - 1, 0) WHERE key = ANY(CAST(:keys AS text[]))

-- name: insert_security_event
INSERT INTO security_events (kind, ip, app_id, username, endpoint)
VALUES (:kind, left(:ip, 64), left(:app_id, 64), left(:username, 64), left(:endpoint, 200))

-- name: set_client_limits
UPDATE clients SET rate_limit_per_minute = :rate_limit_per_minute,
                   max_amount_per_transaction = CAST(:max_amount_per_transaction AS numeric),
                   max_amount_per_day = CAST(:max_amount_per_day AS numeric),
                   updated_at = now()
 WHERE app_id = :app_id
RETURNING app_id, rate_limit_per_minute, max_amount_per_transaction, max_amount_per_day
