"""Several `python run.py` processes on one database: concurrent identical requests, and kill -9 mid-call."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import urllib3

from tests.integration.fleet import Fleet, onboard


@pytest.fixture
def fleet(postgres, tmp_path):
    f = Fleet(postgres, tmp_path)
    yield f
    f.close()


def sim_calls(http, simulator_url, db, f010):
    """Provider calls for the payment with this f010, by the reference MosPay sent it (0 before it is recorded)."""
    refs = db.run("SELECT mospay.provider_reference(public_id, provider_ref) AS ref FROM transactions WHERE f010 = :f",
                  f=f010)
    calls = http.request("GET", simulator_url + "/_sim/calls").json()["by_external_id"]
    return sum(calls.get(r["ref"], 0) for r in refs)


def test_200_concurrent_identical_requests_over_3_processes_make_one_payment(fleet, simulator):
    ports = [fleet.start(), fleet.start(), fleet.start()]
    headers, body = onboard(fleet.db, simulator, timeout_s=8)
    # 0002: the provider takes 4 s to say SUCCESSFUL, so the 199 others arrive while the first is in flight.
    body["f005"] = "+250788120002"
    http = urllib3.PoolManager(maxsize=200, retries=False)
    token = http.request("POST", f"http://127.0.0.1:{ports[0]}/api/v1/auth/token", headers=headers).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    start, answers, lock = threading.Barrier(200), [], threading.Lock()

    def one(i):
        start.wait(30)
        resp = http.request("POST", f"http://127.0.0.1:{ports[i % 3]}/api/v1/payment/process", json=body,
                            headers=bearer, timeout=30)
        with lock:
            answers.append((resp.status, resp.data))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 200
    assert len(set(answers)) == 1, {a for a in answers}
    status, data = answers[0]
    assert status == 200 and b'"SUCCESSFUL"' in data
    rows = fleet.db.run("SELECT id FROM transactions WHERE f010 = :f", f=body["f010"])
    assert len(rows) == 1
    assert sim_calls(http, simulator, fleet.db, body["f010"]) == 1


def test_kill_9_during_the_provider_call_loses_nothing_and_charges_once(fleet, simulator):
    """The simulator's 0002 number hangs (4 s) and remembers the payment as SUCCESSFUL: the money moved
    although MosPay never heard back. MosPay is killed while it waits; the next process finds it."""
    port = fleet.start(MOSPAY_RECONCILE_INTERVAL="0.2")
    headers, body = onboard(fleet.db, simulator, timeout_s=1, connect_timeout_s=0.5)
    fleet.db.run("UPDATE services SET reconcile_schedule_s = '{1,2,3}'")
    body["f005"] = "+250788120002"
    http = urllib3.PoolManager(retries=False)
    url = f"http://127.0.0.1:{port}/api/v1/payment/process"
    threading.Thread(target=lambda: _swallow(lambda: http.request("POST", url, json=body, headers=headers,
                                                                  timeout=10)), daemon=True).start()
    deadline = time.monotonic() + 5
    while sim_calls(http, simulator, fleet.db, body["f010"]) == 0:  # the call has reached the provider
        assert time.monotonic() < deadline, "the payment never reached the simulator"
        time.sleep(0.01)
    os.kill(fleet.procs[port].pid, signal.SIGKILL)
    fleet.procs[port].wait(5)
    row = fleet.db.run("SELECT status FROM transactions WHERE f010 = :f", f=body["f010"])
    assert [r["status"] for r in row] == ["RECEIVED"]  # recorded before the call: not lost

    port = fleet.start(MOSPAY_RECONCILE_INTERVAL="0.2")  # a fresh process; its reconciler takes over
    deadline = time.monotonic() + 30  # due 3.5 s after creation; slack for a loaded machine (15 s once ran out)
    while fleet.db.run("SELECT status FROM transactions WHERE f010 = :f", f=body["f010"])[0]["status"] != "SUCCESSFUL":
        assert time.monotonic() < deadline, "the reconciler did not settle the transaction"
        time.sleep(0.1)
    replay = http.request("POST", f"http://127.0.0.1:{port}/api/v1/payment/process", json=body, headers=headers,
                          timeout=10)
    assert replay.status == 200 and replay.json()["status"] == "SUCCESSFUL"
    assert sim_calls(http, simulator, fleet.db, body["f010"]) == 1  # charged once
    causes = fleet.db.run("SELECT e.to_status, e.cause FROM transaction_events e JOIN transactions t "
                          "ON t.id = e.transaction_id WHERE t.f010 = :f ORDER BY e.id", f=body["f010"])
    assert causes[-1] == {"to_status": "SUCCESSFUL", "cause": "reconciliation"}


def _answers(url) -> bool:
    try:
        urllib3.PoolManager(retries=False).request("GET", url, timeout=2)
    except urllib3.exceptions.HTTPError:
        return False
    return True


def _swallow(call):
    try:
        call()
    except Exception:
        pass


def test_sigterm_finishes_the_request_in_flight_then_stops_cleanly(fleet, simulator):
    port = fleet.start(MOSPAY_LOG_LEVEL="INFO", MOSPAY_RECONCILE_INTERVAL="0.5")
    proc = fleet.procs[port]
    headers, body = onboard(fleet.db, simulator, timeout_s=8)
    body["f005"] = "+250788120002"  # the provider answers SUCCESSFUL after 4 s
    http = urllib3.PoolManager(retries=False)
    url = f"http://127.0.0.1:{port}/api/v1/payment/process"
    answer = {}
    worker = threading.Thread(target=lambda: answer.update(resp=http.request(
        "POST", url, json=body, headers=headers, timeout=15)))
    worker.start()
    deadline = time.monotonic() + 5
    while sim_calls(http, simulator, fleet.db, body["f010"]) == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 3
    while _answers(f"http://127.0.0.1:{port}/healthz"):  # until it no longer accepts
        assert time.monotonic() < deadline, "still accepting connections 3 s after SIGTERM"
        time.sleep(0.05)
    worker.join(15)
    resp = answer["resp"]
    assert resp.status == 200 and resp.json()["status"] == "SUCCESSFUL"  # in flight: finished
    assert proc.wait(10) == 0
    output = proc.stdout.read()
    assert "scheduler stopped" in output and "database pool closed" in output, output
    assert "Traceback" not in output
    row = fleet.db.run("SELECT status FROM transactions WHERE f010 = :f", f=body["f010"])[0]
    assert row["status"] == "SUCCESSFUL"
