"""The scheduler on a real database: leases shared by several schedulers, takeover of an expired lease,
errors recorded without stopping the other jobs, a bounded stop, and the job rows on /metrics and the
dashboard. Time is a fake clock where the test needs to move it; elsewhere it polls with a deadline."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from types import SimpleNamespace

import falcon.testing
import pytest

from mospay import errors
from mospay.components import Components
from mospay.config import Config
from mospay.db import Database
from mospay.scheduler import Job, Scheduler
from tests.integration.portal_support import site  # noqa: F401  (fixture)
from tests.unit.test_metrics import _sample

KEYS = {"secret_key": "k" * 40, "jwt_secret_key": "j" * 40}
T0 = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def job_row(db, name):
    rows = db.run("SELECT * FROM scheduler_jobs WHERE name = :n", n=name)
    return rows[0] if rows else None


def wait_until(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_two_schedulers_run_a_job_once_per_interval_between_them(db):
    clock, runs = Clock(), []
    job = Job("tick", 10, lambda: runs.append(clock.now))
    first = Scheduler(db, [job], owner="first", clock=clock)
    second = Scheduler(db, [job], owner="second", clock=clock)
    assert first.run_pending() == {"tick": None}
    assert second.run_pending() == {}  # ran 0 s ago: not due
    clock.advance(9.9)
    assert first.run_pending() == {} and second.run_pending() == {}
    clock.advance(0.1)
    assert second.run_pending() == {"tick": None}
    assert first.run_pending() == {}
    assert runs == [T0, T0 + dt.timedelta(seconds=10)]
    row = job_row(db, "tick")
    assert (row["runs"], row["failures"], row["lease_owner"], row["last_error"]) == (2, 0, None, None)
    assert row["last_started_at"] == row["last_success_at"] == T0 + dt.timedelta(seconds=10)


def test_running_schedulers_never_overlap_and_keep_the_interval(db_url):
    """Two scheduler threads with their own pools on one database, on the database's clock."""
    interval = 0.2
    lock, active, starts, overlaps = threading.Lock(), [0], [], []
    observer = Database(db_url, size=2)

    def work():
        with lock:
            active[0] += 1
            overlaps.append(active[0] > 1)
        # The start the holder's claim recorded (the database's clock, which the lease is judged by);
        # a thread's own clock would add the claim's latency, which varies on a busy machine.
        starts.append(job_row(observer, "tick")["last_started_at"])
        with lock:
            active[0] -= 1

    pools = [Database(db_url, size=2), Database(db_url, size=2)]
    schedulers = [Scheduler(pool, [Job("tick", interval, work)], tick_s=0.01).start() for pool in pools]
    try:
        wait_until(lambda: len(starts) >= 5, what="five runs")
    finally:
        for scheduler in schedulers:
            scheduler.stop()
        for pool in pools + [observer]:
            pool.close()
    assert not any(overlaps)
    gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:])]
    assert min(gaps) >= interval, gaps  # once per interval between the two, not once each


def test_a_lease_held_elsewhere_is_respected_until_it_expires_then_taken_over(db):
    """A holder that died mid-run (another host) left its lease: nobody runs the job until it expires."""
    clock, runs = Clock(), []
    db.run("INSERT INTO scheduler_jobs (name, interval_s, lease_owner, lease_until, last_started_at) "
           "VALUES ('tick', 5, 'dead-host:4242:abc', :until, :started)",
           until=T0 + dt.timedelta(seconds=30), started=T0 - dt.timedelta(seconds=30))
    survivor = Scheduler(db, [Job("tick", 5, lambda: runs.append(clock.now), lease_s=60)], owner="survivor",
                         clock=clock)
    assert survivor.run_pending() == {}  # due, but the lease is someone else's
    clock.advance(29)
    assert survivor.run_pending() == {}
    clock.advance(1)
    assert survivor.run_pending() == {"tick": None}
    row = job_row(db, "tick")
    assert (row["runs"], row["lease_owner"], runs) == (1, None, [T0 + dt.timedelta(seconds=30)])


