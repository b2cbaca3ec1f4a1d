"""The reconciler and the operator's resolution, on a fresh database per test with an in-process simulator."""

from __future__ import annotations

import base64
import threading

import falcon.testing
import pytest

from mospay import accounts, catalogue, errors, reconciler
from mospay.app import create_app
from mospay.breaker import Breakers
from mospay.config import Config
from mospay.db import Database
from mospay.provider import Provider
from mospay.simulator import Simulator
from tests.support import provider_reference

KEYS = {"secret_key": "k" * 40, "jwt_secret_key": "j" * 40}


@pytest.fixture(scope="module")
def sim():
    with Simulator(hang_seconds=2, callback_delay=60) as simulator:  # payers never decide here
        yield simulator


@pytest.fixture
def shop(db, db_url, sim):
    catalogue.create_service(db, {"name": "momo", "service_url": sim.url, "timeout_s": 1})
    db.run("UPDATE services SET reconcile_schedule_s = '{1,2,3}'")
    creds = accounts.create_client(db, KEYS["secret_key"], {"company_name": "Shop", "app_id": "shop",
                                                              "callback_url": "http://127.0.0.1:9/hook"})
    catalogue.assign_service(db, "shop", {"service": "momo", "routes": ["collection"]})
    database = Database(db_url, size=4)
    app = falcon.testing.TestClient(create_app(Config(database_url=db_url, **KEYS), database, Provider(),))
    raw = base64.b64encode(f"{creds['api_username']}:{creds['api_secret']}".encode()).decode()
    headers = {"Authorization": f"Basic {raw}", "App-ID": "shop"}

    def pay(f010, msisdn):
        body = {"f000": "momo", "f001": "collection", "f002": "collection", "f003": "shop", "f004": "500.00",
                "f005": msisdn, "f006": "c", "f007": "e", "f008": "p", "f009": "d", "f010": f010}
        return app.simulate_post("/api/v1/payment/process", json=body, headers=headers)
    yield pay
    database.close()


def make_due(db):
    db.run("UPDATE transactions SET next_check_at = now() WHERE status IN ('RECEIVED', 'PENDING', 'UNKNOWN')")


def row(db, f010):
    return db.run("SELECT * FROM transactions WHERE f010 = :f", f=f010)[0]


def test_unknown_after_provider_500_is_settled_by_a_status_query(db, shop, sim):
    assert shop("r500", "+250788120003").json["status"] == "UNKNOWN"
    assert row(db, "r500")["next_check_at"] is not None
    make_due(db)
    counts = reconciler.Reconciler(db, Provider()).run_once()
    assert counts == {"checked": 1, "settled": 1, "stuck": 0}
    settled = row(db, "r500")
    assert settled["status"] == "SUCCESSFUL" and settled["next_check_at"] is None
    events = db.run("SELECT from_status, to_status, cause FROM transaction_events WHERE transaction_id = :i "
                    "ORDER BY id", i=settled["id"])
    assert [(e["from_status"], e["to_status"], e["cause"]) for e in events][-1] == (
        "UNKNOWN", "SUCCESSFUL", "reconciliation")
    assert sim.calls["by_external_id"][provider_reference(settled["public_id"])] == 1  # status queries never repeat the payment
    # The final state wrote the client's webhook event in the same database transaction.
    event = db.run("SELECT event_type, payload FROM webhook_events WHERE transaction_id = :i", i=settled["id"])
    assert event[0]["event_type"] == "payment.succeeded" and event[0]["payload"]["status"] == "SUCCESSFUL"


def test_nothing_is_checked_before_it_is_due(db, shop):
    shop("early", "+250788120003")
    assert reconciler.Reconciler(db, Provider()).run_once()["checked"] == 0


