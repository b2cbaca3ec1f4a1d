-- Admin users: sign-in, creation, passwords, (de)activation.

-- name: user_by_username (prepared)
SELECT id, username, password_hash, role, active, must_change_password, credential_version
  FROM users WHERE username = :username

-- name: set_user_password
UPDATE users SET password_hash = :password_hash, must_change_password = false,
                 credential_version = credential_version + 1, updated_at = now()
 WHERE id = :id

-- name: insert_user
INSERT INTO users (username, password_hash, role, must_change_password)
VALUES (:username, :password_hash, :role, :must_change)
ON CONFLICT (username) DO NOTHING
RETURNING id, username, role, must_change_password

-- name: any_user
SELECT 1 AS one FROM users LIMIT 1

-- name: users_all
SELECT id, username, role, active, must_change_password, created_at, updated_at FROM users ORDER BY username

-- name: user_by_id
SELECT id, username, role, active, must_change_password, password_hash FROM users WHERE id = :id

-- name: user_set_active
UPDATE users SET active = :active, updated_at = now() WHERE id = :id RETURNING id

-- name: user_reset_password
UPDATE users SET password_hash = :password_hash, must_change_password = true,
                 credential_version = credential_version + 1, updated_at = now()
 WHERE id = :id RETURNING id

-- name: users_page
SELECT id, username, role, active, must_change_password, created_at, updated_at
  FROM users
 WHERE CAST(:before_at AS timestamptz) IS NULL
    OR (created_at, id) < (CAST(:before_at AS timestamptz), CAST(:before_id AS bigint))
 ORDER BY created_at DESC, id DESC
 LIMIT :limit

-- name: user_view
SELECT id, username, role, active, must_change_password, created_at, updated_at FROM users
 WHERE username = :username

-- name: user_set_role
UPDATE users SET role = :role, updated_at = now() WHERE id = :id RETURNING id
