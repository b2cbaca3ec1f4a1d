-- Admin API keys for automation: creation, the lookup behind every key-authenticated call, last use,
-- revocation.

-- name: api_key_insert
INSERT INTO admin_api_keys (name, role, secret_hash, created_by, expires_at)
VALUES (:name, :role, :secret_hash, :created_by, CAST(:expires_at AS timestamptz))
ON CONFLICT (name) DO NOTHING
RETURNING id, name, role, created_by, created_at, expires_at

-- name: api_key_by_id (prepared)
-- The database's clock decides expiry and whether last use is worth writing again (once a minute).
SELECT id, name, role, secret_hash,
       revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) AS usable,
       last_used_at IS NULL OR last_used_at < now() - interval '60 seconds' AS touch_due
  FROM admin_api_keys WHERE id = :id

-- name: api_key_touch
UPDATE admin_api_keys SET last_used_at = now(), last_used_ip = :ip
 WHERE id = :id AND (last_used_at IS NULL OR last_used_at < now() - interval '60 seconds')

-- name: api_keys_page
SELECT id, name, role, created_by, created_at, expires_at, revoked_at, last_used_at, last_used_ip
  FROM admin_api_keys
 WHERE CAST(:before_at AS timestamptz) IS NULL
    OR (created_at, id) < (CAST(:before_at AS timestamptz), CAST(:before_id AS bigint))
 ORDER BY created_at DESC, id DESC
 LIMIT :limit

-- name: api_key_revoke
-- Revoking twice keeps the first time; `newly` says whether this call revoked it.
UPDATE admin_api_keys k SET revoked_at = coalesce(k.revoked_at, now())
  FROM (SELECT id, revoked_at IS NULL AS newly FROM admin_api_keys WHERE id = :id FOR UPDATE) old
 WHERE k.id = old.id
RETURNING k.id, k.name, k.role, k.revoked_at, old.newly
