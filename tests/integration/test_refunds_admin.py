"""An operator's refunds: the admin API (POST/GET /api/v1/admin/transactions/{id}/refunds) and the admin
portal's form on the transaction page, both through mospay.refunds.refund_by_operator: a reason is required,
the refund is audited with the operator; the service's refund window is edited where the service is."""

from __future__ import annotations

import base64
import secrets

import pytest

from mospay import accounts
from tests.integration.portal_support import PASSWORD, Portal, password_hash


@pytest.fixture(scope="module")
def shop(api):
    return api.onboard()


def paid(client, amount="1000.00"):
    body = client.body(f004=amount)
    resp = client.pay(body, headers=client.basic)
    assert resp.status == 200, resp.data
    return resp.json()["transaction_id"]


def admin(api, method, path, json=None, token=None):
    return api.request(method, path, json=json, headers={"Authorization": f"Bearer {token or api.admin_token}"})


def token_for(api, role):
    name = f"{role}{secrets.token_hex(3)}"
    accounts.create_admin(api.db, {"username": name, "password": "pass-word-99", "role": role})
    raw = base64.b64encode(f"{name}:pass-word-99".encode()).decode()
    return api.request("POST", "/api/v1/admin/token", headers={"Authorization": f"Basic {raw}"}).json()["access_token"]


def audits(api, txn):
    return api.db.run("SELECT username, action, after FROM audit_log WHERE target_id = :t AND action = "
                      "'transaction.refund' ORDER BY id", t=txn)


def test_an_operator_refunds_through_the_api_with_a_reason_and_it_is_audited(api, shop):
    txn = paid(shop)
    path = f"/api/v1/admin/transactions/{txn}/refunds"
    no_reason = admin(api, "POST", path, {"amount": "100.00"})
    assert (no_reason.status, no_reason.json()["error"]["field"]) == (422, "reason")
    short = admin(api, "POST", path, {"amount": "100.00", "reason": "  x "})
    assert short.status == 422
    assert admin(api, "GET", path).json() == {"items": []} and audits(api, txn) == []

    done = admin(api, "POST", path, {"amount": "100.00", "reason": "customer returned the item"})
    assert (done.status, done.json()["status"], done.json()["amount"]) == (200, "SUCCESSFUL", "100.00"), done.data
    rest = admin(api, "POST", path, {"reason": "order cancelled", "refund_id": "ops-1"})
    assert (rest.status, rest.json()["amount"], rest.json()["refund_id"]) == (200, "900.00", "ops-1")
    again = admin(api, "POST", path, {"reason": "order cancelled", "refund_id": "ops-1"})
    assert (again.status, again.json()) == (200, rest.json())  # the same refund_id replays
    over = admin(api, "POST", path, {"reason": "one more", "amount": "0.01"})
    assert (over.status, over.json()["error"]["code"]) == (422, "refund_exceeds_payment")

    items = admin(api, "GET", path).json()["items"]
    assert [(i["amount"], i["status"], i["operator"], i["reason"]) for i in items] == [
        ("100.00", "SUCCESSFUL", "ops", "customer returned the item"), ("900.00", "SUCCESSFUL", "ops", "order cancelled")]
    rows = audits(api, txn)
    assert [r["username"] for r in rows] == ["ops", "ops", "ops"]  # the replay is an audited request too
    assert rows[0]["after"]["reason"] == "customer returned the item" and rows[0]["after"]["amount"] == "100.00"
    # The client sees the operator's refunds on its own lookup.
    f010 = api.db.run("SELECT f010 FROM transactions WHERE public_id = :p", p=txn)[0]["f010"]
    looked = api.request("GET", f"/api/v1/payment/{f010}", headers=shop.basic).json()
    assert looked["refunded_amount"] == "1000.00" and len(looked["refunds"]) == 2


def test_the_admin_api_refuses_bad_input_unknown_payments_and_readers(api, shop):
    txn = paid(shop)
    path = f"/api/v1/admin/transactions/{txn}/refunds"
    assert admin(api, "POST", path, {"reason": "fine", "colour": "red"}).status == 422
    assert admin(api, "POST", path, {"reason": "fine", "amount": "abc"}).json()["error"]["field"] == "amount"
    assert admin(api, "POST", path, {"reason": 5}).status == 422
    missing = admin(api, "POST", "/api/v1/admin/transactions/txn_00000000000000000000000000000000/refunds",
                    {"reason": "fine reason"})
    assert (missing.status, missing.json()["error"]["code"]) == (404, "transaction_not_found")
    assert admin(api, "GET", "/api/v1/admin/transactions/nope/refunds").status == 404
    viewer = token_for(api, "viewer")
    assert admin(api, "GET", path, token=viewer).status == 200
    assert admin(api, "POST", path, {"reason": "viewer tries"}, token=viewer).status == 403
    assert admin(api, "GET", path).json()["items"] == []
    ok = admin(api, "POST", path, {"reason": "the control: valid"})
    assert ok.status == 200, ok.data


