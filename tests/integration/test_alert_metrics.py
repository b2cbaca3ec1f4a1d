"""Each alert metric on planted rows in PostgreSQL: the value per key, what counts and what does not (the
window, other services, open payments, calls that never reached the provider), and the rule firing on it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mospay import alert_metrics, alerts
from tests.integration.alert_support import pay, rule, world


@pytest.fixture
def shop(db):
    world(db)
    return db


def values(db, r) -> dict:
    return {(row["service"], row["app_id"]): (row["value"], row["n"]) for row in alert_metrics.measure(db, r)}


def open_alerts(db) -> dict:
    return {(a["service"], a["app_id"]): a["state"] for a in db.run("SELECT * FROM alerts WHERE state <> 'resolved'")}


def test_success_rate_counts_final_states_only_and_min_count_guards_it(shop):
    for _ in range(3):
        pay(shop, status="SUCCESSFUL")
    pay(shop, status="FAILED")
    pay(shop, status="PENDING", cause="provider response")   # not a failure (yet)
    pay(shop, status="UNKNOWN", cause="provider timeout")    # nor this
    pay(shop, status="FAILED", age_s=900)                    # outside the 300 s window
    pay(shop, service="airtel", status="FAILED")
    r = rule(shop, "success_rate", op="<", threshold=80, min_count=2)
    assert values(shop, r) == {("mtnmomorwa", None): (Decimal("75.0000"), 4), ("airtel", None): (Decimal("0"), 1)}
    alerts.evaluate(shop)
    # airtel is at 0 % but on one payment, under min_count: no alert; mtnmomorwa at 75 % < 80 fires.
    assert open_alerts(shop) == {("mtnmomorwa", None): "firing"}
    scoped = rule(shop, "success_rate", name="shop2 only", app_id="shop2", threshold=80)
    assert values(shop, scoped) == {}


def test_provider_errors_are_timeouts_transport_failures_and_5xx_of_calls_that_reached_the_provider(shop):
    pay(shop, status="SUCCESSFUL")
    pay(shop, status="FAILED")                                            # a decline is no provider error
    pay(shop, status="UNKNOWN", cause="provider timeout", http_status=None)
    pay(shop, status="UNKNOWN", cause="provider connection", http_status=None)
    pay(shop, status="UNKNOWN", cause="provider response", http_status=503)
    pay(shop, status="FAILED", cause="missing credential", http_status=None)  # never sent: not a call
    pay(shop, status="FAILED", cause="request function error", http_status=None)
    r = rule(shop, "provider_errors", op=">", threshold=50)
    assert values(shop, r) == {("mtnmomorwa", None): (Decimal("60.0000"), 5)}
    alerts.evaluate(shop)
    assert open_alerts(shop) == {("mtnmomorwa", None): "firing"}


def test_latency_p95_is_the_providers_answer_time(shop):
    for ms in range(100, 2000, 100):  # 19 calls: 100 ... 1900 ms
        pay(shop, latency_ms=ms)
    pay(shop, latency_ms=60000, status="FAILED", cause="refused destination")  # never sent: not timed
    pay(shop, service="airtel", latency_ms=50)
    r = rule(shop, "latency_p95_ms", op=">", threshold=1500)
    got = values(shop, r)
    assert got[("mtnmomorwa", None)][1] == 19 and 1800 <= got[("mtnmomorwa", None)][0] <= 1820
    assert got[("airtel", None)] == (Decimal("50.0000"), 1)
    alerts.evaluate(shop)
    assert open_alerts(shop) == {("mtnmomorwa", None): "firing"}


def test_open_payments_are_pending_or_unknown_older_than_the_window(shop):
    pay(shop, status="PENDING", age_s=900)
    pay(shop, status="UNKNOWN", cause="provider timeout", age_s=700)
    pay(shop, status="PENDING", age_s=60)          # young: still normal
    pay(shop, status="SUCCESSFUL", age_s=900)      # final
    r = rule(shop, "open_payments", op=">", threshold=1, window_s=600)
    assert values(shop, r) == {("mtnmomorwa", None): (2, 2)}
    alerts.evaluate(shop)
    assert open_alerts(shop) == {("mtnmomorwa", None): "firing"}


def test_stuck_is_the_operators_queue(shop):
    pay(shop, status="UNKNOWN", cause="provider timeout", stuck=True, age_s=90000)
    pay(shop, status="UNKNOWN", cause="provider timeout", stuck=True, age_s=90000, service="airtel")
    pay(shop, status="UNKNOWN", cause="provider timeout", age_s=90000)   # still being checked
    r = rule(shop, "stuck", op=">", threshold=0, service="airtel")
    assert values(shop, r) == {("airtel", None): (1, 1)}
    alerts.evaluate(shop)
    assert open_alerts(shop) == {("airtel", None): "firing"}


def test_webhook_failing_counts_events_in_retry_per_client(shop):
    for app_id in ("shop1", "shop1", "shop2"):
        pay(shop, app_id=app_id, status="SUCCESSFUL")
    pay(shop, app_id="shop2", status="FAILED")
    shop.run("UPDATE webhook_events SET attempts = 3, last_error = 'HTTP 500' "
             "WHERE client_id = (SELECT id FROM clients WHERE app_id = 'shop1')")
    shop.run("UPDATE webhook_events SET state = 'DELIVERED', attempts = 1, delivered_at = now() "
             "WHERE client_id = (SELECT id FROM clients WHERE app_id = 'shop2')")  # failed once, then delivered
    r = rule(shop, "webhook_failing", op=">", threshold=1)
    assert values(shop, r) == {(None, "shop1"): (2, 2)}
    alerts.evaluate(shop)
    assert open_alerts(shop) == {(None, "shop1"): "firing"}


def test_no_traffic_sees_a_silent_service(shop):
    pay(shop, service="mtnmomorwa")
    pay(shop, service="airtel", age_s=3600)  # outside the window
    r = rule(shop, "no_traffic", window_s=600)  # op and threshold default to "< 1"
    assert (r["op"], r["threshold"]) == ("<", Decimal("1.0000"))
    assert values(shop, r) == {("mtnmomorwa", None): (1, 1), ("airtel", None): (0, 0)}
    alerts.evaluate(shop)
    assert open_alerts(shop) == {("airtel", None): "firing"}


@pytest.mark.parametrize("measure, op, threshold, expected", [("count", ">", 2, Decimal(3)),
                                                              ("amount", "<", 500, Decimal("300.00"))])
def test_volume_is_a_count_or_the_successful_amount_above_or_below(shop, measure, op, threshold, expected):
    pay(shop, amount=100)
    pay(shop, amount=200)
    pay(shop, amount=400, status="FAILED")
    pay(shop, amount=800, age_s=3600)
    r = rule(shop, "volume", measure=measure, op=op, threshold=threshold)
    assert values(shop, r) == {("mtnmomorwa", None): (expected, 3)}
    alerts.evaluate(shop)
    assert open_alerts(shop) == {("mtnmomorwa", None): "firing"}
