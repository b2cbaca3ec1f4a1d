"""One scheduler runs every periodic job (reconciliation, webhook delivery, log pruning, ...).

Each job's lease is a row of scheduler_jobs: any number of processes (instances, `--workers`) run a
scheduler, one at a time runs a given job, once per interval between them, and a holder that dies
leaves a lease that expires. The row also keeps the last run, its duration and its error, which
/metrics and the dashboard show.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
import socket
import threading
import time
from typing import Callable

from . import errors
from .db import Database

log = logging.getLogger("mospay.scheduler")
MAX_ERROR = 500  # characters of the last error kept in the row


@dataclasses.dataclass(frozen=True)
class Job:
    """`run` is called with no argument; what it returns is ignored, what it raises is recorded."""
    name: str
    interval_s: float
    run: Callable[[], object]
    # Renewed every lease_s / 3 while the job runs, so it bounds only how long a dead holder blocks the
    # job, not how long a run may take.
    lease_s: float = 60.0


class Scheduler:
    def __init__(self, db: Database, jobs: list[Job], *, owner: str | None = None,
                 clock: Callable[[], object] | None = None, tick_s: float | None = None):
        """clock: None uses the database's now() (one clock for every instance); tests pass a
        function returning an aware datetime. tick_s: how often due jobs are looked for."""
        self._db = db
        self._jobs = list(jobs)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._clock = clock
        shortest = min((j.interval_s for j in self._jobs), default=1.0)
        self._tick_s = tick_s if tick_s is not None else min(1.0, max(0.05, shortest / 2))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def jobs(self) -> list[Job]:
        return list(self._jobs)

    def _now(self):
        return self._clock() if self._clock is not None else None

    def run_pending(self) -> dict[str, str | None]:
        """Run each job that is due and not held elsewhere, once. Returns {job: None or its error}
        for the jobs this scheduler ran."""
        ran = {}
        for job in self._jobs:
            if self._stop.is_set():
                break
            try:
                claimed = self._db.query("scheduler_claim", name=job.name, interval_s=float(job.interval_s),
                                         owner=self.owner, lease_s=float(job.lease_s), now=self._now())
            except errors.MosPayError as exc:  # the database is away: the next tick tries again
                log.warning("job %s: cannot take its lease: %s", job.name, exc.message)
                continue
            if claimed:
                ran[job.name] = self._run(job)
        return ran

    def _run(self, job: Job) -> str | None:
        started, error = time.perf_counter(), None
        with self._lease_kept(job):
            try:
                job.run()
            except errors.ServiceUnavailable as exc:  # a database outage: try again next interval
                error = exc.message
                log.warning("job %s: %s; trying again next interval", job.name, exc.message)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
                log.exception("job %s failed", job.name)
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        try:
            if not self._db.query("scheduler_finish", name=job.name, owner=self.owner, duration_ms=duration_ms,
                                  error=error, now=self._now()):
                log.warning("job %s ran longer than its lease and another instance took it over", job.name)
        except errors.MosPayError as exc:  # not recorded: the lease expires and the job runs again
            log.warning("job %s: cannot record its run: %s", job.name, exc.message)
        return error

    @contextlib.contextmanager
    def _lease_kept(self, job: Job):
        """Renew the lease in the background while the job runs."""
        done = threading.Event()

        def renew():
            while not done.wait(job.lease_s / 3):
                try:
                    self._db.query("scheduler_renew", name=job.name, owner=self.owner, lease_s=float(job.lease_s),
                                   now=self._now())
                except errors.MosPayError as exc:
                    log.warning("job %s: cannot renew its lease: %s", job.name, exc.message)

        keeper = threading.Thread(target=renew, name=f"mospay-lease-{job.name}", daemon=True)
        keeper.start()
        try:
            yield
        finally:
            done.set()
            keeper.join(timeout=5)

    def start(self) -> Scheduler:
        if self._jobs:
            self._thread = threading.Thread(target=self._loop, name="mospay-scheduler", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_pending()
            except Exception:  # never let one bad pass end the loop
                log.exception("scheduler pass failed")
            self._stop.wait(self._tick_s)

    def stop(self, timeout: float = 10.0) -> None:
        """Let the current job finish (waiting at most `timeout`), start no other, and stop."""
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("scheduler: a job is still running after %.0fs; its lease will expire", timeout)
        log.info("scheduler stopped")

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def job_rows(db: Database) -> list[dict]:
    """Every job's lease and last run (all instances): the dashboard panel and the /metrics gauges."""
    return db.query("scheduler_jobs")


def register_gauges(registry, db: Database) -> None:
    """Per-job series read from scheduler_jobs at scrape time (one query per series: the table is tiny)."""
    def per_job(column):
        return lambda: {(r["name"],): r[column] for r in job_rows(db) if r[column] is not None}

    registry.register_gauge("mospay_job_last_success_timestamp_seconds",
                            "Unix time of the job's last run without error", per_job("last_success_epoch"), ("job",))
    registry.register_gauge("mospay_job_last_run_timestamp_seconds", "Unix time the job last started",
                            per_job("last_started_epoch"), ("job",))
    registry.register_gauge("mospay_job_duration_seconds", "how long the job's last run took",
                            lambda: {(r["name"],): r["last_duration_ms"] / 1000 for r in job_rows(db)
                                     if r["last_duration_ms"] is not None}, ("job",))
    registry.register_gauge("mospay_job_last_run_failed", "1 when the job's last run ended with an error",
                            lambda: {(r["name"],): int(r["last_error"] is not None) for r in job_rows(db)
                                     if r["runs"]}, ("job",))
    registry.register_gauge("mospay_job_runs_total", "runs of the job, all instances", per_job("runs"), ("job",),
                            kind="counter")
    registry.register_gauge("mospay_job_failures_total", "runs of the job that ended with an error, all instances",
                            per_job("failures"), ("job",), kind="counter")
