"""Provider callbacks against a real `python run.py`: deduplicated, confirmed by a status query, never trusted."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import urllib3

from mospay.simulator import Simulator
from tests.integration.fleet import Fleet, onboard
from tests.support import ROOT, provider_reference


@pytest.fixture
def fleet(postgres, tmp_path):
    f = Fleet(postgres, tmp_path)
    yield f
    f.close()


def wait_status(db, f010, wanted, seconds=10.0):
    deadline = time.monotonic() + seconds
    while True:
        status = db.run("SELECT status FROM transactions WHERE f010 = :f", f=f010)[0]["status"]
        if status == wanted or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def wait_outcome(db, wanted, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if db.run("SELECT 1 FROM provider_callbacks WHERE outcome = :o", o=wanted):
            return True
        time.sleep(0.05)
    return False


def events(db, f010):
    return [(e["to_status"], e["cause"]) for e in db.run(
        "SELECT e.to_status, e.cause FROM transaction_events e JOIN transactions t ON t.id = e.transaction_id "
        "WHERE t.f010 = :f ORDER BY e.id", f=f010)]


@pytest.mark.parametrize("msisdn, final", [("+250788120004", "SUCCESSFUL"), ("+250788120008", "FAILED")])
def test_duplicated_callback_settles_the_pending_payment_once(fleet, msisdn, final):
    with Simulator(callback_delay=0.3, callback_duplicates=3) as sim:
        port = fleet.start(MOSPAY_RECONCILE_INTERVAL="0")  # only the callback can settle it here
        headers, body = onboard(fleet.db, sim.url)
        body["f005"] = msisdn
        resp = urllib3.request("POST", f"http://127.0.0.1:{port}/api/v1/payment/process", json=body,
                               headers=headers, timeout=10)
        assert resp.json()["status"] == "PENDING"
        assert wait_status(fleet.db, body["f010"], final) == final
        deadline = time.monotonic() + 5
        while sim.server.callbacks_sent < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sim.server.callbacks_sent == 3
        assert events(fleet.db, body["f010"]) == [("RECEIVED", "received"), ("PENDING", "provider response"),
                                                  (final, "callback")]
        stored = fleet.db.run("SELECT duplicates, outcome, method FROM provider_callbacks")
        assert len(stored) == 1 and stored[0]["duplicates"] == 2 and stored[0]["method"] == "PUT"
        assert sim.calls["total"] == 1


def test_a_forged_callback_changes_nothing_without_the_providers_confirmation(fleet):
    with Simulator(callback_delay=60) as sim:  # the payer has not decided yet
        port = fleet.start(MOSPAY_RECONCILE_INTERVAL="0")
        headers, body = onboard(fleet.db, sim.url)
        body["f005"] = "+250788120004"
        base = f"http://127.0.0.1:{port}"
        paid = urllib3.request("POST", base + "/api/v1/payment/process", json=body, headers=headers).json()
        assert paid["status"] == "PENDING"
        forged = urllib3.request("POST", base + "/api/v1/callbacks/momo",
                                 json={"externalId": provider_reference(paid["transaction_id"]), "status": "SUCCESSFUL"})
        assert forged.status == 200 and forged.json() == {"received": True}
        assert wait_outcome(fleet.db, "checked 1, settled 0")  # confirmed after the answer, by a status query
        assert wait_status(fleet.db, body["f010"], "SUCCESSFUL", seconds=0.5) == "PENDING"

        bad = [("/api/v1/callbacks/momo", b"{not json", 400), ("/api/v1/callbacks/momo", b"[1]", 400),
               ("/api/v1/callbacks/momo", b'{"status": "SUCCESSFUL"}', 400),
               ("/api/v1/callbacks/nosuchservice", b'{"externalId": "x"}', 404)]
        for path, raw, status in bad:
            resp = urllib3.request("PUT", base + path, body=raw, headers={"Content-Type": "application/json"})
            assert resp.status == status and "error" in resp.json(), (path, raw, resp.data)
        unmatched = urllib3.request("POST", base + "/api/v1/callbacks/momo", json={"externalId": "nobody"})
        assert unmatched.status == 200 and unmatched.json() == forged.json()  # no oracle for references
        assert wait_status(fleet.db, body["f010"], "SUCCESSFUL", seconds=0) == "PENDING"
        outcomes = sorted(r["outcome"] for r in fleet.db.run("SELECT outcome FROM provider_callbacks"))
        assert outcomes == ["checked 1, settled 0", "malformed", "malformed", "malformed", "unmatched"]


def test_dropped_callbacks_are_caught_by_the_reconcile_command(fleet):
    with Simulator(callback_delay=0.1, callback_drop_rate=1.0) as sim:
        port = fleet.start(MOSPAY_RECONCILE_INTERVAL="0")
        headers, body = onboard(fleet.db, sim.url)
        body["f005"] = "+250788120004"
        urllib3.request("POST", f"http://127.0.0.1:{port}/api/v1/payment/process", json=body, headers=headers)
        assert wait_status(fleet.db, body["f010"], "SUCCESSFUL", seconds=0.5) == "PENDING"
        assert sim.server.callbacks_sent == 0
        fleet.db.run("UPDATE transactions SET next_check_at = now()")
        env = {"DATABASE_URL": fleet.url, "SECRET_KEY": "s" * 40, "JWT_SECRET_KEY": "j" * 40, "PATH": "/usr/bin:/bin"}
        done = subprocess.run([sys.executable, "-m", "mospay", "reconcile"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"checked": 1, "settled": 1, "stuck": 0}
        assert events(fleet.db, body["f010"])[-1] == ("SUCCESSFUL", "reconciliation")


def callback(port, body, source="127.0.0.1", service="momo"):
    pool = urllib3.HTTPConnectionPool("127.0.0.1", port, source_address=(source, 0), maxsize=1)
    try:
        return pool.request("POST", f"/api/v1/callbacks/{service}", body=body,
                            headers={"Content-Type": "application/json"}, retries=False, timeout=10)
    finally:
        pool.close()


def test_callbacks_answer_the_same_whether_or_not_they_name_a_payment(fleet):
    with Simulator(callback_delay=60) as sim:
        port = fleet.start(MOSPAY_RECONCILE_INTERVAL="0")
        headers, body = onboard(fleet.db, sim.url)
        body["f005"] = "+250788120004"
        paid = urllib3.request("POST", f"http://127.0.0.1:{port}/api/v1/payment/process", json=body,
                               headers=headers).json()
        real = provider_reference(paid["transaction_id"])  # the reference the provider was sent
        answers = [callback(port, json.dumps({"externalId": ref}).encode())
                   for ref in (real, body["f010"], real)]  # a client's f010 names nothing; the last: a duplicate
        assert {(a.status, a.data) for a in answers} == {(200, b'{"received": true}')}
        assert wait_outcome(fleet.db, "checked 1, settled 0")  # the control: the real one was confirmed


def test_callbacks_are_limited_in_size_and_nothing_of_an_oversized_one_is_stored(fleet):
    with Simulator() as sim:
        port = fleet.start(MOSPAY_RECONCILE_INTERVAL="0", MOSPAY_CALLBACK_RATE_PER_MINUTE="1000")
        onboard(fleet.db, sim.url)
        padded = json.dumps({"externalId": "ref_1", "pad": "x" * (16 * 1024)}).encode()
        assert callback(port, json.dumps({"externalId": "ref_small"}).encode()).status == 200  # the control
        started = time.monotonic()
        statuses = {callback(port, padded + b" " * i).status for i in range(100)}
        resp = callback(port, b'{"externalId": "x", "pad": "' + b"y" * 60 * 1024 + b'"}')
        assert statuses == {413} and resp.status == 413 and resp.json()["error"]["code"] == "payload_too_large"
        assert time.monotonic() - started < 30
        assert fleet.db.run("SELECT count(*) AS n FROM provider_callbacks")[0]["n"] == 1


def test_callbacks_are_rate_limited_per_address_and_per_service(fleet):
    with Simulator() as sim:
        port = fleet.start(MOSPAY_RECONCILE_INTERVAL="0", MOSPAY_CALLBACK_RATE_PER_MINUTE="5",
                           MOSPAY_CALLBACK_SERVICE_RATE_PER_MINUTE="8")
        onboard(fleet.db, sim.url)
        ref = json.dumps({"externalId": "ref_rate"}).encode()
        assert [callback(port, ref).status for _ in range(6)] == [200] * 5 + [429]
        limited = callback(port, ref)
        assert limited.json()["error"]["code"] == "callback_rate_limited" and int(limited.headers["Retry-After"]) >= 1
        # Another address has its own allowance, until the service's (8 a minute) is used up.
        assert [callback(port, ref, source="127.0.0.3").status for _ in range(4)] == [200, 200, 200, 429]
        assert callback(port, ref, source="127.0.0.4").status == 429
