"""The analytics rollups stay exact: after real payments through the simulator (successes, declines, a
provider 500, a pending payer, a timeout), the reconciler's late settles, an operator's resolutions, a late
provider answer and a deleted row, the rollups equal a recount of the transactions, a rebuild gives the
same rows, and the latency histogram and failure reasons hold what the rows say."""

from __future__ import annotations

import base64
from decimal import Decimal

import falcon.testing
import pytest

from mospay import accounts, analytics, catalogue, reconciler
from mospay.app import create_app
from mospay.config import Config
from mospay.db import Database
from mospay.provider import Provider
from mospay.simulator import Simulator

KEYS = {"secret_key": "k" * 40, "jwt_secret_key": "j" * 40}
KEY = ("hour", "service_id", "client_id", "route", "status")

RECOUNT = """
SELECT date_trunc('hour', t.created_at, 'UTC') AS hour, t.service_id, t.client_id, t.route, t.status,
       count(*) AS payments, sum(t.amount) AS amount, count(t.provider_ms) AS latency_count,
       coalesce(sum(t.provider_ms), 0) AS latency_ms_sum,
       count(*) FILTER (WHERE t.status IN ('PENDING', 'UNKNOWN') OR t.check_attempts > 0
                          OR t.status_reason = 'operator') AS reconciled,
       coalesce(sum(extract(epoch FROM t.updated_at - t.created_at))
                FILTER (WHERE t.status IN ('SUCCESSFUL', 'FAILED')
                          AND (t.check_attempts > 0 OR t.status_reason = 'operator')), 0) AS settle_s_sum
  FROM transactions t WHERE t.status <> 'RECEIVED'
 GROUP BY 1, 2, 3, 4, 5"""

ROLLUPS = """
SELECT hour, service_id, client_id, route, status, sum(payments) AS payments, sum(amount) AS amount,
       sum(latency_count) AS latency_count, sum(latency_ms_sum) AS latency_ms_sum, sum(reconciled) AS reconciled,
       sum(settle_s_sum) AS settle_s_sum
  FROM payment_rollups GROUP BY 1, 2, 3, 4, 5 HAVING sum(payments) <> 0"""


@pytest.fixture(scope="module")
def sim():
    with Simulator(hang_seconds=2, callback_delay=60) as simulator:
        yield simulator


@pytest.fixture
def shop(db, db_url, sim):
    catalogue.create_service(db, {"name": "momo", "service_url": sim.url, "timeout_s": 1})
    db.run("UPDATE services SET reconcile_schedule_s = '{1,2,3}'")
    creds = accounts.create_client(db, KEYS["secret_key"], {"company_name": "Shop", "app_id": "shop"})
    catalogue.assign_service(db, "shop", {"service": "momo", "routes": ["collection", "payout"]})
    database = Database(db_url, size=4)
    app = falcon.testing.TestClient(create_app(Config(database_url=db_url, **KEYS), database, Provider()))
    raw = base64.b64encode(f"{creds['api_username']}:{creds['api_secret']}".encode()).decode()

    def pay(f010, msisdn, route="collection", amount="500.00"):
        body = {"f000": "momo", "f001": "collection", "f002": route, "f003": "shop", "f004": amount,
                "f005": msisdn, "f006": "c", "f007": "e", "f008": "p", "f009": "d", "f010": f010}
        return app.simulate_post("/api/v1/payment/process", json=body,
                                 headers={"Authorization": f"Basic {raw}", "App-ID": "shop"}).json
    yield pay
    database.close()


def keyed(rows) -> dict:
    return {tuple(r[k] for k in KEY): {k: v for k, v in r.items() if k not in KEY} for r in rows}


def assert_exact(db) -> None:
    recount, rollups = keyed(db.run(RECOUNT)), keyed(db.run(ROLLUPS))
    assert rollups == recount
    sums = db.run("SELECT " + ", ".join(f"sum(latency_b{i}) AS b{i}" for i in range(1, 17)) + " FROM payment_rollups")[0]
    histogram = [{"bucket": i, "n": sums[f"b{i}"]} for i in range(1, 17)]
    expected = {}
    for row in db.run("SELECT provider_ms FROM transactions WHERE provider_ms IS NOT NULL AND status <> 'RECEIVED'"):
        bucket = sum(1 for bound in analytics.BOUNDS if row["provider_ms"] >= bound) + 1  # Python's view of the bounds
        expected[bucket] = expected.get(bucket, 0) + 1
    assert {r["bucket"]: r["n"] for r in histogram if r["n"]} == expected


