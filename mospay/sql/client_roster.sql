-- The client roster export (mospay/client_roster.py): every client, by app_id, a page at a time.

-- name: clients_export
SELECT app_id, company_name, contact_email, callback_url, active, rate_limit_per_minute,
       max_amount_per_transaction, max_amount_per_day, batch_auto_approve_max, created_at
  FROM clients
 WHERE app_id > :after
 ORDER BY app_id
 LIMIT :limit
