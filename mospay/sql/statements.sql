-- Provider statements: uploads, their lines, the exception queue (schema/55_statements.sql).

-- name: statement_format
SELECT columns FROM statement_formats WHERE service_id = :service_id

-- name: statement_format_save
INSERT INTO statement_formats (service_id, columns) VALUES (:service_id, CAST(:columns AS jsonb))
ON CONFLICT (service_id) DO UPDATE SET columns = EXCLUDED.columns, updated_at = now()

-- name: statement_by_hash
SELECT id, counts FROM statements WHERE service_id = :service_id AND sha256 = :sha256

-- name: statement_insert
INSERT INTO statements (service_id, sha256, filename, uploaded_by)
VALUES (:service_id, :sha256, :filename, :uploaded_by)
RETURNING id

-- name: statement_lines_insert
-- One batch of parsed lines, as a JSON array (one round trip per batch, whatever its size).
INSERT INTO statement_lines (statement_id, line_no, reference, amount, currency, status, occurred_at)
SELECT :statement_id, x.line_no, x.reference, x.amount, x.currency, x.status, x.occurred_at
  FROM jsonb_to_recordset(CAST(:rows AS jsonb))
       AS x (line_no integer, reference text, amount numeric, currency text, status text, occurred_at timestamptz)

-- name: statement_match
SELECT mospay.match_statement(:statement_id, CAST(:tolerance AS numeric), make_interval(secs => :window_s)) AS counts

-- name: statement_detail
SELECT st.id, s.name AS service, st.sha256, st.filename, st.uploaded_by, st.created_at, st.period_from,
       st.period_to, st.counts,
       (SELECT count(*) FROM statement_exceptions e WHERE e.statement_id = st.id AND e.resolved_at IS NULL)
           AS open_exceptions
  FROM statements st JOIN services s ON s.id = st.service_id
 WHERE st.id = :id

-- name: statements_page
-- Newest first, keyset on (created_at, id).
SELECT st.id, s.name AS service, st.filename, st.uploaded_by, st.created_at, st.period_from, st.period_to,
       st.counts,
       (SELECT count(*) FROM statement_exceptions e WHERE e.statement_id = st.id AND e.resolved_at IS NULL)
           AS open_exceptions
  FROM statements st JOIN services s ON s.id = st.service_id
 WHERE (CAST(:before_at AS timestamptz) IS NULL OR (st.created_at, st.id) < (:before_at, :before_id))
 ORDER BY st.created_at DESC, st.id DESC
 LIMIT :limit

-- name: statement_exceptions_page
-- Oldest first (a queue), keyset on id; open ones only unless :all.
SELECT e.id, e.statement_id, e.kind, e.line_no, e.detail, e.created_at, e.resolved_at, e.resolved_by,
       e.resolution, t.public_id AS transaction_id, t.status AS transaction_status
  FROM statement_exceptions e LEFT JOIN transactions t ON t.id = e.transaction_id
 WHERE (:all OR e.resolved_at IS NULL)
   AND (CAST(:statement_id AS bigint) IS NULL OR e.statement_id = :statement_id)
   AND (CAST(:kind AS text) IS NULL OR e.kind = :kind)
   AND e.id > :after
 ORDER BY e.id
 LIMIT :limit

-- name: statement_exception
SELECT e.id, e.statement_id, e.kind, e.line_no, e.detail, e.created_at, e.resolved_at, e.resolved_by,
       e.resolution, t.public_id AS transaction_id, t.status AS transaction_status
  FROM statement_exceptions e LEFT JOIN transactions t ON t.id = e.transaction_id
 WHERE e.id = :id

-- name: statement_exception_resolve
-- Only an open exception: two operators resolving at once, the second is told it is already resolved.
UPDATE statement_exceptions SET resolved_at = now(), resolved_by = :resolved_by, resolution = :resolution
 WHERE id = :id AND resolved_at IS NULL
RETURNING id