def test_a_failing_job_records_its_error_and_the_next_job_still_runs(db, caplog):
    clock, done, attempts = Clock(), [], []

    def flaky():
        attempts.append(clock.now)
        if len(attempts) == 1:
            raise RuntimeError("provider list unreadable")

    scheduler = Scheduler(db, [Job("flaky", 5, flaky), Job("after", 5, lambda: done.append(1))], clock=clock)
    with caplog.at_level(logging.ERROR, "mospay.scheduler"):
        assert scheduler.run_pending() == {"flaky": "RuntimeError: provider list unreadable", "after": None}
    assert "job flaky failed" in caplog.text and done == [1]
    failed = job_row(db, "flaky")
    assert (failed["runs"], failed["failures"], failed["last_success_at"]) == (1, 1, None)
    assert failed["last_error"] == "RuntimeError: provider list unreadable" and failed["lease_owner"] is None
    clock.advance(5)
    assert scheduler.run_pending() == {"flaky": None, "after": None}  # tried again next interval
    recovered = job_row(db, "flaky")
    assert (recovered["runs"], recovered["failures"], recovered["last_error"]) == (2, 1, None)
    assert recovered["last_success_at"] == T0 + dt.timedelta(seconds=5)


def test_a_database_outage_is_a_warning_and_the_job_runs_again_next_interval(db, caplog):
    clock, calls = Clock(), []

    def needs_database():
        calls.append(1)
        if len(calls) == 1:
            raise errors.ServiceUnavailable("the database is unavailable; try again shortly")

    scheduler = Scheduler(db, [Job("reconcile", 5, needs_database)], clock=clock)
    with caplog.at_level(logging.WARNING, "mospay.scheduler"):
        assert scheduler.run_pending() == {"reconcile": "the database is unavailable; try again shortly"}
    assert "trying again next interval" in caplog.text and "Traceback" not in caplog.text
    clock.advance(5)
    assert scheduler.run_pending() == {"reconcile": None}

    away = Database("postgresql://postgres@127.0.0.1:1/nowhere", size=1)  # nothing listens on port 1
    caplog.clear()
    with caplog.at_level(logging.WARNING, "mospay.scheduler"):
        assert Scheduler(away, [Job("reconcile", 5, needs_database)]).run_pending() == {}
    assert "cannot take its lease" in caplog.text and len(calls) == 2


def test_stop_lets_the_current_job_finish_and_starts_no_other(db):
    started, release, finished, later = threading.Event(), threading.Event(), [], []

    def slow():
        started.set()
        assert release.wait(20)
        finished.append(1)

    scheduler = Scheduler(db, [Job("slow", 60, slow), Job("later", 60, lambda: later.append(1))],
                          tick_s=0.01).start()
    assert started.wait(20)
    stopper = threading.Thread(target=scheduler.stop)
    stopper.start()
    wait_until(lambda: scheduler._stop.is_set(), what="stop requested")
    assert scheduler.is_alive()  # still finishing the job
    release.set()
    stopper.join(20)
    assert not scheduler.is_alive() and finished == [1] and later == []
    row = job_row(db, "slow")
    assert (row["runs"], row["lease_owner"]) == (1, None)  # recorded and released on the way out


def test_the_lease_is_renewed_while_a_long_job_runs(db_url):
    """The lease bounds how long a dead holder blocks a job, not how long a live one may run."""
    pools = [Database(db_url, size=2), Database(db_url, size=2)]
    started, release = threading.Event(), threading.Event()

    def long_job():
        started.set()
        assert release.wait(20)

    holder = Scheduler(pools[0], [Job("long", 0.05, long_job, lease_s=0.3)], tick_s=0.01).start()
    try:
        assert started.wait(20)
        first = job_row(pools[1], "long")["lease_until"]
        # Past the first lease's end: the holder has renewed it, so nobody else may take the job.
        wait_until(lambda: pools[1].run("SELECT now() > :t AS past", t=first)[0]["past"], what="first lease end")
        other = Scheduler(pools[1], [Job("long", 0.05, lambda: pytest.fail("ran twice"), lease_s=0.3)])
        assert other.run_pending() == {}
        assert job_row(pools[1], "long")["lease_until"] > first
    finally:
        release.set()
        holder.stop()
        for pool in pools:
            pool.close()


