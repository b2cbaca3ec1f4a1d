-- The audit trail of every operator change.

-- name: audit_insert
INSERT INTO audit_log (user_id, username, action, target_type, target_id, before, after, ip, client_app_id)
VALUES (:user_id, :username, :action, :target_type, :target_id, CAST(:before AS jsonb),
        CAST(:after AS jsonb), :ip, :client_app_id)

-- name: audit_page
SELECT id, username, action, target_type, target_id, before, after, ip, client_app_id, created_at
  FROM audit_log
 WHERE (CAST(:q AS text) IS NULL OR action ILIKE '%' || CAST(:q AS text) || '%'
        OR username = CAST(:q AS text) OR target_id = CAST(:q AS text) OR client_app_id = CAST(:q AS text))
   AND (CAST(:before_at AS timestamptz) IS NULL
        OR (created_at, id) < (CAST(:before_at AS timestamptz), CAST(:before_id AS bigint)))
 ORDER BY created_at DESC, id DESC
 LIMIT :limit
