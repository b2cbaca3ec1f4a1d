"""POST /api/v1/payment/{f010}/refund end to end: the app run.py serves (in-process), real PostgreSQL, the
simulator process as provider. Every answer code, the cap, idempotency, and refunds on the payment lookup."""

from __future__ import annotations

import secrets
import time
from decimal import Decimal

import pytest

from mospay import errors, refunds

from tests.support import provider_reference


@pytest.fixture(scope="module")
def shop(api):
    return api.onboard()


def paid(client, amount="1000.00"):
    body = client.body(f004=amount)
    resp = client.pay(body, headers=client.basic)
    assert (resp.status, resp.json()["status"]) == (200, "SUCCESSFUL"), resp.data
    return body["f010"], resp.json()["transaction_id"]


def refund(api, client, f010, payload, headers=None):
    return api.request("POST", f"/api/v1/payment/{f010}/refund", json=payload, headers=headers or client.basic)


def rid():
    return "r_" + secrets.token_hex(6)


def refund_calls(api):
    """What the provider got: refund requests in all, by reference, and the amounts refunded by payment."""
    return api.http.request("GET", api.simulator_url + "/_sim/refunds").json()


def calls_for(api, refund_public_id):
    ref = str(api.db.run("SELECT provider_reference FROM refunds WHERE public_id = :p", p=refund_public_id)[0]
              ["provider_reference"])
    return refund_calls(api)["by_reference"].get(ref, 0)


def test_partial_then_the_rest_by_default_then_nothing_is_left(api, shop):
    f010, txn = paid(shop)
    first = refund(api, shop, f010, {"refund_id": rid(), "amount": "300.00", "reason": "one item back"})
    assert first.status == 200, first.data
    body = first.json()
    assert (body["status"], body["amount"], body["currency"], body["transaction_id"], body["f010"]) == (
        "SUCCESSFUL", "300.00", "RWF", txn, f010)
    assert body["id"].startswith("rfd_") and body["reason"] == "one item back"
    rest = refund(api, shop, f010, {"refund_id": rid()})  # no amount: what is left
    assert (rest.status, rest.json()["amount"]) == (200, "700.00"), rest.data
    more = refund(api, shop, f010, {"refund_id": rid(), "amount": "0.01"})
    assert (more.status, more.json()["error"]["code"]) == (422, "refund_exceeds_payment"), more.data

    looked = api.request("GET", f"/api/v1/payment/{f010}", headers=shop.basic).json()
    assert looked["refunded_amount"] == "1000.00" and looked["status"] == "SUCCESSFUL"
    assert [(r["amount"], r["status"]) for r in looked["refunds"]] == [("300.00", "SUCCESSFUL"), ("700.00", "SUCCESSFUL")]
    by_post = api.request("POST", "/api/v1/payment/status", json={"f010": f010}, headers=shop.basic).json()
    assert by_post["refunds"] == looked["refunds"]
    # The provider was asked to refund the payment's own reference, once per refund.
    assert refund_calls(api)["refunded_by_payment"][provider_reference(txn)] == "1000.00"
    assert calls_for(api, body["id"]) == 1


def test_a_payment_without_refunds_shows_an_empty_list(api, shop):
    f010, _ = paid(shop)
    looked = api.request("GET", f"/api/v1/payment/{f010}", headers=shop.basic).json()
    assert (looked["refunds"], looked["refunded_amount"]) == ([], "0.00")


def test_more_than_is_left_is_refused_before_anything_is_recorded(api, shop):
    f010, _ = paid(shop)
    before = refund_calls(api)["total"]
    over = refund(api, shop, f010, {"refund_id": rid(), "amount": "1000.01"})
    assert (over.status, over.json()["error"]["code"]) == (422, "refund_exceeds_payment")
    assert "1000.00 RWF" in over.json()["error"]["message"]
    assert api.db.run("SELECT count(*) AS n FROM refunds r JOIN transactions t ON t.id = r.transaction_id "
                      "WHERE t.f010 = :f", f=f010)[0]["n"] == 0
    assert refund_calls(api)["total"] == before
    exact = refund(api, shop, f010, {"refund_id": rid(), "amount": "1000.00"})  # the control: all of it is fine
    assert exact.status == 200, exact.data


def test_a_declined_refund_is_402_and_does_not_count_against_the_cap(api, shop):
    f010, _ = paid(shop)
    declined = refund(api, shop, f010, {"refund_id": rid(), "amount": "100.01"})
    assert (declined.status, declined.json()["status"]) == (402, "FAILED"), declined.data
    assert declined.json()["result"]["reason"] == "NOT_ENOUGH_FUNDS"
    whole = refund(api, shop, f010, {"refund_id": rid()})
    assert (whole.status, whole.json()["amount"]) == (200, "1000.00"), whole.data