def test_the_refund_window_is_set_through_the_service_admin_api(api, shop):
    svc = f"/api/v1/admin/services/{shop.service}"
    assert admin(api, "GET", svc).json()["refund_window_days"] == 180
    assert admin(api, "PATCH", svc, {"refund_window_days": -1}).status == 422
    assert admin(api, "PATCH", svc, {"refund_window_days": "30"}).status == 422  # JSON: a number
    try:
        assert admin(api, "PATCH", svc, {"refund_window_days": 0}).json()["refund_window_days"] == 0
        txn = paid(shop)
        off = admin(api, "POST", f"/api/v1/admin/transactions/{txn}/refunds", {"reason": "window is zero"})
        assert (off.status, off.json()["error"]["code"]) == (422, "payment_not_refundable")
    finally:
        assert admin(api, "PATCH", svc, {"refund_window_days": 180}).status == 200


def signed_in(api, role="admin") -> tuple[Portal, str]:
    name = f"{role}{secrets.token_hex(3)}"
    api.db.one("insert_user", username=name, password_hash=password_hash(), role=role, must_change=False)
    portal = Portal(api.app)
    assert portal.login(name, PASSWORD).status_code == 303
    return portal, name


def test_the_portal_lists_refunds_and_refunds_with_a_mandatory_reason(api, shop):
    txn = paid(shop)
    portal, name = signed_in(api)
    page = portal.get(f"/admin/transactions/{txn}")
    assert page.status_code == 200 and 'id="refund-form"' in page.text and "No refund." in page.text
    refused = portal.post(f"/admin/transactions/{txn}/refunds", {"amount": "10.00", "reason": ""})
    assert refused.status_code == 422 and "reason: a reason of 3-500 characters is required" in refused.text
    assert 'value="10.00"' in refused.text  # the draft is kept
    assert api.db.run("SELECT count(*) AS n FROM refunds x JOIN transactions t ON t.id = x.transaction_id "
                      "WHERE t.public_id = :p", p=txn)[0]["n"] == 0
    over = portal.post(f"/admin/transactions/{txn}/refunds", {"amount": "1000.01", "reason": "too much"})
    assert over.status_code == 422 and "left to refund" in over.text
    done = portal.post(f"/admin/transactions/{txn}/refunds", {"amount": "250.00", "reason": "damaged parcel"})
    assert done.status_code == 303 and done.headers["location"] == f"/admin/transactions/{txn}#refunds"
    shown = portal.get(f"/admin/transactions/{txn}")
    assert "damaged parcel" in shown.text and "250.00" in shown.text and name in shown.text
    assert audits(api, txn)[0]["username"] == name
    rest = portal.post(f"/admin/transactions/{txn}/refunds", {"amount": "", "reason": "rest of the order"})
    assert rest.status_code == 303
    assert [r["amount"] for r in admin(api, "GET", f"/api/v1/admin/transactions/{txn}/refunds").json()["items"]] == [
        "250.00", "750.00"]


def test_a_viewer_sees_refunds_but_no_form_and_cannot_post(api, shop):
    txn = paid(shop)
    admin(api, "POST", f"/api/v1/admin/transactions/{txn}/refunds", {"reason": "for the viewer", "amount": "1.00"})
    viewer, _ = signed_in(api, "viewer")
    page = viewer.get(f"/admin/transactions/{txn}")
    assert "for the viewer" in page.text and 'id="refund-form"' not in page.text
    assert viewer.post(f"/admin/transactions/{txn}/refunds", {"reason": "viewer tries"}).status_code == 403


def test_a_cross_site_refund_post_is_refused(api, shop):
    txn = paid(shop)
    portal, _ = signed_in(api)
    portal.get(f"/admin/transactions/{txn}")
    forged = portal.post(f"/admin/transactions/{txn}/refunds", {"reason": "forged post"},
                         headers={"Sec-Fetch-Site": "cross-site"})
    assert forged.status_code == 403
    no_token = portal.post(f"/admin/transactions/{txn}/refunds", {"reason": "no token"}, csrf=False)
    assert no_token.status_code == 403
    assert admin(api, "GET", f"/api/v1/admin/transactions/{txn}/refunds").json()["items"] == []


def test_the_service_page_edits_the_refund_window(api, shop):
    portal, _ = signed_in(api)
    page = portal.get(f"/admin/services/{shop.service}")
    assert 'name="refund_window_days"' in page.text and 'value="180"' in page.text
    current = admin(api, "GET", f"/api/v1/admin/services/{shop.service}").json()
    form = {"display_name": current["display_name"], "service_url": current["service_url"],
            "timeout_s": str(current["timeout_s"]), "active": "on"}
    bad = portal.post(f"/admin/services/{shop.service}", {**form, "refund_window_days": "forever"})
    assert bad.status_code == 422 and "refund_window_days" in bad.text
    try:
        assert portal.post(f"/admin/services/{shop.service}", {**form, "refund_window_days": "90"}).status_code == 303
        assert admin(api, "GET", f"/api/v1/admin/services/{shop.service}").json()["refund_window_days"] == 90
    finally:
        admin(api, "PATCH", f"/api/v1/admin/services/{shop.service}", {"refund_window_days": 180})