def test_rollups_equal_a_recount_after_payments_late_settles_and_resolutions(db, shop):
    assert shop("ok1", "+250788120010")["status"] == "SUCCESSFUL"
    assert shop("ok2", "+250788120011", route="payout", amount="700.00")["status"] == "SUCCESSFUL"
    assert shop("no1", "+250788120001")["status"] == "FAILED"  # NOT_ENOUGH_FUNDS
    assert shop("e500", "+250788120003")["status"] == "UNKNOWN"
    assert shop("pend", "+250788120004")["status"] == "PENDING"
    assert shop("pend2", "+250788120008")["status"] == "PENDING"
    assert shop("hang", "+250788120002")["status"] == "UNKNOWN"  # 1 s timeout, 2 s hang
    assert_exact(db)
    before = keyed(db.run(ROLLUPS))
    assert sum(v["payments"] for k, v in before.items() if k[4] == "UNKNOWN") == 2

    # Late settles: the reconciler asks the provider (e500 and hang were taken: SUCCESSFUL).
    db.run("UPDATE transactions SET next_check_at = now() WHERE status IN ('PENDING', 'UNKNOWN')")
    reconciler.Reconciler(db, Provider()).run_once()
    statuses = {r["f010"]: r["status"] for r in db.run("SELECT f010, status FROM transactions")}
    assert statuses["e500"] == "SUCCESSFUL" and statuses["hang"] == "SUCCESSFUL" and statuses["pend"] == "PENDING"
    assert_exact(db)
    # An operator resolves the pending ones.
    db.run("SELECT * FROM mospay.resolve_transaction((SELECT public_id FROM transactions WHERE f010 = 'pend'), "
           "'FAILED', NULL, 'payer says no')")
    db.run("SELECT * FROM mospay.resolve_transaction((SELECT public_id FROM transactions WHERE f010 = 'pend2'), "
           "'SUCCESSFUL', NULL, 'statement shows it')")
    assert_exact(db)
    # A provider answer that arrives after the reconciler moved the row settles it (finish_payment).
    txn = db.run("SELECT o_id FROM mospay.record_payment((SELECT id FROM clients), (SELECT id FROM services), "
                 "'collection', 'late', 5, '+250788123456', '{}', 'h', 'shop_momo_collection', '{}', 10)")[0]["o_id"]
    db.run("UPDATE transactions SET status = 'UNKNOWN', status_reason = 'reconciliation', check_attempts = 1 "
           "WHERE id = :i", i=txn)
    db.run("SELECT * FROM mospay.finish_payment(:i, 'RESPONSE_shop_momo_collection', 'x', '{}', 200, "
           "'{\"status\": \"SUCCESSFUL\"}', NULL, "
           "'{\"endpoint\": \"/api/v1/payment/process\", \"method\": \"POST\", \"provider_ms\": 12345.6}')", i=txn)
    assert_exact(db)
    db.run("DELETE FROM transactions WHERE f010 = 'ok2'")
    assert_exact(db)

    after = keyed(db.run(ROLLUPS))
    assert not any(k[4] in ("PENDING", "UNKNOWN") for k in after)  # every open payment moved to its final row
    finals = {k[4]: v for k, v in after.items()}
    assert finals["SUCCESSFUL"]["reconciled"] == 4  # e500, hang (reconciler), pend2 (operator), late
    assert finals["FAILED"]["reconciled"] == 1  # pend (operator); the decline was the call's own answer
    assert finals["SUCCESSFUL"]["settle_s_sum"] > 0

    # The failure reasons: the provider's code, as its answer gave it.
    failures = db.run("SELECT http_status, code, sum(payments) AS n FROM failure_rollups GROUP BY 1, 2 "
                      "HAVING sum(payments) <> 0 ORDER BY 2")
    assert [(r["http_status"], r["code"], r["n"]) for r in failures] == [
        (200, "NOT_ENOUGH_FUNDS", 1), (202, "operator", 1)]  # the operator's word on a 202 PENDING answer

    # A rebuild (the migration's backfill) gives exactly what the trigger kept.
    kept = db.run("SELECT * FROM payment_rollups WHERE payments <> 0 ORDER BY hour, service_id, client_id, route, "
                  "status, shard")
    kept_failures = db.run("SELECT * FROM failure_rollups WHERE payments <> 0 ORDER BY code, message")
    db.run("SELECT mospay.rebuild_rollups('-infinity')")  # nothing folded, as the trigger left it
    assert db.run("SELECT * FROM payment_rollups ORDER BY hour, service_id, client_id, route, status, shard") == kept
    assert db.run("SELECT * FROM failure_rollups ORDER BY code, message") == kept_failures

    # Folding hours into days (the hourly job) keeps every day's totals, and so does a change after it.
    def by_day(sql):
        return keyed(db.run(f"SELECT date_trunc('day', hour, 'UTC') AS hour, service_id, client_id, route, status, "
                            f"sum(payments) AS payments, sum(amount) AS amount, sum(reconciled) AS reconciled, "
                            f"sum(latency_count) AS latency_count FROM ({sql}) x GROUP BY 1, 2, 3, 4, 5"))
    daily = by_day(RECOUNT)
    assert db.run("SELECT mospay.fold_rollups(now() + interval '1 day') AS n")[0]["n"] > 0
    assert db.run("SELECT count(*) AS n FROM payment_rollups WHERE shard <> 0 OR hour <> date_trunc('day', hour, 'UTC')")[0]["n"] == 0
    assert by_day(ROLLUPS) == daily
    db.run("DELETE FROM transactions WHERE f010 = 'ok1'")
    assert by_day(ROLLUPS) == by_day(RECOUNT) != daily
    # The upgrade's backfill folds as it recounts: the same days, in day rows only.
    recounted = by_day(RECOUNT)
    db.run("SELECT mospay.rebuild_rollups(now() + interval '1 day')")
    assert by_day(ROLLUPS) == recounted
    assert db.run("SELECT count(*) AS n FROM payment_rollups WHERE shard <> 0 OR hour <> date_trunc('day', hour, 'UTC')")[0]["n"] == 0


def test_latency_is_recorded_for_calls_sent_and_not_for_calls_never_sent(db, shop):
    shop("fast", "+250788120010")
    shop("slow", "+250788120002")  # times out after 1 s: its wait is the latency
    rows = {r["f010"]: r["provider_ms"] for r in db.run("SELECT f010, provider_ms FROM transactions")}
    assert Decimal(0) < rows["fast"] < Decimal(1000)
    assert rows["slow"] >= Decimal(900)
    data = analytics.analytics(db, 1, "route")
    assert data["total"]["latency_ms"]["count"] == 2
    assert data["total"]["latency_ms"]["p95"] >= 750
