-- Money safety (issue 4): replays, reconciliation, operator resolutions, callbacks, webhooks.

-- name: stored_answer
-- A replay waiting for the first request of the same f010 (possibly in another process).
SELECT response_code, response_body FROM transactions WHERE id = :id
