"""kill -9 of every MosPay process during a running batch, then a restart: no row paid twice, none
skipped, counts exact. The simulator counts provider calls per reference (tests/support.provider_reference)."""

from __future__ import annotations

import os
import signal
import time

import pytest
import urllib3

from mospay import batches
from mospay.audit import Actor
from tests.integration.batch_support import rows, to_csv
from tests.integration.fleet import Fleet, onboard

ENV = {"MOSPAY_BATCH_LEASE_MARGIN": "1", "MOSPAY_BREAKER_FAILURES": "1000", "MOSPAY_RECONCILE_INTERVAL": "0.2", "MOSPAY_BATCH_INTERVAL": "0.2"}
N = 60


@pytest.fixture
def fleet(postgres, tmp_path):
    f = Fleet(postgres, tmp_path)
    yield f
    f.close()


class _Payer:
    service = "momo"


def test_kill_9_mid_batch_then_restart_pays_every_row_exactly_once(fleet, simulator):
    ports = [fleet.start(**ENV), fleet.start(**ENV)]
    headers, _body = onboard(fleet.db, simulator, timeout_s=1, connect_timeout_s=0.5)
    fleet.db.run("UPDATE services SET reconcile_schedule_s = '{1,2,3}', max_per_second = 15")
    items = rows(_Payer, N)
    for item in items[::7]:
        item["f005"] = "+250788120002"  # the provider hangs past the timeout and keeps the money: UNKNOWN, reconciled
    http = urllib3.PoolManager(retries=False)
    created = http.request("POST", f"http://127.0.0.1:{ports[0]}/api/v1/batches", body=to_csv(items),
                           headers={**headers, "Content-Type": "text/csv"})
    assert created.status == 201, created.data
    batch = created.json()["batch_id"]
    batches.decide(fleet.db, Actor(None, "checker", "admin"), "admin:checker", batch, "approve", client_id=None)

    deadline = time.monotonic() + 30
    while True:  # a third of the way through: rows done, rows in flight, rows queued
        done = fleet.db.run("SELECT count(*) AS n FROM batch_rows r JOIN batches b ON b.id = r.batch_id "
                            "WHERE b.public_id = :b AND r.state = 'DONE'", b=batch)[0]["n"]
        if done >= N // 3:
            break
        assert time.monotonic() < deadline, "the batch did not start"
        time.sleep(0.05)
    for port in ports:
        os.kill(fleet.procs[port].pid, signal.SIGKILL)
        fleet.procs[port].wait(5)
    left = fleet.db.run("SELECT count(*) AS n FROM batch_rows r JOIN batches b ON b.id = r.batch_id "
                        "WHERE b.public_id = :b AND r.state IN ('QUEUED', 'IN_FLIGHT')", b=batch)[0]["n"]
    assert left > 0, "the batch finished before the kill: nothing was tested"

    fleet.start(**ENV)  # one fresh process takes over the dead ones' leases once they expire
    deadline = time.monotonic() + 60
    while True:
        doc = batches.status(fleet.db, batch, None)
        open_rows = sum(doc["counts"][k] for k in ("queued", "RECEIVED", "PENDING", "UNKNOWN"))
        if doc["status"] == "COMPLETED" and open_rows == 0:
            break
        assert time.monotonic() < deadline, (doc["counts"], fleet.db.run(
            "SELECT r.state, r.lease_owner, r.lease_expires_at < now() AS expired, r.attempts, r.not_before, "
            "r.message, count(*) AS n FROM batch_rows r GROUP BY 1, 2, 3, 4, 5, 6"),
            fleet.db.run("SELECT status, stuck, check_attempts, status_reason FROM transactions "
                         "WHERE status NOT IN ('SUCCESSFUL', 'FAILED')"))
        time.sleep(0.2)

    calls = http.request("GET", simulator + "/_sim/calls").json()["by_external_id"]
    paid = fleet.db.run(
        "SELECT r.line_no, mospay.provider_reference(t.public_id, t.provider_ref) AS ref, t.status "
        "FROM batch_rows r JOIN batches b ON b.id = r.batch_id "
        "LEFT JOIN transactions t ON t.client_id = b.client_id AND t.f010 = r.f010 "
        "WHERE b.public_id = :b ORDER BY r.line_no", b=batch)
    assert len(paid) == N and all(p["ref"] is not None for p in paid)  # none skipped: each row has its payment
    assert all(calls.get(p["ref"], 0) <= 1 for p in paid), "a row was sent to the provider twice"
    # Exact counts: what the provider took is SUCCESSFUL; a row recorded but never sent (killed between
    # the two) is FAILED by the reconciler; nothing else.
    sent = sum(1 for p in paid if calls.get(p["ref"], 0) == 1)
    assert doc["counts"]["SUCCESSFUL"] == sent and doc["counts"]["FAILED"] == N - sent
    assert doc["counts"]["SUCCESSFUL"] + doc["counts"]["FAILED"] == N
    assert {p["status"] for p in paid if calls.get(p["ref"], 0) == 1} == {"SUCCESSFUL"}
    transactions = fleet.db.run("SELECT count(*) AS n FROM transactions t JOIN clients c ON c.id = t.client_id "
                                "WHERE c.app_id = :a", a=headers["App-ID"])[0]["n"]
    assert transactions == N
