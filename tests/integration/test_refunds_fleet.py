"""Refunds across real `python run.py` processes on one database: 50 concurrent partial refunds of one
payment over two processes never refund more than the payment, and kill -9 during a refund's provider
call loses nothing and refunds once (the provider's own count of refund calls per reference)."""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from decimal import Decimal

import pytest
import urllib3

from mospay import function_editor, functions
from mospay.audit import Actor
from mospay.simulator import Simulator
from tests.integration.fleet import Fleet, onboard
from tests.support import provider_reference


@pytest.fixture
def fleet(postgres, tmp_path):
    f = Fleet(postgres, tmp_path)
    yield f
    f.close()


def refunds_at_provider(http, simulator_url) -> dict:
    return http.request("GET", simulator_url + "/_sim/refunds").json()


def test_50_concurrent_partial_refunds_over_two_processes_never_over_refund(fleet, simulator):
    ports = [fleet.start(), fleet.start()]
    headers, body = onboard(fleet.db, simulator)  # a 1500.00 payment
    # A refund request function that takes 50 ms (an operator's may well): without the payment's row lock,
    # refunds started meanwhile would all see the same sum, so this test fails on an unlocked start_refund.
    name = functions.refund_function_names(headers["App-ID"], "momo")[0]
    source = functions.create_refund_function_ddl(headers["App-ID"], "momo")[0]
    function_editor.save(fleet.db, Actor(None, "test", "admin"), name,
                         source.replace('"mospay_fn".', "mospay_fn.", 1)
                         .replace("BEGIN\n", "BEGIN\n    PERFORM pg_sleep(0.05);\n", 1))
    http = urllib3.PoolManager(maxsize=50, retries=False)
    paid = http.request("POST", f"http://127.0.0.1:{ports[0]}/api/v1/payment/process", json=body, headers=headers)
    assert paid.status == 200, paid.data
    reference = provider_reference(paid.json()["transaction_id"])
    start, answers, lock = threading.Barrier(50), [], threading.Lock()

    def one(i):
        start.wait(30)
        resp = http.request("POST", f"http://127.0.0.1:{ports[i % 2]}/api/v1/payment/{body['f010']}/refund",
                            json={"refund_id": f"part-{i}", "amount": "200.00"}, headers=headers, timeout=30)
        with lock:
            answers.append((resp.status, resp.json().get("status") or resp.json()["error"]["code"]))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 50
    # 7 x 200.00 = 1400.00 fit in 1500.00; an eighth would not: every other one is refused, none is lost.
    assert sorted(set(answers)) == [(200, "SUCCESSFUL"), (422, "refund_exceeds_payment")]
    assert answers.count((200, "SUCCESSFUL")) == 7, answers
    rows = fleet.db.run("SELECT r.amount, r.status FROM refunds r JOIN transactions t ON t.id = r.transaction_id "
                        "WHERE t.f010 = :f", f=body["f010"])
    assert len(rows) == 7 and sum(r["amount"] for r in rows) == Decimal("1400.00")
    # The provider's side agrees: 7 refund calls, 1400.00 back on this payment.
    assert refunds_at_provider(http, simulator)["refunded_by_payment"][reference] == "1400.00"


@pytest.fixture(scope="module")
def quick_sim():
    with Simulator(hang_seconds=1.5, callback_delay=60) as sim:
        yield sim


def test_kill_9_during_a_refund_call_loses_nothing_and_refunds_once(fleet, quick_sim):
    """The simulator hangs 1.5 s on a refund of x.02 and remembers it SUCCESSFUL: the money went back although
    MosPay never heard. MosPay is killed while it waits; the next process's reconciler finds it."""
    simulator = quick_sim.url
    port = fleet.start(MOSPAY_RECONCILE_INTERVAL="0.2")
    headers, body = onboard(fleet.db, simulator, timeout_s=2, connect_timeout_s=0.5)
    fleet.db.run("UPDATE services SET reconcile_schedule_s = '{1,2,3}'")
    http = urllib3.PoolManager(retries=False)
    assert http.request("POST", f"http://127.0.0.1:{port}/api/v1/payment/process", json=body,
                        headers=headers).status == 200
    key = "crash-" + secrets.token_hex(4)
    refund = {"refund_id": key, "amount": "100.02"}
    url = f"http://127.0.0.1:{port}/api/v1/payment/{body['f010']}/refund"
    threading.Thread(target=lambda: _swallow(lambda: http.request("POST", url, json=refund, headers=headers,
                                                                  timeout=10)), daemon=True).start()
    deadline = time.monotonic() + 5
    while not fleet.db.run("SELECT 1 FROM refunds WHERE refund_id = :k", k=key) or _calls(http, simulator, fleet, key) == 0:
        assert time.monotonic() < deadline, "the refund never reached the simulator"
        time.sleep(0.01)
    os.kill(fleet.procs[port].pid, signal.SIGKILL)
    fleet.procs[port].wait(5)
    assert [r["status"] for r in fleet.db.run("SELECT status FROM refunds WHERE refund_id = :k", k=key)] == ["RECEIVED"]

    port = fleet.start(MOSPAY_RECONCILE_INTERVAL="0.2")
    deadline = time.monotonic() + 40  # due 4.5 s after it was recorded (its call's deadline); slack for load
    while fleet.db.run("SELECT status FROM refunds WHERE refund_id = :k", k=key)[0]["status"] != "SUCCESSFUL":
        assert time.monotonic() < deadline, ("the reconciler did not settle the refund", fleet.db.run(
            "SELECT status, check_attempts, next_check_at, now() AS now, stuck FROM refunds WHERE refund_id = :k", k=key))
        time.sleep(0.1)
    replay = http.request("POST", f"http://127.0.0.1:{port}/api/v1/payment/{body['f010']}/refund", json=refund,
                          headers=headers, timeout=10)
    assert (replay.status, replay.json()["status"]) == (200, "SUCCESSFUL"), replay.data
    assert _calls(http, simulator, fleet, key) == 1  # refunded once
    rest = http.request("POST", f"http://127.0.0.1:{port}/api/v1/payment/{body['f010']}/refund",
                        json={"refund_id": key + "-rest"}, headers=headers, timeout=10)
    assert (rest.status, rest.json()["amount"]) == (200, "1399.98"), rest.data  # 1500.00 - 100.02: never more
    events = fleet.db.run("SELECT e.to_status, e.cause FROM refund_events e JOIN refunds r ON r.id = e.refund_id "
                          "WHERE r.refund_id = :k ORDER BY e.id", k=key)
    assert events[-1] == {"to_status": "SUCCESSFUL", "cause": "reconciliation"}


def _calls(http, simulator_url, fleet, key) -> int:
    ref = fleet.db.run("SELECT provider_reference::text AS ref FROM refunds WHERE refund_id = :k", k=key)
    return refunds_at_provider(http, simulator_url)["by_reference"].get(ref[0]["ref"], 0) if ref else 0


def _swallow(call):
    try:
        call()
    except Exception:
        pass
