"""Performance features that are not a number: --workers, api_logs retention, quiet logs."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time

import pytest

from mospay import db as dbmod, retention
from tests.integration.conftest import TEST_KEYS
from tests.support import ROOT, free_port, start_process, stop_process, wait_for_line


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="--workers forks: Linux/macOS only")
def test_two_workers_answer_on_one_port_and_sigterm_stops_all(postgres, tmp_path):
    name = postgres.create_database()
    port = free_port()
    env = {"DATABASE_URL": postgres.url_for(name), "MOSPAY_DATA_DIR": str(tmp_path), **TEST_KEYS,
           "MOSPAY_RECONCILE_INTERVAL": "0.5"}
    proc = start_process(["run.py", "--port", str(port), "--workers", "2"], env)
    db = dbmod.Database(postgres.url_for(name), size=1)
    try:
        wait_for_line(proc, r"MosPay listening on .*\(2 workers\)", timeout=60)
        children = _children(proc.pid, 2)  # the line is printed just before the parent forks
        assert len(children) == 2
        # Hold keep-alive connections open and ask the kernel which worker accepted each one.
        connections, served_by = [], set()
        for _ in range(40):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/readyz")
            resp = conn.getresponse()
            assert resp.status == 200 and json.loads(resp.read()) == {"status": "ready"}
            connections.append(conn)
            served_by = {pid for pid in children if _socket_inodes(pid) & _accepted_inodes(port)}
            if served_by == set(children):
                break
        for conn in connections:
            conn.close()
        assert served_by == set(children), "both workers must answer on the shared port"
        _assert_jobs_run_once_per_interval_across_workers(db, "reconcile", 0.5)
    finally:
        db.close()
        code = stop_process(proc)
        postgres.drop_database(name)
    assert code == 0
    for pid in children:
        assert not _alive(pid), f"worker {pid} survived SIGTERM to the parent"


def _assert_jobs_run_once_per_interval_across_workers(db, job: str, interval: float) -> None:
    """Both workers run a scheduler; the job's lease lets one of them at a time run it, once per interval:
    the starts the database records (its own clock) are never closer than the interval."""
    starts, deadline = [], time.monotonic() + 30
    while len(starts) < 5:
        assert time.monotonic() < deadline, f"the scheduler ran {job} {len(starts)} times"
        rows = db.run("SELECT last_started_at FROM scheduler_jobs WHERE name = :n", n=job)
        if rows and rows[0]["last_started_at"] not in starts[-1:]:
            starts.append(rows[0]["last_started_at"])
        time.sleep(0.01)
    gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:])]
    assert min(gaps) >= interval, gaps


def _children(pid: int, expected: int) -> list[int]:
    deadline = time.monotonic() + 10
    found = []
    while time.monotonic() < deadline:
        found = [int(p) for p in open(f"/proc/{pid}/task/{pid}/children").read().split()]
        if len(found) >= expected:
            break
        time.sleep(0.05)
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _accepted_inodes(port: int) -> set[str]:
    """Inodes of established TCP sockets whose local port is the server's: the accepted side."""
    inodes = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
            inodes.add(fields[9])
    return inodes


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def _log_rows(db, days_old: int, count: int) -> None:
    db.run("INSERT INTO api_logs (endpoint, method, status_code, created_at) "
           "SELECT '/api/v1/x', 'GET', 200, now() - make_interval(days => CAST(:d AS integer)) "
           "FROM generate_series(1, CAST(:n AS integer))", d=days_old, n=count)


def _log_ages(db) -> list[int]:
    return [r["age"] for r in db.run(
        "SELECT extract(day FROM now() - created_at)::int AS age FROM api_logs ORDER BY created_at")]


def test_prune_logs_deletes_only_rows_past_retention_in_batches(db):
    _log_rows(db, 120, 7)
    _log_rows(db, 91, 1)
    _log_rows(db, 89, 2)
    _log_rows(db, 0, 3)
    assert retention.prune_logs(db, 0) == 0  # 0 keeps everything
    assert retention.prune_logs(db, 90, batch=3, pause_s=0) == 8
    assert sorted(_log_ages(db)) == [0, 0, 0, 89, 89]
    assert retention.prune_logs(db, 90, batch=3, pause_s=0) == 0


def test_prune_logs_command_uses_the_configured_retention(db, db_url):
    _log_rows(db, 40, 2)
    _log_rows(db, 10, 1)
    env = {**os.environ, "DATABASE_URL": db_url, "MOSPAY_LOG_RETENTION_DAYS": "30", **TEST_KEYS}
    result = subprocess.run([sys.executable, "-m", "mospay", "prune-logs"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"deleted": 2, "retention_days": 30}
    assert _log_ages(db) == [10]
