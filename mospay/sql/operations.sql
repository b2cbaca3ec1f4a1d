-- The operations commands (backup, restore, migrate) and the /metrics gauges read from the database.

-- name: dumpable_relations
-- Tables whose contents pg_dump --verbose reports one by one: the progress bar's denominator.
SELECT count(*) AS n
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%';

-- name: mospay_table_count
SELECT count(*) AS n
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname IN ('public', 'mospay', 'mospay_fn');

-- name: webhook_backlog (prepared)
-- Webhook events by delivery state (a /metrics gauge; GAVE_UP rows are the ones an operator must see).
SELECT state, count(*) AS n FROM webhook_events GROUP BY state