def test_components_register_one_line_per_job_and_an_interval_of_zero_switches_one_off(db):
    every = Components.build(Config(**KEYS), db).jobs()
    assert [(j.name, j.interval_s) for j in every] == [("reconcile", 5.0), ("deliver_webhooks", 5.0),
                                                       ("prune_logs", 3600.0), ("evaluate_alerts", 60.0),
                                                       ("deliver_alerts", 5.0), ("fold_rollups", 3600.0),
                                                       ("run_batches_1", 1.0), ("run_batches_2", 1.0)]
    some = Components.build(Config(reconcile_interval_s=0, log_retention_days=0, alert_interval_s=0,
                                   batch_interval_s=0, **KEYS), db).jobs()
    assert [j.name for j in some] == ["deliver_webhooks", "fold_rollups"]


def test_metrics_and_dashboard_show_every_job_row(site):  # noqa: F811
    clock = Clock()
    scheduler = site.parts.scheduler(clock=clock)  # the real jobs, on an empty database: nothing to do
    assert scheduler.run_pending() == {"reconcile": None, "deliver_webhooks": None, "prune_logs": None,
                                       "evaluate_alerts": None, "deliver_alerts": None, "fold_rollups": None,
                                       "run_batches_1": None, "run_batches_2": None}
    broken = Scheduler(site.db, [Job("alerts", 60, lambda: 1 / 0)], clock=clock)
    assert broken.run_pending() == {"alerts": "ZeroDivisionError: division by zero"}

    text = falcon.testing.TestClient(site.app).simulate_get("/metrics", remote_addr="127.0.0.1").text
    for job in ("reconcile", "deliver_webhooks", "prune_logs"):
        assert _sample(text, "mospay_job_runs_total", job=job) == 1
        assert _sample(text, "mospay_job_last_success_timestamp_seconds", job=job) == T0.timestamp()
        assert _sample(text, "mospay_job_last_run_failed", job=job) == 0
        assert _sample(text, "mospay_job_duration_seconds", job=job) >= 0
    assert _sample(text, "mospay_job_failures_total", job="alerts") == 1
    assert _sample(text, "mospay_job_last_run_failed", job="alerts") == 1
    assert _sample(text, "mospay_job_last_success_timestamp_seconds", job="alerts") is None  # never succeeded
    assert "# TYPE mospay_job_runs_total counter" in text

    page = site.portal("watcher", "viewer").get("/admin").text
    panel = page[page.index('id="jobs"'):]
    panel = panel[:panel.index("</section>")]
    for job in ("reconcile", "deliver_webhooks", "prune_logs", "alerts"):
        assert f"<td>{job}</td>" in panel
    assert "ZeroDivisionError: division by zero" in panel and "2030-01-01 00:00:00" in panel

    from mospay.__main__ import build_parser, run
    rows = run(build_parser().parse_args(["jobs"]), SimpleNamespace(db=site.db, config=site.config))
    assert [(r["name"], r["runs"], r["failures"]) for r in rows] == [
        ("alerts", 1, 1), ("deliver_alerts", 1, 0), ("deliver_webhooks", 1, 0), ("evaluate_alerts", 1, 0),
        ("fold_rollups", 1, 0), ("prune_logs", 1, 0), ("reconcile", 1, 0), ("run_batches_1", 1, 0),
        ("run_batches_2", 1, 0)]
