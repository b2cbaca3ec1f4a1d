-- The merchant portal's users, sessions, one-time links and TOTP. Every statement a merchant user can
-- reach names its client_id; the operator's statements name the client by app_id.

-- name: merchant_user_insert
INSERT INTO merchant_users (client_id, email, role, created_by)
SELECT c.id, :email, :role, :created_by FROM clients c WHERE c.id = :client_id
RETURNING id, client_id, email, role, active, created_at

-- name: merchant_client_by_app_id
SELECT id, app_id, company_name, active FROM clients WHERE app_id = :app_id

-- name: merchant_user_for_login
-- Sign-in: the user by email, only while both the user and the client are active.
SELECT u.id, u.client_id, c.app_id, u.email, u.role, u.password_hash, u.totp_nonce
  FROM merchant_users u JOIN clients c ON c.id = u.client_id
 WHERE lower(u.email) = lower(:email) AND u.active AND c.active AND u.password_hash IS NOT NULL

-- name: merchant_user_by_email
SELECT u.id, u.client_id, c.app_id, u.email, u.role, u.active
  FROM merchant_users u JOIN clients c ON c.id = u.client_id
 WHERE lower(u.email) = lower(:email) AND u.active AND c.active

-- name: merchant_user
-- One user of one client (404 for another client's user: the client_id is in the statement).
SELECT u.id, u.client_id, u.email, u.role, u.active, u.password_hash, u.totp_nonce, u.totp_pending_nonce,
       u.totp_last_step, u.created_by, u.created_at, u.last_login_at
  FROM merchant_users u
 WHERE u.id = :id AND u.client_id = :client_id

-- name: merchant_users_of_client
SELECT u.id, u.email, u.role, u.active, u.password_hash IS NOT NULL AS has_password,
       u.totp_nonce IS NOT NULL AS totp_enabled, u.created_by, u.created_at, u.last_login_at
  FROM merchant_users u
 WHERE u.client_id = :client_id
 ORDER BY u.active DESC, u.email

-- name: merchant_owners_lock
-- Inside a transaction: the client's active owners, locked, before a change that could leave it without one.
SELECT id FROM merchant_users WHERE client_id = :client_id AND role = 'owner' AND active ORDER BY id FOR UPDATE

-- name: merchant_user_set_role
UPDATE merchant_users SET role = :role, updated_at = now()
 WHERE id = :id AND client_id = :client_id
RETURNING id, email, role, active

-- name: merchant_user_set_active
UPDATE merchant_users SET active = :active, updated_at = now()
 WHERE id = :id AND client_id = :client_id
RETURNING id, email, role, active

-- name: merchant_user_set_password
UPDATE merchant_users SET password_hash = :password_hash, updated_at = now()
 WHERE id = :id AND client_id = :client_id
RETURNING id, email

-- name: merchant_user_logged_in
UPDATE merchant_users SET last_login_at = now() WHERE id = :id AND client_id = :client_id

-- name: merchant_token_insert
INSERT INTO merchant_tokens (user_id, kind, token_hash, expires_at)
VALUES (:user_id, :kind, :token_hash, now() + make_interval(secs => :ttl_s))
RETURNING expires_at

-- name: merchant_tokens_void
-- A new link of a kind voids the user's earlier unused ones: only the latest works.
UPDATE merchant_tokens SET used_at = now() WHERE user_id = :user_id AND kind = :kind AND used_at IS NULL

-- name: merchant_token_peek
-- The user a live link belongs to (the page that asks for the new password), without using it up.
SELECT u.id, u.client_id, c.app_id, u.email, u.role, t.kind
  FROM merchant_tokens t JOIN merchant_users u ON u.id = t.user_id JOIN clients c ON c.id = u.client_id
 WHERE t.token_hash = :token_hash AND t.kind = :kind AND t.used_at IS NULL AND t.expires_at > now()
   AND u.active AND c.active

-- name: merchant_token_use
-- Uses a live link up, once: two submissions of one link cannot both succeed.
UPDATE merchant_tokens t SET used_at = now()
  FROM merchant_users u JOIN clients c ON c.id = u.client_id
 WHERE t.token_hash = :token_hash AND t.kind = :kind AND t.used_at IS NULL AND t.expires_at > now()
   AND u.id = t.user_id AND u.active AND c.active
RETURNING u.id, u.client_id, c.app_id, u.email, u.role

-- name: merchant_session_insert
INSERT INTO merchant_sessions (id_hash, user_id, client_id, csrf_token, mfa_pending, ip, user_agent)
VALUES (:id_hash, :user_id, :client_id, :csrf_token, :mfa_pending, :ip, :user_agent)

-- name: merchant_session_touch (prepared)
-- One round trip per page: the session, its user and client (both still active), the team's TOTP rule.
-- A deactivated user or client finds no row here: their sessions end at once.
UPDATE merchant_sessions s SET last_seen_at = now()
  FROM merchant_users u JOIN clients c ON c.id = u.client_id
       LEFT JOIN merchant_settings m ON m.client_id = u.client_id
 WHERE s.id_hash = :id_hash AND u.id = s.user_id AND u.client_id = s.client_id AND NOT s.mfa_pending
   AND u.active AND c.active
   AND s.last_seen_at > now() - make_interval(secs => :idle_s)
   AND s.created_at > now() - make_interval(secs => :absolute_s)
RETURNING s.csrf_token, u.id AS user_id, u.client_id, c.app_id, u.email, u.role,
          u.totp_nonce IS NOT NULL AS totp_enabled, coalesce(m.require_totp, false) AS require_totp

-- name: merchant_session_pending
-- The half-signed-in session waiting for its TOTP code (5 minutes at most).
SELECT s.id_hash, u.id AS user_id, u.client_id, c.app_id, u.email, u.role, u.totp_nonce, u.totp_last_step
  FROM merchant_sessions s JOIN merchant_users u ON u.id = s.user_id AND u.client_id = s.client_id
       JOIN clients c ON c.id = u.client_id
 WHERE s.id_hash = :id_hash AND s.mfa_pending AND u.active AND c.active
   AND s.created_at > now() - make_interval(secs => :pending_s)

-- name: merchant_session_delete
DELETE FROM merchant_sessions WHERE id_hash = :id_hash

-- name: merchant_sessions_of_user
SELECT id_hash, ip, user_agent, created_at, last_seen_at
  FROM merchant_sessions
 WHERE user_id = :user_id AND client_id = :client_id AND NOT mfa_pending
 ORDER BY last_seen_at DESC

-- name: merchant_sessions_delete_user
DELETE FROM merchant_sessions
 WHERE user_id = :user_id AND client_id = :client_id AND id_hash <> coalesce(CAST(:keep AS text), '')

-- name: merchant_sessions_purge
DELETE FROM merchant_sessions
 WHERE last_seen_at < now() - make_interval(secs => :idle_s) OR created_at < now() - make_interval(secs => :absolute_s)

-- name: merchant_totp_step_use
-- A TOTP code's time step is good once: the update fails when this step (or a later one) was used.
UPDATE merchant_users SET totp_last_step = :step
 WHERE id = :id AND client_id = :client_id AND totp_last_step < :step
RETURNING id

-- name: merchant_totp_set_pending
UPDATE merchant_users SET totp_pending_nonce = :nonce, updated_at = now()
 WHERE id = :id AND client_id = :client_id
RETURNING id

-- name: merchant_totp_confirm
UPDATE merchant_users SET totp_nonce = totp_pending_nonce, totp_pending_nonce = NULL, totp_last_step = :step,
                          updated_at = now()
 WHERE id = :id AND client_id = :client_id AND totp_pending_nonce = :nonce
RETURNING id

-- name: merchant_totp_disable
UPDATE merchant_users SET totp_nonce = NULL, totp_pending_nonce = NULL, updated_at = now()
 WHERE id = :id AND client_id = :client_id
RETURNING id

-- name: merchant_recovery_codes_delete
DELETE FROM merchant_recovery_codes WHERE user_id = :user_id
   AND user_id IN (SELECT id FROM merchant_users WHERE client_id = :client_id)

-- name: merchant_recovery_code_insert
INSERT INTO merchant_recovery_codes (user_id, code_hash)
SELECT id, :code_hash FROM merchant_users WHERE id = :user_id AND client_id = :client_id

-- name: merchant_recovery_code_use
UPDATE merchant_recovery_codes r SET used_at = now()
  FROM merchant_users u
 WHERE r.code_hash = :code_hash AND r.used_at IS NULL AND r.user_id = :user_id
   AND u.id = r.user_id AND u.client_id = :client_id
RETURNING r.id

-- name: merchant_recovery_codes_left
SELECT count(*) AS n FROM merchant_recovery_codes r JOIN merchant_users u ON u.id = r.user_id
 WHERE r.user_id = :user_id AND u.client_id = :client_id AND r.used_at IS NULL

-- name: merchant_settings
SELECT coalesce((SELECT require_totp FROM merchant_settings WHERE client_id = :client_id), false) AS require_totp

-- name: merchant_settings_set_require_totp
INSERT INTO merchant_settings (client_id, require_totp) VALUES (:client_id, :require_totp)
ON CONFLICT (client_id) DO UPDATE SET require_totp = EXCLUDED.require_totp, updated_at = now()