def test_pending_refund_is_202_then_settled_by_the_reconciler_with_a_webhook(api, shop):
    api.db.run("UPDATE clients SET callback_url = 'http://127.0.0.1:9/hook' WHERE app_id = :a", a=shop.app_id)
    try:
        f010, _ = paid(shop)
        pending = refund(api, shop, f010, {"refund_id": rid(), "amount": "100.04"})
        assert (pending.status, pending.json()["status"]) == (202, "PENDING"), pending.data
        public_id = pending.json()["id"]
        row = api.db.run("SELECT id, next_check_at FROM refunds WHERE public_id = :p", p=public_id)[0]
        assert row["next_check_at"] is not None  # on the service's schedule
        time.sleep(1.3)  # the simulator settles a pending refund after callback_delay (1 s)
        counts = api.parts.reconciler().run_refunds(ids=[row["id"]], cause="test")
        assert counts == {"checked": 1, "settled": 1, "stuck": 0}
        looked = api.request("GET", f"/api/v1/payment/{f010}", headers=shop.basic).json()
        assert [r["status"] for r in looked["refunds"]] == ["SUCCESSFUL"] and looked["refunded_amount"] == "100.04"
        events = api.db.run("SELECT event_type, payload FROM webhook_events WHERE refund_id = :r", r=row["id"])
        assert [e["event_type"] for e in events] == ["refund.succeeded"]
        assert events[0]["payload"]["id"] == public_id and events[0]["payload"]["status"] == "SUCCESSFUL"
        history = api.db.run("SELECT from_status, to_status FROM refund_events WHERE refund_id = :r ORDER BY id",
                             r=row["id"])
        assert [(h["from_status"], h["to_status"]) for h in history] == [
            (None, "RECEIVED"), ("RECEIVED", "PENDING"), ("PENDING", "SUCCESSFUL")]
    finally:
        api.db.run("UPDATE clients SET callback_url = NULL WHERE app_id = :a", a=shop.app_id)


def test_a_rejected_pending_refund_settles_failed_with_a_webhook(api, shop):
    api.db.run("UPDATE clients SET callback_url = 'http://127.0.0.1:9/hook' WHERE app_id = :a", a=shop.app_id)
    try:
        f010, _ = paid(shop)
        pending = refund(api, shop, f010, {"refund_id": rid(), "amount": "100.08"})
        assert (pending.status, pending.json()["status"]) == (202, "PENDING"), pending.data
        uuid = api.db.run("SELECT id FROM refunds WHERE public_id = :p", p=pending.json()["id"])[0]["id"]
        time.sleep(1.3)
        api.parts.reconciler().run_refunds(ids=[uuid])
        assert api.db.run("SELECT event_type FROM webhook_events WHERE refund_id = :r", r=uuid) == [
            {"event_type": "refund.failed"}]
    finally:
        api.db.run("UPDATE clients SET callback_url = NULL WHERE app_id = :a", a=shop.app_id)


def test_a_provider_500_is_unknown_never_failed_and_the_reconciler_finds_it_succeeded(api, shop):
    f010, _ = paid(shop)
    unknown = refund(api, shop, f010, {"refund_id": rid(), "amount": "100.03"})
    assert (unknown.status, unknown.json()["status"]) == (202, "UNKNOWN"), unknown.data
    uuid = api.db.run("SELECT id FROM refunds WHERE public_id = :p", p=unknown.json()["id"])[0]["id"]
    api.parts.reconciler().run_refunds(ids=[uuid])
    assert api.db.run("SELECT status FROM refunds WHERE id = :r", r=uuid)[0]["status"] == "SUCCESSFUL"
    # An UNKNOWN refund holds its amount: only 899.97 is left meanwhile and after.
    over = refund(api, shop, f010, {"refund_id": rid(), "amount": "899.98"})
    assert (over.status, over.json()["error"]["code"]) == (422, "refund_exceeds_payment")


def test_a_provider_that_hangs_gives_unknown(api):
    slow = api.onboard(service="momoslow", timeout_s=1)  # the simulator hangs 4 s
    f010, _ = paid(slow)
    started = time.monotonic()
    hung = refund(api, slow, f010, {"refund_id": rid(), "amount": "100.02"})
    assert (hung.status, hung.json()["status"]) == (202, "UNKNOWN"), hung.data
    assert time.monotonic() - started < 3.5


