-- The scheduler's leases and job history (mospay/scheduler.py).

-- name: scheduler_claim
-- The scheduler takes a job's lease when the job is due (its interval has passed since the last start)
-- and nobody holds an unexpired lease. One statement: the row lock makes concurrent claims take turns,
-- and the loser sees the winner's start and finds the job no longer due. :now is NULL in production
-- (the database's clock, one clock for every instance); tests pass their own.
WITH t AS (SELECT COALESCE(CAST(:now AS timestamptz), now()) AS now)
INSERT INTO scheduler_jobs AS j (name, interval_s, lease_owner, lease_until, last_started_at)
SELECT :name, :interval_s, :owner, t.now + :lease_s * interval '1 second', t.now FROM t
ON CONFLICT (name) DO UPDATE
   SET interval_s = EXCLUDED.interval_s, lease_owner = EXCLUDED.lease_owner,
       lease_until = EXCLUDED.lease_until, last_started_at = EXCLUDED.last_started_at
 WHERE (j.lease_until IS NULL OR j.lease_until <= EXCLUDED.last_started_at)
   AND (j.last_started_at IS NULL
        OR j.last_started_at + j.interval_s * interval '1 second' <= EXCLUDED.last_started_at)
RETURNING j.name

-- name: scheduler_renew
-- The holder extends its lease while the job runs; a holder that died stops renewing and its lease expires.
UPDATE scheduler_jobs SET lease_until = COALESCE(CAST(:now AS timestamptz), now()) + :lease_s * interval '1 second'
 WHERE name = :name AND lease_owner = :owner
RETURNING name

-- name: scheduler_finish
-- Release the lease and record the run. No row: the lease had expired and another instance took it over.
UPDATE scheduler_jobs j
   SET lease_owner = NULL, lease_until = NULL, last_finished_at = t.now, last_duration_ms = :duration_ms,
       last_error = CAST(:error AS text), runs = j.runs + 1,
       failures = j.failures + CASE WHEN CAST(:error AS text) IS NULL THEN 0 ELSE 1 END,
       last_success_at = CASE WHEN CAST(:error AS text) IS NULL THEN t.now ELSE j.last_success_at END
  FROM (SELECT COALESCE(CAST(:now AS timestamptz), now()) AS now) t
 WHERE j.name = :name AND j.lease_owner = :owner
RETURNING j.name

-- name: scheduler_jobs
-- Every job's last run, for /metrics and the dashboard (shared by all instances: it is the database's view).
SELECT name, interval_s, lease_owner, COALESCE(lease_until > now(), false) AS running, last_started_at, last_finished_at,
       last_success_at, last_duration_ms, last_error, runs, failures,
       extract(epoch FROM last_success_at)::float8 AS last_success_epoch,
       extract(epoch FROM last_started_at)::float8 AS last_started_epoch
  FROM scheduler_jobs ORDER BY name
