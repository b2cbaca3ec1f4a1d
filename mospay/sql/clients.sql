-- API clients: creation, credentials, the portal's list, detail, edits and figures.

-- name: insert_client
INSERT INTO clients (app_id, company_name, contact_email, callback_url, api_username, api_secret_hash)
VALUES (:app_id, :company_name, :contact_email, :callback_url, :api_username, :api_secret_hash)
RETURNING id, app_id, company_name, api_username, active, created_at

-- name: roll_client_secret
-- The new secret's hash becomes current; the old one keeps working for :overlap_s seconds (0: not at all).
SELECT o_app_id, o_api_username, o_generation, o_previous_generation, o_previous_expires_at
  FROM mospay.roll_client_secret(:app_id, :secret_hash, CAST(:overlap_s AS integer))

-- name: client_secret_generations
-- A client's API secret generations, newest first, with their state and last use (never a hash).
SELECT k.generation, k.created_at, k.expires_at, k.last_used_at, k.last_used_ip,
       CASE WHEN k.generation = c.credential_version THEN 'current'
            WHEN k.expires_at > now() THEN 'overlap' ELSE 'expired' END AS state
  FROM client_secrets k JOIN clients c ON c.id = k.client_id
 WHERE k.client_id = :client_id
 ORDER BY k.generation DESC
 LIMIT 20

-- name: clients_page
SELECT c.id, c.app_id, c.company_name, c.contact_email, c.active, c.created_at,
       (SELECT count(*) FROM client_services cs WHERE cs.client_id = c.id) AS services
  FROM clients c
 WHERE CAST(:q AS text) IS NULL OR c.app_id ILIKE '%' || CAST(:q AS text) || '%'
       OR c.company_name ILIKE '%' || CAST(:q AS text) || '%'
       OR c.contact_email ILIKE '%' || CAST(:q AS text) || '%'
 ORDER BY c.company_name, c.id
 LIMIT :limit OFFSET :offset

-- name: client_detail
SELECT id, app_id, company_name, contact_email, callback_url, api_username, credential_version, active,
       created_at, updated_at
  FROM clients WHERE app_id = :app_id

-- name: client_update
UPDATE clients SET company_name = :company_name, contact_email = :contact_email,
                   callback_url = :callback_url, active = :active, updated_at = now()
 WHERE app_id = :app_id
RETURNING app_id

-- name: client_set_active
UPDATE clients SET active = :active, updated_at = now() WHERE app_id = :app_id RETURNING app_id

-- name: client_stats
SELECT count(*) AS total, count(*) FILTER (WHERE status = 'SUCCESSFUL') AS successful,
       count(*) FILTER (WHERE status IN ('SUCCESSFUL', 'FAILED')) AS settled
  FROM transactions WHERE client_id = :client_id

-- name: client_limits
-- A client's own limits, for the audit row's "before" when the admin API replaces them.
SELECT rate_limit_per_minute, max_amount_per_transaction, max_amount_per_day
  FROM clients WHERE app_id = :app_id

-- name: clients_after
-- The admin API's client list: the portal's search, in keyset pages (newest first).
SELECT c.id, c.app_id, c.company_name, c.contact_email, c.callback_url, c.api_username, c.active,
       c.created_at, c.updated_at
  FROM clients c
 WHERE (CAST(:q AS text) IS NULL OR c.app_id ILIKE '%' || CAST(:q AS text) || '%'
        OR c.company_name ILIKE '%' || CAST(:q AS text) || '%'
        OR c.contact_email ILIKE '%' || CAST(:q AS text) || '%')
   AND (CAST(:after_at AS timestamptz) IS NULL
        OR (c.created_at, c.id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS bigint)))
 ORDER BY c.created_at DESC, c.id DESC
 LIMIT :limit