def test_only_a_successful_payment_within_the_window_with_fewer_than_ten_refunds_is_refundable(api, shop):
    declined = shop.body(f005="+250788120001")
    assert shop.pay(declined, headers=shop.basic).status == 402
    refused = refund(api, shop, declined["f010"], {"refund_id": rid()})
    assert (refused.status, refused.json()["error"]["code"]) == (422, "payment_not_refundable"), refused.data
    assert "FAILED" in refused.json()["error"]["message"]

    f010, _ = paid(shop)
    for _ in range(10):
        assert refund(api, shop, f010, {"refund_id": rid(), "amount": "1.00"}).status == 200
    eleventh = refund(api, shop, f010, {"refund_id": rid(), "amount": "1.00"})
    assert (eleventh.status, eleventh.json()["error"]["code"]) == (422, "payment_not_refundable")
    assert "10 refunds" in eleventh.json()["error"]["message"]

    old, _ = paid(shop)
    api.db.run("UPDATE transactions SET created_at = now() - interval '181 days' WHERE f010 = :f", f=old)
    late = refund(api, shop, old, {"refund_id": rid()})
    assert (late.status, late.json()["error"]["code"]) == (422, "payment_not_refundable")
    assert "180 days" in late.json()["error"]["message"]
    # The window is the service's: an operator widens it and the same refund goes through.
    api.db.run("UPDATE services SET refund_window_days = 365 WHERE name = :s", s=shop.service)
    try:
        assert refund(api, shop, old, {"refund_id": rid()}).status == 200
    finally:
        api.db.run("UPDATE services SET refund_window_days = 180 WHERE name = :s", s=shop.service)


def test_an_unknown_or_another_clients_payment_is_404(api, shop):
    other = api.onboard()
    theirs, _ = paid(other)
    for f010 in ("no_such_payment", theirs):
        resp = refund(api, shop, f010, {"refund_id": rid()})
        assert (resp.status, resp.json()["error"]["code"]) == (404, "transaction_not_found"), resp.data
    assert api.db.run("SELECT count(*) AS n FROM refunds r JOIN transactions t ON t.id = r.transaction_id "
                      "WHERE t.f010 = :f", f=theirs)[0]["n"] == 0
    assert refund(api, other, theirs, {"refund_id": rid()}).status == 200  # its owner may


def test_a_replay_returns_the_first_answer_and_another_body_is_409(api, shop):
    f010, _ = paid(shop)
    key = rid()
    first = refund(api, shop, f010, {"refund_id": key, "amount": "10.00", "reason": "r"})
    again = refund(api, shop, f010, {"refund_id": key, "amount": "10.00", "reason": "r"}, headers=shop.bearer())
    assert (again.status, again.json()) == (first.status, first.json()) and first.status == 200
    assert calls_for(api, first.json()["id"]) == 1
    for changed in ({"refund_id": key, "amount": "11.00", "reason": "r"}, {"refund_id": key, "amount": "10.00"},
                    {"refund_id": key, "amount": "10.00", "reason": "other"}):
        conflict = refund(api, shop, f010, changed)
        assert (conflict.status, conflict.json()["error"]["code"]) == (409, "idempotency_conflict"), changed
    g010, _ = paid(shop)
    elsewhere = refund(api, shop, g010, {"refund_id": key, "amount": "10.00", "reason": "r"})
    assert elsewhere.status == 409
    # A declined refund replays as declined: the key is spent.
    key2 = rid()
    assert refund(api, shop, f010, {"refund_id": key2, "amount": "100.01"}).status == 402
    assert refund(api, shop, f010, {"refund_id": key2, "amount": "100.01"}).status == 402


def test_the_refund_id_is_per_client(api, shop):
    other = api.onboard()
    key = rid()
    mine, _ = paid(shop)
    theirs, _ = paid(other)
    assert refund(api, shop, mine, {"refund_id": key}).status == 200
    assert refund(api, other, theirs, {"refund_id": key}).status == 200


def test_credentials_are_those_of_the_payment_endpoints(api, shop):
    f010, _ = paid(shop)
    assert refund(api, shop, f010, {"refund_id": rid(), "amount": "1.00"}, headers=shop.bearer()).status == 200
    assert refund(api, shop, f010, {"refund_id": rid()}, headers={"Content-Type": "application/json"}).status == 401
    wrong = {**shop.basic, "App-ID": api.onboard().app_id}
    assert refund(api, shop, f010, {"refund_id": rid()}, headers=wrong).status == 401


@pytest.mark.parametrize("payload, field", [
    ({}, "refund_id"),
    ({"refund_id": ""}, "refund_id"),
    ({"refund_id": "a b"}, "refund_id"),
    ({"refund_id": "x" * 65}, "refund_id"),
    ({"refund_id": 5}, "refund_id"),
    ({"refund_id": "ok", "amount": "abc"}, "amount"),
    ({"refund_id": "ok", "amount": "-1.00"}, "amount"),
    ({"refund_id": "ok", "amount": "0"}, "amount"),
    ({"refund_id": "ok", "amount": "1.001"}, "amount"),
    ({"refund_id": "ok", "amount": True}, "amount"),
    ({"refund_id": "ok", "amount": "1e3"}, "amount"),
    ({"refund_id": "ok", "reason": "x" * 501}, "reason"),
    ({"refund_id": "ok", "reason": 7}, "reason"),
    ({"refund_id": "ok", "extra": 1}, "extra"),
])
def test_bad_bodies_are_422_and_write_nothing(api, shop, payload, field):
    f010, _ = paid(shop)
    resp = refund(api, shop, f010, payload)
    assert resp.status == 422 and resp.json()["error"]["field"] == field, resp.data
    assert api.db.run("SELECT count(*) AS n FROM refunds r JOIN transactions t ON t.id = r.transaction_id "
                      "WHERE t.f010 = :f", f=f010)[0]["n"] == 0


