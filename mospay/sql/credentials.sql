-- Provider credentials (schema/25_credentials.sql). Values are sealed and opened by MosPay
-- (mospay/sealed.py); the database sees only ciphertext. Values saved before migration 018 are pgcrypto
-- ciphertext, opened in credentials_resolve_legacy with the key MosPay passes (the database never keeps it).

-- name: credentials_available
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgcrypto') AS ok

-- name: credential_upsert
INSERT INTO provider_credentials AS pc (service_id, client_id, name, value_sealed, last4, updated_by)
VALUES (:service_id, CAST(:client_id AS bigint), :name, :sealed, :last4, :updated_by)
ON CONFLICT ON CONSTRAINT provider_credentials_unique DO UPDATE
   SET value_sealed = EXCLUDED.value_sealed, value_enc = NULL, last4 = EXCLUDED.last4,
       updated_by = EXCLUDED.updated_by, updated_at = now()
RETURNING name, last4, created_at, updated_at, (xmax = 0) AS created

-- name: credential_get
SELECT name, last4, created_at, updated_at
  FROM provider_credentials
 WHERE service_id = :service_id AND client_id IS NOT DISTINCT FROM CAST(:client_id AS bigint) AND name = :name

-- name: credential_delete
DELETE FROM provider_credentials
 WHERE service_id = :service_id AND client_id IS NOT DISTINCT FROM CAST(:client_id AS bigint) AND name = :name
RETURNING name, last4

-- name: credentials_list
SELECT s.name AS service, c.app_id, pc.name, pc.last4, pc.created_at, pc.updated_at, pc.updated_by
  FROM provider_credentials pc
  JOIN services s ON s.id = pc.service_id
  LEFT JOIN clients c ON c.id = pc.client_id
 WHERE CAST(:service AS text) IS NULL OR s.name = CAST(:service AS text)
 ORDER BY s.name, pc.name, c.app_id NULLS FIRST

-- A client's own value wins over the service's (NULLS LAST puts the client's row first). legacy: a value
-- saved before migration 018 (pgcrypto), opened by credentials_resolve_legacy.
-- name: credentials_resolve
SELECT DISTINCT ON (pc.name) pc.name, pc.service_id, pc.client_id, pc.value_sealed AS sealed,
       pc.value_enc IS NOT NULL AS legacy
  FROM provider_credentials pc
  JOIN services s ON s.id = pc.service_id
  LEFT JOIN clients c ON c.id = pc.client_id
 WHERE s.name = :service AND pc.name = ANY (CAST(:names AS text[]))
   AND (pc.client_id IS NULL OR c.app_id = CAST(:app_id AS text))
 ORDER BY pc.name, pc.client_id NULLS LAST

-- name: credentials_resolve_legacy
SELECT pc.name, pgp_sym_decrypt(pc.value_enc, CAST(:key AS text)) AS value
  FROM provider_credentials pc
 WHERE pc.service_id = :service_id AND pc.client_id IS NOT DISTINCT FROM CAST(:client_id AS bigint)
   AND pc.name = ANY (CAST(:names AS text[])) AND pc.value_enc IS NOT NULL
