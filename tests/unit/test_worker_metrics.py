"""Merging the metrics of several worker processes (mospay.worker_metrics): sums, per-worker gauges,
and numbers that outlive the worker that counted them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mospay import metrics, worker_metrics


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def folder(tmp_path):
    return str(tmp_path)


def _worker(folder, index, pool_size=4):
    registry = metrics.Metrics()
    registry.watch_pool(type("Pool", (), {"size": pool_size, "in_use": 1, "waiting": 0})())
    return registry, worker_metrics.WorkerShare(registry, folder, index).start()


def _sample(text, line_start):
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_a_scrape_sees_what_another_worker_counted_just_before(folder):
    first, first_share = _worker(folder, 0)
    second, second_share = _worker(folder, 1, pool_size=6)
    try:
        for _ in range(3):
            first.observe_request("/healthz", "GET", 200, 0.002)
        for _ in range(5):  # counted after the other worker's last periodic write: it must be asked
            second.observe_request("/healthz", "GET", 200, 0.2)
        text = first.render()
        assert _sample(text, 'mospay_http_requests_total{route="/healthz",method="GET",status="200"}') == 8
        assert _sample(text, 'mospay_http_request_duration_seconds_count{route="/healthz",method="GET"}') == 8
        assert _sample(text, 'mospay_http_request_duration_seconds_bucket{route="/healthz",method="GET",le="0.005"}') == 3
        assert _sample(text, 'mospay_db_pool_size{worker="0"}') == 4
        assert _sample(text, 'mospay_db_pool_size{worker="1"}') == 6
        numbers = second.snapshot()  # the dashboard's numbers: the same whole-server view
        assert numbers["requests"] == 8 and numbers["latency"]["count"] == 8
        assert numbers["pool"] == {"size": 10, "in_use": 2, "waiting": 0}
    finally:
        second_share.stop()
        first_share.stop()


def test_a_dead_workers_counts_stay_and_a_restarted_one_adds_on(folder, tmp_path):
    registry, share = _worker(folder, 0)
    try:
        registry.observe_payment("momo", "SUCCESSFUL")
        # Worker 1 counted 7 requests and 2 payments, then died (kill -9): its last file remains.
        dead = metrics.Metrics()
        for _ in range(7):
            dead.observe_request("/api/v1/payment/process", "POST", 200, 0.01)
        dead.observe_payment("momo", "SUCCESSFUL")
        dead.observe_payment("momo", "FAILED")
        dead.watch_pool(type("Pool", (), {"size": 9, "in_use": 9, "waiting": 3})())
        state = worker_metrics._encode(dead.local_state())
        (tmp_path / "worker-1-1.json").write_text(json.dumps(
            {"pid": _dead_pid(), "worker": 1, "answered": 0, "state": state}))
        # ... and its replacement (another process, same worker number) counted 1 more.
        restarted = metrics.Metrics()
        restarted.watch_pool(type("Pool", (), {"size": 2, "in_use": 0, "waiting": 0})())
        restarted.observe_request("/api/v1/payment/process", "POST", 200, 0.01)
        restarted_share = worker_metrics.WorkerShare(restarted, folder, 1)
        restarted_share._path = tmp_path / "worker-1-restarted.json"  # its own file, as a new pid gives it
        restarted_share.start()

        text = registry.render()
        assert _sample(text, 'mospay_http_requests_total{route="/api/v1/payment/process",method="POST",status="200"}') == 8
        assert _sample(text, 'mospay_payments_total{service="momo",status="SUCCESSFUL"}') == 2
        assert _sample(text, 'mospay_payments_total{service="momo",status="FAILED"}') == 1
        # The dead worker's pool is gone: no gauge of a process that no longer exists.
        assert _sample(text, 'mospay_db_pool_size{worker="0"}') == 4
        assert _sample(text, 'mospay_db_pool_in_use{worker="1"}') == 0  # the live worker 1's pool only
        assert "9" not in [line.rsplit(" ", 1)[1] for line in text.splitlines() if "pool" in line]
        assert registry.snapshot()["payments"] == {"SUCCESSFUL": 2, "FAILED": 1}
        restarted_share.stop()
    finally:
        share.stop()


def test_a_stopped_worker_writes_its_last_numbers(folder):
    registry, share = _worker(folder, 0)
    registry.observe_request("/healthz", "GET", 200, 0.001)
    share.stop()
    other, other_share = _worker(folder, 1)
    try:
        assert other.snapshot()["requests"] == 1
    finally:
        other_share.stop()


def test_one_process_without_workers_renders_as_before():
    registry = metrics.Metrics()
    registry.watch_pool(type("Pool", (), {"size": 4, "in_use": 0, "waiting": 0})())
    registry.observe_request("/healthz", "GET", 200, 0.001)
    text = registry.render()
    assert "mospay_db_pool_size 4" in text.splitlines() and 'worker="' not in text
    assert _sample(text, 'mospay_http_requests_total{route="/healthz",method="GET",status="200"}') == 1