def test_pending_stays_pending_then_goes_to_the_stuck_queue_for_an_operator(db, shop):
    assert shop("slow", "+250788120004").json["status"] == "PENDING"
    rec = reconciler.Reconciler(db, Provider())
    for attempt in range(3):  # the schedule has three steps
        make_due(db)
        assert rec.run_once()["checked"] == 1
        assert row(db, "slow")["status"] == ("PENDING" if attempt < 2 else "UNKNOWN")
    stuck = row(db, "slow")
    assert stuck["stuck"] and stuck["check_attempts"] == 3
    make_due(db)
    assert rec.run_once()["checked"] == 0  # stuck: no more automatic checks
    queue = reconciler.stuck_queue(db)
    assert [q["f010"] for q in queue] == ["slow"]

    user = accounts.create_admin(db, {"username": "ops", "password": "ops-password"})
    with pytest.raises(errors.InvalidField):
        reconciler.resolve(db, queue[0]["transaction_id"], "SUCCESSFUL", user["id"], "")
    done = reconciler.resolve(db, queue[0]["transaction_id"], "FAILED", user["id"], "payer never approved")
    assert done["status"] == "FAILED"
    last = reconciler.history(db, queue[0]["transaction_id"])[-1]
    assert (last["from_status"], last["to_status"], last["cause"]) == ("UNKNOWN", "FAILED", "operator")
    assert last["actor_user_id"] == user["id"] and last["note"] == "payer never approved"
    assert reconciler.stuck_queue(db) == []
    with pytest.raises(errors.Conflict):  # final is final, for operators too
        reconciler.resolve(db, queue[0]["transaction_id"], "SUCCESSFUL", user["id"], "changed my mind")


def test_a_replay_after_reconciliation_still_returns_the_first_answer(db, shop):
    first = shop("again", "+250788120003")
    make_due(db)
    reconciler.Reconciler(db, Provider()).run_once()
    replay = shop("again", "+250788120003")
    assert (replay.status_code, replay.json) == (first.status_code, first.json)


def test_concurrent_reconcilers_never_check_the_same_transaction_twice(db, db_url, shop):
    for i in range(12):
        shop(f"many{i}", "+250788120003")
    make_due(db)
    results, pools = [], [Database(db_url, size=2) for _ in range(3)]

    def one_process(pool):
        results.append(reconciler.Reconciler(pool, Provider(), Breakers(), batch=2).run_once()["checked"])

    threads = [threading.Thread(target=one_process, args=(p,)) for p in pools]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for p in pools:
        p.close()
    assert sum(results) == 12
    attempts = db.run("SELECT check_attempts, status FROM transactions")
    assert {(a["check_attempts"], a["status"]) for a in attempts} == {(1, "SUCCESSFUL")}


def test_operator_cli_lists_the_stuck_queue_and_resolves_with_a_reason(db, shop):
    from types import SimpleNamespace

    from mospay.__main__ import build_parser, run
    shop("cli", "+250788120004")
    db.run("UPDATE transactions SET stuck = true, status = 'UNKNOWN'")
    accounts.create_admin(db, {"username": "ops", "password": "ops-password"})
    runtime = SimpleNamespace(db=db, config=Config(**KEYS))
    [item] = run(build_parser().parse_args(["stuck"]), runtime)
    args = ["resolve", item["transaction_id"], "SUCCESSFUL", "--user", "ops", "--reason", "MoMo statement shows it"]
    assert run(build_parser().parse_args(args), runtime)["status"] == "SUCCESSFUL"
    assert reconciler.history(db, item["transaction_id"])[-1]["note"] == "MoMo statement shows it"
    with pytest.raises(errors.NotFound):
        run(build_parser().parse_args(args[:3] + ["--user", "nobody", "--reason", "x" * 5]), runtime)


def test_an_open_breaker_postpones_checks_without_using_up_the_schedule(db, shop):
    shop("brk", "+250788120003")
    make_due(db)
    breakers = Breakers(failures=1, cooldown_s=60)
    breakers.get("momo").record(transport_failure=True)
    assert reconciler.Reconciler(db, Provider(), breakers).run_once()["checked"] == 1
    after = row(db, "brk")
    assert (after["status"], after["check_attempts"], after["stuck"]) == ("UNKNOWN", 0, False)
    assert db.run("SELECT next_check_at > now() AS later FROM transactions")[0]["later"]  # leased, back later