def test_the_refund_functions_are_viewed_and_edited_by_name_like_a_routes(api, shop):
    request, response, status = (f"{shop.app_id}_{shop.service}_Refund", f"RESPONSE_{shop.app_id}_{shop.service}_Refund",
                                 f"{shop.app_id}_{shop.service}_RefundStatus")
    for name in (request, response):
        shown = admin(api, "GET", f"/api/v1/admin/functions/{name}")
        assert shown.status == 200 and "referenceIdToRefund" in shown.json()["source"] or name == response, shown.data
    assert admin(api, "GET", f"/api/v1/admin/functions/{status}").status == 404  # as a route's Status function
    assert admin(api, "GET", f"/api/v1/admin/functions/{api.onboard().app_id}_x_Refund").status == 404


def unknown_refund(api, shop):
    """A payment with an UNKNOWN refund of 100.03 (the provider answered 500)."""
    body = shop.body()
    assert shop.pay(body, headers=shop.basic).status == 200
    resp = api.request("POST", f"/api/v1/payment/{body['f010']}/refund",
                       json={"refund_id": "u-" + secrets.token_hex(4), "amount": "100.03"}, headers=shop.basic)
    assert resp.json()["status"] == "UNKNOWN", resp.data
    return resp.json()["transaction_id"], resp.json()["id"], body["f010"]


def test_an_operator_settles_an_open_refund_through_the_api(api, shop):
    txn, rfd, f010 = unknown_refund(api, shop)
    path = f"/api/v1/admin/transactions/{txn}/refunds/{rfd}/resolve"
    assert admin(api, "POST", path, {"status": "FAILED"}).json()["error"]["field"] == "reason"
    assert admin(api, "POST", path, {"status": "MAYBE", "reason": "asked them"}).json()["error"]["field"] == "status"
    other_txn = paid(shop)
    wrong = admin(api, "POST", f"/api/v1/admin/transactions/{other_txn}/refunds/{rfd}/resolve",
                  {"status": "FAILED", "reason": "asked them"})
    assert (wrong.status, wrong.json()["error"]["code"]) == (404, "refund_not_found")
    viewer = token_for(api, "viewer")
    assert admin(api, "POST", path, {"status": "FAILED", "reason": "asked them"}, token=viewer).status == 403
    done = admin(api, "POST", path, {"status": "FAILED", "reason": "provider has no such refund"})
    assert done.json() == {"id": rfd, "transaction_id": txn, "status": "FAILED"}, done.data
    again = admin(api, "POST", path, {"status": "SUCCESSFUL", "reason": "changed my mind"})
    assert (again.status, again.json()["error"]["code"]) == (409, "already_final")
    last = api.db.run("SELECT e.to_status, e.cause, e.actor, e.note FROM refund_events e JOIN refunds r "
                      "ON r.id = e.refund_id WHERE r.public_id = :p ORDER BY e.id DESC LIMIT 1", p=rfd)[0]
    assert last == {"to_status": "FAILED", "cause": "operator", "actor": "ops", "note": "provider has no such refund"}
    assert api.db.run("SELECT username, before, after FROM audit_log WHERE action = 'refund.resolve' AND "
                      "target_id = :p", p=rfd)[0]["before"] == {"status": "UNKNOWN"}
    # FAILED frees the amount: all of the payment can be refunded now.
    whole = api.request("POST", f"/api/v1/payment/{f010}/refund", json={"refund_id": "after-" + rfd[-6:]},
                        headers=shop.basic)
    assert (whole.status, whole.json()["amount"]) == (200, "1000.00"), whole.data


def test_an_operator_settles_an_open_refund_from_the_portal_with_a_reason(api, shop):
    txn, rfd, _ = unknown_refund(api, shop)
    portal, name = signed_in(api)
    page = portal.get(f"/admin/transactions/{txn}")
    assert f'id="resolve-{rfd}"' in page.text
    no_reason = portal.post(f"/admin/transactions/{txn}/refunds/{rfd}/resolve", {"status": "SUCCESSFUL", "reason": ""})
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    ok = portal.post(f"/admin/transactions/{txn}/refunds/{rfd}/resolve",
                     {"status": "SUCCESSFUL", "reason": "provider statement shows it"})
    assert ok.status_code == 303
    shown = portal.get(f"/admin/transactions/{txn}")
    assert f'id="resolve-{rfd}"' not in shown.text
    assert api.db.run("SELECT status FROM refunds WHERE public_id = :p", p=rfd)[0]["status"] == "SUCCESSFUL"
    viewer, _ = signed_in(api, "viewer")
    txn2, rfd2, _ = unknown_refund(api, shop)
    assert f'id="resolve-{rfd2}"' not in viewer.get(f"/admin/transactions/{txn2}").text
    assert viewer.post(f"/admin/transactions/{txn2}/refunds/{rfd2}/resolve",
                       {"status": "FAILED", "reason": "viewer tries"}).status_code == 403
