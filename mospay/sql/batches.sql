-- Batches (schema/96_batches.sql): upload, reads scoped by client, decisions, the runner's claims.
-- Every statement a client can reach names its client_id; admin reads name none (client_id NULL = all).

-- name: batch_client
SELECT id, app_id, active, max_amount_per_transaction, max_amount_per_day, batch_auto_approve_max
  FROM clients WHERE app_id = :app_id

-- name: batch_client_by_id
-- The same, for a merchant user's upload (the portal session names the client by id).
SELECT id, app_id, active, max_amount_per_transaction, max_amount_per_day, batch_auto_approve_max
  FROM clients WHERE id = :client_id

-- name: batch_by_key
SELECT public_id, upload_sha256 FROM batches WHERE client_id = :client_id AND idempotency_key = :key

-- name: batch_insert
INSERT INTO batches (client_id, name, idempotency_key, upload_sha256, uploaded_by)
VALUES (:client_id, :name, :key, :sha256, :uploaded_by)
RETURNING id, public_id

-- name: batch_rows_insert
-- One chunk of parsed rows, as a JSON array; secret fields arrive sealed (mospay/sealed.py, base64) and are
-- never stored in clear.
INSERT INTO batch_rows (batch_id, line_no, service_id, f010, amount, fields, secrets, errors, state)
SELECT :batch_id, x.line_no, s.id, x.f010, x.amount, x.fields, decode(x.sealed, 'base64'),
       x.errors, CASE WHEN x.errors IS NULL THEN 'QUEUED' ELSE 'INVALID' END
  FROM jsonb_to_recordset(CAST(:rows AS jsonb))
       AS x (line_no integer, service text, f010 text, amount numeric, fields jsonb, sealed text, errors jsonb)
  LEFT JOIN services s ON s.name = x.service

-- name: batch_mark_duplicates
-- f010 unique within the file (the first keeps it) and unused by this client: by a payment, or by a
-- row of another of its batches that may still be paid.
UPDATE batch_rows r
   SET state = 'INVALID', errors = jsonb_build_array(jsonb_build_object(
           'field', 'f010', 'code', 'duplicate_f010',
           'message', CASE WHEN d.first_line IS NOT NULL THEN 'f010 repeats line ' || d.first_line
                           ELSE 'f010 was already used by one of your payments or batches' END))
  FROM (SELECT r2.line_no,
               CASE WHEN r2.line_no <> min(r2.line_no) OVER (PARTITION BY r2.f010)
                    THEN min(r2.line_no) OVER (PARTITION BY r2.f010) END AS first_line
          FROM batch_rows r2 WHERE r2.batch_id = :batch_id AND r2.state = 'QUEUED') d
 WHERE r.batch_id = :batch_id AND r.line_no = d.line_no AND r.state = 'QUEUED'
   AND (d.first_line IS NOT NULL
        OR EXISTS (SELECT 1 FROM transactions t WHERE t.client_id = :client_id AND t.f010 = r.f010)
        OR EXISTS (SELECT 1 FROM batch_rows o JOIN batches ob ON ob.id = o.batch_id
                    WHERE ob.client_id = :client_id AND ob.id <> :batch_id AND o.f010 = r.f010
                      AND o.state IN ('QUEUED', 'IN_FLIGHT')
                      AND ob.status NOT IN ('REJECTED', 'CANCELLED', 'COMPLETED')))

-- name: batch_close_upload
-- Counts and total; the daily limit over the whole file; then awaiting approval, or approved by the
-- client's auto-approval threshold (an approver that is never the uploader: system:auto-approval).
WITH c AS (
    SELECT count(*) AS rows, count(*) FILTER (WHERE state = 'QUEUED') AS valid,
           coalesce(sum(amount) FILTER (WHERE state = 'QUEUED'), 0) AS total
      FROM batch_rows WHERE batch_id = :batch_id),
f AS (
    SELECT CASE WHEN cl.max_amount_per_day IS NOT NULL AND c.total > cl.max_amount_per_day
                THEN jsonb_build_array(jsonb_build_object('field', 'f004', 'code', 'amount_limit_exceeded',
                     'message', 'the batch total ' || c.total || ' is over your daily limit ' || cl.max_amount_per_day))
           END AS file_errors
      FROM c, clients cl WHERE cl.id = :client_id)
