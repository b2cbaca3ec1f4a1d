-- The scheduler's jobs (reconcile, deliver_webhooks, prune_logs, ...): one row per job holding its lease
-- and its last run. Any number of processes run a scheduler; the lease lets one at a time run a given
-- job, and a holder that dies leaves a lease that simply expires. Runs in one transaction (mospay/migrate.py).

CREATE TABLE scheduler_jobs (
    name             text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    interval_s       double precision NOT NULL CHECK (interval_s > 0),
    lease_owner      text,
    lease_until      timestamptz,
    last_started_at  timestamptz,
    last_finished_at timestamptz,
    last_success_at  timestamptz,
    last_duration_ms double precision,
    last_error       text CHECK (length(last_error) <= 1000),
    runs             bigint NOT NULL DEFAULT 0 CHECK (runs >= 0),
    failures         bigint NOT NULL DEFAULT 0 CHECK (failures >= 0),
    CONSTRAINT scheduler_jobs_lease_whole CHECK ((lease_owner IS NULL) = (lease_until IS NULL))
);