def test_a_json_number_amount_is_taken_and_malformed_json_is_400(api, shop):
    f010, _ = paid(shop)
    resp = refund(api, shop, f010, {"refund_id": rid(), "amount": 10.5})
    assert (resp.status, resp.json()["amount"]) == (200, "10.50"), resp.data
    raw = api.request("POST", f"/api/v1/payment/{f010}/refund", body=b'{"refund_id": ',
                      headers={**shop.basic, "Content-Type": "application/json"})
    assert raw.status == 400


def test_each_refund_call_writes_one_api_log_row(api, shop):
    f010, _ = paid(shop)
    before = api.db.run("SELECT count(*) AS n FROM api_logs WHERE endpoint = :e", e=f"/api/v1/payment/{f010}/refund")
    assert refund(api, shop, f010, {"refund_id": rid(), "amount": "5.00"}).status == 200
    assert refund(api, shop, f010, {"refund_id": rid(), "amount": "5000.00"}).status == 422
    rows = api.db.run("SELECT status_code, client_id FROM api_logs WHERE endpoint = :e ORDER BY id",
                      e=f"/api/v1/payment/{f010}/refund")
    assert before[0]["n"] == 0 and [r["status_code"] for r in rows] == [200, 422]
    assert all(r["client_id"] is not None for r in rows)


def test_the_merchant_portals_domain_calls_are_scoped_to_the_client(api, shop):
    """What the merchant portal calls (mospay.refunds.refund_client_payment / of_client_payment): a payment
    named by its public id, only ever the client's own."""
    other = api.onboard()
    _, mine = paid(shop)
    _, theirs = paid(other)
    ids = {r["app_id"]: r["id"] for r in api.db.run("SELECT app_id, id FROM clients WHERE app_id IN (:a, :b)",
                                                    a=shop.app_id, b=other.app_id)}
    caller = api.parts.refund_caller()
    done = refunds.refund_client_payment(api.db, caller, ids[shop.app_id], mine, {"refund_id": rid(), "amount": "5.00"},
                                         operator="finance-user")
    assert (done.http_status, done.body["amount"]) == (200, "5.00")
    assert [(r["amount"], r["operator"]) for r in refunds.of_client_payment(api.db, ids[shop.app_id], mine)] == [
        (Decimal("5.00"), "finance-user")]
    for call in (lambda: refunds.refund_client_payment(api.db, caller, ids[shop.app_id], theirs, {"refund_id": rid()},
                                                       operator="finance-user"),
                 lambda: refunds.of_client_payment(api.db, ids[shop.app_id], theirs)):
        with pytest.raises(errors.NotFound):
            call()
    assert refunds.of_client_payment(api.db, ids[other.app_id], theirs) == []


def test_a_provider_callback_naming_a_refund_hurries_its_check(api, shop):
    f010, _ = paid(shop)
    pending = refund(api, shop, f010, {"refund_id": rid(), "amount": "100.04"})
    assert pending.json()["status"] == "PENDING", pending.data
    ref = str(api.db.run("SELECT provider_reference FROM refunds WHERE public_id = :p", p=pending.json()["id"])[0]
              ["provider_reference"])
    time.sleep(1.3)  # the simulator has settled it; its own callback went to a URL where nothing listens
    told = api.request("PUT", f"/api/v1/callbacks/{shop.service}", json={"externalId": ref, "status": "SUCCESSFUL"})
    assert told.status == 200, told.data
    deadline = time.monotonic() + 10  # confirmed by a status query in the background, long before the schedule's 30 s
    while api.db.run("SELECT status FROM refunds WHERE provider_reference = CAST(:r AS uuid)", r=ref)[0][
            "status"] != "SUCCESSFUL":
        assert time.monotonic() < deadline, "the callback did not hurry the refund's check"
        time.sleep(0.1)
    events = api.db.run("SELECT cause FROM refund_events e JOIN refunds r ON r.id = e.refund_id "
                        "WHERE r.provider_reference = CAST(:r AS uuid) ORDER BY e.id DESC LIMIT 1", r=ref)
    assert events == [{"cause": "callback"}]