UPDATE batches b
   SET rows = c.rows, valid_rows = c.valid, invalid_rows = c.rows - c.valid, total_amount = c.total,
       file_errors = f.file_errors
  FROM c, f
 WHERE b.id = :batch_id AND b.client_id = :client_id
RETURNING b.public_id, b.rows, b.valid_rows, b.invalid_rows, b.total_amount, b.file_errors

-- name: batch_submit
-- A clean file goes to approval (or is approved at once under the client's threshold).
UPDATE batches b
   SET status = CASE WHEN cl.batch_auto_approve_max IS NOT NULL AND b.total_amount <= cl.batch_auto_approve_max
                     THEN 'APPROVED' ELSE 'AWAITING_APPROVAL' END,
       approved_by = CASE WHEN cl.batch_auto_approve_max IS NOT NULL AND b.total_amount <= cl.batch_auto_approve_max
                          THEN 'system:auto-approval' END,
       approved_at = CASE WHEN cl.batch_auto_approve_max IS NOT NULL AND b.total_amount <= cl.batch_auto_approve_max
                          THEN now() END
  FROM clients cl
 WHERE b.id = :batch_id AND b.client_id = :client_id AND cl.id = b.client_id AND b.status = 'VALIDATED'
   AND b.invalid_rows = 0 AND b.valid_rows > 0 AND b.file_errors IS NULL
RETURNING b.status

-- name: batch_summary
-- One batch with its counts and amounts per state (the payment's own status once it exists), for a
-- client (:client_id) or an operator (:client_id NULL).
SELECT b.id, b.public_id AS batch_id, b.name, b.status, b.rows, b.valid_rows, b.invalid_rows, b.total_amount,
       b.uploaded_by, b.approved_by, b.approved_at, b.rejected_by, b.reject_reason, b.cancelled_by,
       b.file_errors, b.started_at, b.finished_at, b.created_at, b.updated_at, cl.app_id,
       (SELECT jsonb_object_agg(k.state, jsonb_build_object('n', k.n, 'amount', k.amount)) FROM (
            SELECT coalesce(t.status, CASE r.state WHEN 'REFUSED' THEN 'FAILED' WHEN 'CANCELLED' THEN 'cancelled'
                                                   WHEN 'INVALID' THEN 'invalid' ELSE 'queued' END) AS state,
                   count(*) AS n, coalesce(sum(r.amount), 0) AS amount
              FROM batch_rows r
              LEFT JOIN transactions t ON t.client_id = b.client_id AND t.f010 = r.f010 AND r.state <> 'INVALID'
                                      AND (r.state IN ('DONE', 'IN_FLIGHT'))
             WHERE r.batch_id = b.id
             GROUP BY 1) k) AS counts,
       (SELECT count(*) FROM batch_rows r WHERE r.batch_id = b.id AND r.finished_at > now() - interval '60 seconds')
           AS finished_last_minute,
       (SELECT min(r.finished_at) FROM batch_rows r
         WHERE r.batch_id = b.id AND r.finished_at > now() - interval '60 seconds') AS window_start,
       now() AS now
  FROM batches b JOIN clients cl ON cl.id = b.client_id
 WHERE b.public_id = :batch_id AND (b.client_id = :client_id OR CAST(:client_id AS bigint) IS NULL)

-- name: batches_page
-- A client's batches (:client_id), or every client's (NULL: operators), newest first, keyset paged.
SELECT b.id, b.public_id AS batch_id, b.name, b.status, b.rows, b.valid_rows, b.invalid_rows, b.total_amount,
       b.uploaded_by, b.approved_by, b.created_at, b.finished_at, cl.app_id
  FROM batches b JOIN clients cl ON cl.id = b.client_id
 WHERE (b.client_id = :client_id OR CAST(:client_id AS bigint) IS NULL)
   AND (CAST(:status AS text) IS NULL OR b.status = :status)
   AND (CAST(:after_ts AS timestamptz) IS NULL OR (b.created_at, b.id) < (CAST(:after_ts AS timestamptz), :after_id))
 ORDER BY b.created_at DESC, b.id DESC
 LIMIT :limit

-- name: batch_errors
-- The invalid rows of one batch, in line order, a page at a time (:after_line).
SELECT r.line_no, r.errors
  FROM batch_rows r JOIN batches b ON b.id = r.batch_id
 WHERE b.public_id = :batch_id AND (b.client_id = :client_id OR CAST(:client_id AS bigint) IS NULL)
   AND r.state = 'INVALID' AND r.line_no > :after_line
 ORDER BY r.line_no
 LIMIT :limit

-- name: batch_results
-- line, f010, status, transaction id, message: a page at a time (:after_line), for the streamed CSV.
SELECT r.line_no, r.f010, r.state,
       coalesce(t.status, CASE r.state WHEN 'REFUSED' THEN 'FAILED' WHEN 'CANCELLED' THEN 'CANCELLED'
                                       WHEN 'INVALID' THEN 'INVALID' ELSE 'QUEUED' END) AS status,
       t.public_id AS transaction_id,
       coalesce(t.result ->> 'message', r.message, r.errors -> 0 ->> 'message') AS message
  FROM batch_rows r JOIN batches b ON b.id = r.batch_id
  LEFT JOIN transactions t ON t.client_id = b.client_id AND t.f010 = r.f010 AND r.state IN ('DONE', 'IN_FLIGHT')
 WHERE b.public_id = :batch_id AND (b.client_id = :client_id OR CAST(:client_id AS bigint) IS NULL)
   AND r.line_no > :after_line
 ORDER BY r.line_no
 LIMIT :limit

-- name: batch_decide
-- One decision on a batch, by a typed actor; the state guard and the four-eyes CHECK have the last word.
UPDATE batches b
   SET status = :status,
       approved_by = CASE WHEN :status = 'APPROVED' AND b.approved_by IS NULL THEN :actor ELSE b.approved_by END,
       approved_at = CASE WHEN :status = 'APPROVED' AND b.approved_at IS NULL THEN now() ELSE b.approved_at END,
       rejected_by = CASE WHEN :status = 'REJECTED' THEN :actor ELSE b.rejected_by END,
       reject_reason = CASE WHEN :status = 'REJECTED' THEN :reason ELSE b.reject_reason END,
       cancelled_by = CASE WHEN :status = 'CANCELLED' THEN :actor ELSE b.cancelled_by END,
       finished_at = CASE WHEN :status IN ('CANCELLED', 'REJECTED') THEN now() ELSE b.finished_at END
 WHERE b.public_id = :batch_id AND (b.client_id = :client_id OR CAST(:client_id AS bigint) IS NULL)
RETURNING b.id, b.status

-- name: batch_cancel_rows
-- Cancelling stops the rows not yet started; started rows finish.
UPDATE batch_rows SET state = 'CANCELLED', message = 'cancelled', secrets = NULL, finished_at = now()
 WHERE batch_id = :id AND state = 'QUEUED'

-- name: batch_set_auto_approve
UPDATE clients SET batch_auto_approve_max = CAST(:max AS numeric), updated_at = now()
 WHERE app_id = :app_id
RETURNING app_id, batch_auto_approve_max

-- name: batch_claim_rows
-- `secrets`: the row's sealed secret fields (mospay/sealed.py opens them), or NULL.
SELECT o_batch_id AS batch_id, o_line_no AS line_no, o_batch AS batch, o_app_id AS app_id, o_fields AS fields,
       o_secrets AS secrets, CAST(extract(epoch FROM (o_send_by - clock_timestamp())) AS float8) AS send_within_s
  FROM mospay.claim_batch_rows(:owner, CAST(:lease_s AS numeric), CAST(:limit AS integer))

-- name: batch_finish_row
SELECT mospay.finish_batch_row(:batch_id, :line_no, :owner, :state, :message) AS ok

-- name: batch_release_row
-- Put a claimed row back unstarted (breaker open, client rate limit, its second's slot missed).
UPDATE batch_rows SET state = 'QUEUED', lease_owner = NULL, lease_expires_at = NULL,
       not_before = now() + make_interval(secs => :wait_s)
 WHERE batch_id = :batch_id AND line_no = :line_no AND lease_owner = :owner AND state = 'IN_FLIGHT'

-- name: batch_work_left
SELECT EXISTS (SELECT 1 FROM batch_rows r JOIN batches b ON b.id = r.batch_id
                WHERE b.status IN ('APPROVED', 'RUNNING', 'CANCELLED') AND r.state IN ('QUEUED', 'IN_FLIGHT')) AS any

-- name: batch_service_limits
SELECT name, max_in_flight, max_per_second FROM services WHERE name = :name

-- name: batch_set_service_limits
UPDATE services SET max_in_flight = CAST(:max_in_flight AS integer), max_per_second = CAST(:max_per_second AS integer),
       updated_at = now()
 WHERE name = :name
RETURNING name, max_in_flight, max_per_second
