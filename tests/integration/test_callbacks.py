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
        assert forged.status == 200 and forged.json()["checked"] == 1
        assert wait_status(fleet.db, body["f010"], "SUCCESSFUL", seconds=0.5) == "PENDING"

        bad = [("/api/v1/callbacks/momo", b"{not json", 400), ("/api/v1/callbacks/momo", b"[1]", 400),
               ("/api/v1/callbacks/momo", b'{"status": "SUCCESSFUL"}', 400),
               ("/api/v1/callbacks/nosuchservice", b'{"externalId": "x"}', 404)]
        for path, raw, status in bad:
            resp = urllib3.request("PUT", base + path, body=raw, headers={"Content-Type": "application/json"})
            assert resp.status == status and "error" in resp.json(), (path, raw, resp.data)
        unmatched = urllib3.request("POST", base + "/api/v1/callbacks/momo", json={"externalId": "nobody"})
        assert unmatched.status == 200 and unmatched.json()["matched"] == 0
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
