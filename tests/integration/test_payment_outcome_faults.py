"""What a client is told when the database fails after a payment was recorded, and what a replay is told
when the first request for its f010 is gone: never "nothing was recorded", never a 409 for a request
that no longer runs."""

from __future__ import annotations

import base64
import os
import signal
import threading
import time

import falcon.testing
import pytest
import urllib3
from pg8000.exceptions import InterfaceError

from mospay import accounts, catalogue, db as db_module, errors
from mospay.app import create_app
from mospay.config import Config
from mospay.db import Database
from mospay.provider import Provider
from mospay.reconciler import Reconciler
from mospay.simulator import Simulator
from tests.integration.fleet import Fleet, onboard
from tests.support import provider_reference

KEYS = {"secret_key": "k" * 40, "jwt_secret_key": "j" * 40}


@pytest.fixture(scope="module")
def sim():
    with Simulator(hang_seconds=4, callback_delay=60) as simulator:
        yield simulator


class FinishFault:
    """Makes finish_payment fail while armed: at the driver (a dropped connection, as when PostgreSQL
    stops), or as a pool with no free connection (every connection stays alive)."""

    def __init__(self, monkeypatch):
        self.error = None
        real = db_module._execute

        def execute(conn, sql, params, prepared):
            if self.error is not None and "finish_payment" in sql:
                raise self.error
            return real(conn, sql, params, prepared)
        monkeypatch.setattr(db_module, "_execute", execute)


@pytest.fixture
def fault(monkeypatch):
    return FinishFault(monkeypatch)


@pytest.fixture
def shop(db, db_url, sim):
    """An in-process MosPay; the service's call deadline is 1.5 s (0.5 s connect + 1 s read)."""
    catalogue.create_service(db, {"name": "momo", "service_url": sim.url, "timeout_s": 1,
                                  "connect_timeout_s": 0.5})
    db.run("UPDATE services SET reconcile_schedule_s = '{1,2,3}'")
    creds = accounts.create_client(db, KEYS["secret_key"], {"company_name": "Shop", "app_id": "shop"})
    catalogue.assign_service(db, "shop", {"service": "momo", "routes": ["collection"]})
    database = Database(db_url, size=4)
    app = falcon.testing.TestClient(create_app(Config(database_url=db_url, **KEYS), database, Provider()))
    raw = base64.b64encode(f"{creds['api_username']}:{creds['api_secret']}".encode()).decode()
    headers = {"Authorization": f"Basic {raw}", "App-ID": "shop"}

    def pay(f010, msisdn="+250788123456"):
        body = {"f000": "momo", "f001": "collection", "f002": "collection", "f003": "shop", "f004": "500.00",
                "f005": msisdn, "f006": "c", "f007": "e", "f008": "p", "f009": "d", "f010": f010}
        return app.simulate_post("/api/v1/payment/process", json=body, headers=headers)
    yield pay
    database.close()


def txn(db, f010):
    return db.run("SELECT * FROM transactions WHERE f010 = :f", f=f010)[0]


def test_database_lost_after_the_provider_call_answers_unknown_with_the_transaction_id(db, shop, sim, fault):
    fault.error = InterfaceError("network error")  # the connection drops as finish_payment is sent
    answer = shop("lost1")
    row = txn(db, "lost1")
    reference = provider_reference(row["public_id"])
    assert sim.calls["by_external_id"][reference] == 1  # the provider was called: the money moved
    assert answer.status_code == 202, answer.json  # before: 503 service_unavailable, "nothing was recorded"
    assert answer.json["status"] == "UNKNOWN" and answer.json["transaction_id"] == row["public_id"]
    assert row["status"] == "RECEIVED" and row["response_body"] is None

    fault.error = None  # the database is back
    # The dropped connection was the one that recorded the row: the first request is known to be gone,
    # so a replay at once answers UNKNOWN with the same transaction id, not 409 in_progress.
    started = time.monotonic()
    replay = shop("lost1")
    assert time.monotonic() - started < 1.0
    assert (replay.status_code, replay.json["status"], replay.json["transaction_id"]) == (
        202, "UNKNOWN", row["public_id"])

    db.run("UPDATE transactions SET next_check_at = now() WHERE f010 = 'lost1'")  # the lease ran out
    Reconciler(db, Provider()).run_once()
    assert txn(db, "lost1")["status"] == "SUCCESSFUL"  # settled by the status query
    settled = shop("lost1")
    assert (settled.status_code, settled.json["status"], settled.json["transaction_id"]) == (
        200, "SUCCESSFUL", row["public_id"])
    assert sim.calls["by_external_id"][reference] == 1  # neither the replays nor the check paid again


def test_a_replay_after_the_first_requests_deadline_answers_unknown_not_in_progress(db, shop, sim, fault):
    # No connection dropped: the session that recorded the row is alive, only the deadline tells.
    fault.error = errors.ServiceUnavailable("all database connections are busy; try again", code="busy")
    first = shop("late1")
    assert (first.status_code, first.json["status"]) == (202, "UNKNOWN")
    fault.error = None
    db.run("UPDATE transactions SET created_at = now() - interval '5 seconds' WHERE f010 = 'late1'")
    started = time.monotonic()
    replay = shop("late1")
    assert time.monotonic() - started < 1.0  # before: the whole wait (2.5 s), then 409 in_progress
    assert (replay.status_code, replay.json["status"], replay.json["transaction_id"]) == (
        202, "UNKNOWN", first.json["transaction_id"])


