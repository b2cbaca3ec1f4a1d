-- Portal sessions (the sign-in throttle is mospay/sql/security.sql's, shared with the API).

-- name: session_insert
INSERT INTO admin_sessions (id_hash, user_id, csrf_token, ip, user_agent)
VALUES (:id_hash, :user_id, :csrf_token, :ip, :user_agent)

-- name: session_touch (prepared)
-- One round trip per page: refresh last_seen and load the user, unless idle or absolute expiry passed.
UPDATE admin_sessions s SET last_seen_at = now()
  FROM users u
 WHERE s.id_hash = :id_hash AND u.id = s.user_id AND u.active
   AND s.last_seen_at > now() - make_interval(secs => :idle_s)
   AND s.created_at > now() - make_interval(secs => :absolute_s)
RETURNING s.csrf_token, s.created_at AS session_created_at, u.id, u.username, u.role,
          u.must_change_password, u.password_hash

-- name: session_check (prepared)
-- The same checks without refreshing last_seen: a page polling by itself is not activity.
SELECT s.csrf_token, s.created_at AS session_created_at, u.id, u.username, u.role,
       u.must_change_password, u.password_hash
  FROM admin_sessions s JOIN users u ON u.id = s.user_id
 WHERE s.id_hash = :id_hash AND u.active
   AND s.last_seen_at > now() - make_interval(secs => :idle_s)
   AND s.created_at > now() - make_interval(secs => :absolute_s)

-- name: session_delete
DELETE FROM admin_sessions WHERE id_hash = :id_hash

-- name: sessions_delete_user
DELETE FROM admin_sessions WHERE user_id = :user_id AND id_hash <> coalesce(CAST(:keep AS text), '')

-- name: sessions_purge
DELETE FROM admin_sessions
 WHERE last_seen_at < now() - make_interval(secs => :idle_s) OR created_at < now() - make_interval(secs => :absolute_s)
