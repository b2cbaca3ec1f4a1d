"""Settling after a burst: checks run concurrently per service, within the breaker, and a check the
breaker refused comes back when the breaker allows a call, not after the claim's whole lease."""

from __future__ import annotations

import time

import pytest

from mospay import accounts, catalogue
from mospay.breaker import Breakers
from mospay.components import Components
from mospay.config import Config
from mospay.db import Database
from mospay.provider import Provider
from mospay.reconciler import Reconciler
from mospay.simulator import Simulator

KEYS = {"secret_key": "k" * 40, "jwt_secret_key": "j" * 40}


@pytest.fixture(scope="module")
def sim():
    # A healthy provider whose status query takes 100 ms, as a real one's does.
    with Simulator(hang_seconds=2, callback_delay=60, status_delay=0.1) as simulator:
        yield simulator


def open_rows(db, sim, n: int, prefix: str) -> None:
    """n UNKNOWN transactions, all due now; the provider took each payment (SUCCESSFUL)."""
    catalogue.create_service(db, {"name": "momo", "service_url": sim.url, "timeout_s": 1})
    accounts.create_client(db, KEYS["secret_key"], {"company_name": "Shop", "app_id": "shop"})
    catalogue.assign_service(db, "shop", {"service": "momo", "routes": ["collection"]})
    db.run("INSERT INTO transactions (client_id, service_id, route, f010, amount, request, request_hash, status, "
           "next_check_at) SELECT c.id, s.id, 'collection', :p || g, 10, '{}', 'h', 'UNKNOWN', now() "
           "FROM clients c, services s, generate_series(1, :n) g", p=prefix, n=n)
    for row in db.run("SELECT mospay.provider_reference(public_id, provider_ref) AS ref FROM transactions "
                      "WHERE f010 LIKE :p", p=prefix + "%"):
        sim.server.ledger.record(row["ref"], "SUCCESSFUL")  # what the provider was sent for each


def test_a_check_the_breaker_refused_is_due_again_when_the_breaker_allows_a_call(db, sim):
    open_rows(db, sim, 3, "brk")
    breakers = Breakers(failures=1, cooldown_s=2)
    breakers.get("momo").record(transport_failure=True)  # open for 2 s
    reconciler = Reconciler(db, Provider(), breakers)
    assert reconciler.run_once()["settled"] == 0
    rows = db.run("SELECT status, check_attempts, EXTRACT(epoch FROM next_check_at - now()) AS due_in "
                  "FROM transactions")
    assert {(r["status"], r["check_attempts"]) for r in rows} == {("UNKNOWN", 0)}  # not asked, not counted
    # Before: the claim's lease, connect + read timeout + 10 s = 16 s here.
    assert all(0 < r["due_in"] <= 3.5 for r in rows), rows
    deadline = time.monotonic() + 15
    while db.run("SELECT count(*) AS n FROM transactions WHERE status = 'UNKNOWN'")[0]["n"]:
        assert time.monotonic() < deadline, "the released checks never came back"
        reconciler.run_once()  # half-open: one trial closes the breaker, the others follow
        time.sleep(0.2)
    assert {r["status"] for r in db.run("SELECT status FROM transactions")} == {"SUCCESSFUL"}


def test_a_burst_of_300_due_rows_is_settled_within_ten_seconds_of_their_due_time(db, db_url, sim):
    open_rows(db, sim, 300, "burst")
    due = db.run("SELECT max(next_check_at) AS due FROM transactions")[0]["due"]
    database = Database(db_url, size=12)
    # The reconcile job as run.py runs it: the default interval (5 s), concurrency and breaker.
    scheduler = Components.build(Config(database_url=db_url, **KEYS), database, Provider()).scheduler()
    scheduler.start()
    try:
        deadline = time.monotonic() + 40
        while db.run("SELECT count(*) AS n FROM transactions WHERE status <> 'SUCCESSFUL'")[0]["n"]:
            assert time.monotonic() < deadline, "the burst was not settled"
            time.sleep(0.2)
    finally:
        scheduler.stop()
        database.close()
    late = db.run("SELECT max(e.created_at) - :due AS late FROM transaction_events e WHERE e.to_status = "
                  "'SUCCESSFUL'", due=due)[0]["late"]
    # Before: one check at a time, 300 x (100 ms + its database write) is over 30 s.
    assert late.total_seconds() <= 10, f"the last row was settled {late} after it was due"