@pytest.mark.parametrize("schedule", [[], [0], [60, 30], [1.5], [True], "30", [10**7]])
def test_a_schedule_must_be_increasing_whole_seconds(db, shop, schedule):
    with pytest.raises(errors.InvalidField):
        reconciler.set_schedule(db, "momo", schedule)


def test_a_service_schedule_can_be_set(db, shop):
    assert reconciler.set_schedule(db, "momo", [10, 60])["reconcile_schedule_s"] == [10, 60]
    with pytest.raises(errors.NotFound):
        reconciler.set_schedule(db, "nosuch", [10])


def _started(db, f010):
    """start_payment's recording step as the payment path runs it, for a payment whose answer has not come back yet."""
    ids = db.run("SELECT c.id AS client_id, s.id AS service_id FROM clients c, services s")[0]
    return db.run("SELECT o_id FROM mospay.record_payment(:c, :s, 'collection', :f, 5, '+250788123456', "
                  "CAST(:r AS jsonb), 'h', 'shop_momo_collection', CAST(:r AS jsonb), 10)",
                  c=ids["client_id"], s=ids["service_id"], f=f010, r='{"f004": "5.00"}')[0]["o_id"]


def _finish(db, txn_id, code, output):
    return db.run("SELECT o_status, o_response_code FROM mospay.finish_payment(:i, 'RESPONSE_shop_momo_collection', "
                  "'x', '{}', :c, CAST(:o AS jsonb), NULL, CAST(:log AS jsonb))", i=txn_id, c=code, o=output,
                  log='{"endpoint": "/api/v1/payment/process", "method": "POST"}')[0]


def test_a_late_provider_answer_settles_what_a_callback_check_left_pending(db, shop):
    txn = _started(db, "race1")
    db.run("UPDATE transactions SET status = 'PENDING', status_reason = 'callback' WHERE id = :i", i=txn)
    assert _finish(db, txn, 200, '{"status": "SUCCESSFUL"}') == {"o_status": "SUCCESSFUL", "o_response_code": 200}


def test_a_late_provider_answer_never_overwrites_a_settled_state(db, shop):
    txn = _started(db, "race2")
    db.run("UPDATE transactions SET status = 'SUCCESSFUL', status_reason = 'reconciliation' WHERE id = :i", i=txn)
    assert _finish(db, txn, 500, '{"error": "x"}') == {"o_status": "SUCCESSFUL", "o_response_code": 200}
    txn = _started(db, "race3")
    db.run("UPDATE transactions SET status = 'UNKNOWN' WHERE id = :i", i=txn)
    assert _finish(db, txn, 202, '{"status": "PENDING"}') == {"o_status": "UNKNOWN", "o_response_code": 202}


def test_a_callback_cannot_hurry_a_check_into_a_provider_call_still_in_flight(db, shop):
    # The provider may not know the reference yet: a status query now could read "not found" as FAILED
    # while the payment is going through. A forged or early callback must wait for the call's lease.
    answer = {}
    paying = threading.Thread(target=lambda: answer.update(resp=shop("inflight", "+250788120002")))
    paying.start()
    try:
        for _ in range(200):
            rows = db.run("SELECT id, status FROM transactions WHERE f010 = 'inflight'")
            if rows:
                break
            threading.Event().wait(0.01)
        assert rows and rows[0]["status"] == "RECEIVED"
        counts = reconciler.Reconciler(db, Provider()).run_once(ids=[rows[0]["id"]], cause="callback")
        assert counts["checked"] == 0
    finally:
        paying.join(10)
    assert answer["resp"].json["status"] == "UNKNOWN"  # the hang outlasts the 1 s timeout
    assert row(db, "inflight")["status"] == "UNKNOWN"