def test_a_replay_of_a_row_the_reconciler_left_unknown_answers_its_current_state(db, shop, sim, fault):
    fault.error = errors.ServiceUnavailable("all database connections are busy; try again", code="busy")
    first = shop("left1")
    fault.error = None
    # The status query cannot reach the provider: the check moves the row to UNKNOWN without an answer.
    db.run("UPDATE services SET service_url = 'http://127.0.0.1:9'")
    db.run("UPDATE transactions SET next_check_at = now() WHERE f010 = 'left1'")
    Reconciler(db, Provider()).run_once()
    assert txn(db, "left1")["status"] == "UNKNOWN"
    db.run("UPDATE transactions SET created_at = now() WHERE f010 = 'left1'")  # well inside the deadline
    started = time.monotonic()
    replay = shop("left1")
    assert time.monotonic() - started < 1.0  # before: 409 in_progress until the row was final
    assert (replay.status_code, replay.json["status"], replay.json["transaction_id"]) == (
        202, "UNKNOWN", first.json["transaction_id"])


def test_a_replay_of_a_payment_still_in_flight_still_waits_for_its_answer(db, shop, sim):
    """The control: a first request that is alive and inside its deadline is waited for."""
    answers = {}
    paying = threading.Thread(target=lambda: answers.update(first=shop("fly1", "+250788120002")))
    paying.start()
    try:
        deadline = time.monotonic() + 5
        while not db.run("SELECT 1 FROM transactions WHERE f010 = 'fly1'"):  # in its provider call now
            assert time.monotonic() < deadline
            time.sleep(0.01)
        replay = shop("fly1", "+250788120002")
    finally:
        paying.join(10)
    assert answers["first"].json == replay.json and replay.json["status"] == "UNKNOWN"


@pytest.fixture
def fleet(postgres, tmp_path):
    f = Fleet(postgres, tmp_path)
    yield f
    f.close()


def test_a_replay_after_the_first_process_was_killed_answers_unknown_at_once(fleet, simulator):
    port = fleet.start(MOSPAY_RECONCILE_INTERVAL="0")
    headers, body = onboard(fleet.db, simulator, timeout_s=8)  # deadline 13 s: the replay could wait 14 s
    body["f005"] = "+250788120002"  # the provider takes 4 s, and remembers the payment as SUCCESSFUL
    http = urllib3.PoolManager(retries=False)
    threading.Thread(target=_swallow, args=(lambda: http.request(
        "POST", f"http://127.0.0.1:{port}/api/v1/payment/process", json=body, headers=headers, timeout=20),),
        daemon=True).start()
    deadline = time.monotonic() + 10
    while not _reached_provider(http, simulator, fleet.db, body["f010"]):
        assert time.monotonic() < deadline, "the payment never reached the simulator"
        time.sleep(0.01)
    os.kill(fleet.procs[port].pid, signal.SIGKILL)
    fleet.procs[port].wait(5)
    row = fleet.db.run("SELECT public_id, status FROM transactions WHERE f010 = :f", f=body["f010"])[0]
    assert row["status"] == "RECEIVED"

    other = fleet.start(MOSPAY_RECONCILE_INTERVAL="0")
    deadline = time.monotonic() + 5  # the killed process's database sessions end as its sockets close
    while True:
        started = time.monotonic()
        replay = http.request("POST", f"http://127.0.0.1:{other}/api/v1/payment/process", json=body,
                              headers=headers, timeout=20)
        if replay.status != 409 or time.monotonic() > deadline:
            break
    assert time.monotonic() - started < 3, "the replay waited for a request that no longer runs"
    assert replay.status == 202, replay.data  # before: 409 in_progress for up to 15 s (14 s wait)
    assert (replay.json()["status"], replay.json()["transaction_id"]) == ("UNKNOWN", row["public_id"])


def _reached_provider(http, simulator_url, db, f010) -> bool:
    """Whether the payment with this f010 has reached the provider, by the reference it was sent."""
    rows = db.run("SELECT public_id FROM transactions WHERE f010 = :f", f=f010)
    calls = http.request("GET", simulator_url + "/_sim/calls").json()["by_external_id"]
    return bool(rows) and calls.get(provider_reference(rows[0]["public_id"]), 0) > 0


def _swallow(call):
    try:
        call()
    except Exception:
        pass


def test_a_fault_inside_the_gateway_during_the_provider_call_answers_unknown_not_500(db, shop, sim, monkeypatch):
    """After the payment is recorded, a failure of the gateway's own while calling the provider (a bug, the
    database gone while a credential is read) cannot say whether the provider got the call: 202 UNKNOWN
    with the transaction id, recorded UNKNOWN and due for a status query; before, a 500."""
    from mospay import provider as provider_module

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the provider client")
    monkeypatch.setattr(provider_module.Provider, "call", broken)
    answer = shop("broken1")
    row = txn(db, "broken1")
    assert answer.status_code == 202, answer.text
    assert (answer.json["status"], answer.json["transaction_id"]) == ("UNKNOWN", row["public_id"])
    assert row["status"] == "UNKNOWN" and row["next_check_at"] is not None  # the reconciler will ask
    monkeypatch.undo()
    assert shop("fine1").status_code == 200  # the control: the same gateway, working again
