"""Refunds in the merchant portal: the transaction page lists a payment's refunds for every role that reads
transactions, and owner/finance refund through the API's refund function (the form's server-made refund_id
makes a double submit one refund), scoped to the client, audited with the merchant user; CSRF and roles."""

from __future__ import annotations

import re

import pytest

from tests.integration.merchant_support import merchant_portal

TOKEN = re.compile(r'name="refund_id" value="([^"]+)"')


@pytest.fixture(scope="module")
def shop(api):
    return api.onboard()


def paid(shop, amount="1000.00") -> str:
    resp = shop.pay(shop.body(f004=amount), headers=shop.basic)
    assert resp.status == 200, resp.data
    return resp.json()["transaction_id"]


def refund_rows(api, txn) -> list[dict]:
    return api.db.run("SELECT x.amount, x.status, x.reason, x.operator, x.refund_id FROM refunds x "
                      "JOIN transactions t ON t.id = x.transaction_id WHERE t.public_id = :p ORDER BY x.created_at",
                      p=txn)


def form_of(portal, txn) -> dict:
    page = portal.get(f"/portal/transactions/{txn}")
    assert page.status_code == 200 and 'id="refund-form"' in page.text, page.text[-2000:]
    return {"refund_id": TOKEN.search(page.text).group(1)}


def test_an_owner_refunds_once_on_a_double_submit_and_it_is_audited(api, shop):
    txn = paid(shop)
    owner = merchant_portal(api, shop.app_id, "owner")
    sent = {**form_of(owner, txn), "amount": "100.00", "reason": "damaged parcel"}
    first = owner.post(f"/portal/transactions/{txn}/refunds", sent)
    assert first.status_code == 303, first.text
    assert re.fullmatch(rf"/portal/transactions/{txn}\?refund=rfd_[0-9a-f]+#refunds", first.headers["location"])
    again = owner.post(f"/portal/transactions/{txn}/refunds", sent)  # the same form, submitted twice
    assert (again.status_code, again.headers["location"]) == (303, first.headers["location"])
    rows = refund_rows(api, txn)
    assert [(str(r["amount"]), r["status"], r["reason"]) for r in rows] == [("100.00", "SUCCESSFUL", "damaged parcel")]
    assert rows[0]["operator"] == f"merchant:{owner.me['email']}" and rows[0]["refund_id"] == sent["refund_id"]
    shown = owner.get(first.headers["location"].split("#")[0])
    assert 'id="refund-notice"' in shown.text and "Refunded 100.00" in shown.text and "damaged parcel" in shown.text
    assert sent["refund_id"] not in TOKEN.search(shown.text).group(0)  # a new form, a new refund
    audits = api.db.run("SELECT username, client_app_id, after FROM audit_log WHERE action = 'transaction.refund' "
                        "AND target_id = :t ORDER BY id", t=txn)
    assert {(a["username"], a["client_app_id"]) for a in audits} == {(f"merchant:{owner.me['email']}", shop.app_id)}
    assert audits[0]["after"]["amount"] == "100.00" and audits[0]["after"]["status"] == "SUCCESSFUL"
    # The API's own lookup shows the portal's refund.
    f010 = api.db.run("SELECT f010 FROM transactions WHERE public_id = :p", p=txn)[0]["f010"]
    assert api.request("GET", f"/api/v1/payment/{f010}", headers=shop.basic).json()["refunded_amount"] == "100.00"


def test_refusals_show_their_message_and_refund_nothing_then_the_rest_is_refunded(api, shop):
    txn = paid(shop)
    finance = merchant_portal(api, shop.app_id, "finance")
    path = f"/portal/transactions/{txn}/refunds"
    no_reason = finance.post(path, {**form_of(finance, txn), "amount": "10.00", "reason": " "})
    assert no_reason.status_code == 422 and "reason: a reason of 3-500 characters" in no_reason.text
    assert 'value="10.00"' in no_reason.text  # the draft is kept
    over = finance.post(path, {**form_of(finance, txn), "amount": "1000.01", "reason": "too much"})
    assert over.status_code == 422 and "left to refund" in over.text
    bad = finance.post(path, {**form_of(finance, txn), "amount": "ten", "reason": "not a number"})
    assert bad.status_code == 422 and "amount:" in bad.text
    no_token = finance.post(path, {"refund_id": "", "reason": "without the form token"})
    assert no_token.status_code == 422 and "refund_id" in no_token.text
    assert refund_rows(api, txn) == []
    rest = finance.post(path, {**form_of(finance, txn), "amount": "", "reason": "order cancelled"})
    assert rest.status_code == 303
    assert [(str(r["amount"]), r["status"]) for r in refund_rows(api, txn)] == [("1000.00", "SUCCESSFUL")]
    page = finance.get(f"/portal/transactions/{txn}")
    assert "order cancelled" in page.text and "1,000.00 " in page.text


def test_a_declined_and_a_pending_refund_are_shown_as_messages(api, shop):
    txn = paid(shop)
    owner = merchant_portal(api, shop.app_id, "owner")
    path = f"/portal/transactions/{txn}/refunds"
    declined = owner.post(path, {**form_of(owner, txn), "amount": "100.01", "reason": "declined by the sim"})
    assert declined.status_code == 303
    page = owner.get(declined.headers["location"].split("#")[0])
    assert "was declined" in page.text and 'class="alert" role="status" id="refund-notice"' in page.text
    pending = owner.post(path, {**form_of(owner, txn), "amount": "100.04", "reason": "pending at the sim"})
    assert pending.status_code == 303
    page = owner.get(pending.headers["location"].split("#")[0])
    assert "has not confirmed it yet" in page.text or "Refunded 100.04" in page.text  # the callback may be quick


@pytest.mark.parametrize("role", ["developer", "viewer"])
def test_readers_see_refunds_but_get_no_form_and_cannot_post(api, shop, role):
    txn = paid(shop)
    owner = merchant_portal(api, shop.app_id, "owner")
    assert owner.post(f"/portal/transactions/{txn}/refunds",
                      {**form_of(owner, txn), "amount": "1.00", "reason": "for the reader"}).status_code == 303
    reader = merchant_portal(api, shop.app_id, role)
    page = reader.get(f"/portal/transactions/{txn}")
    assert page.status_code == 200 and "for the reader" in page.text and 'id="refund-form"' not in page.text
    refused = reader.post(f"/portal/transactions/{txn}/refunds", {"refund_id": "portal_x1", "reason": "reader tries"})
    assert refused.status_code == 403
    assert len(refund_rows(api, txn)) == 1


def test_a_cross_site_or_tokenless_refund_post_is_refused(api, shop):
    txn = paid(shop)
    owner = merchant_portal(api, shop.app_id, "owner")
    sent = {**form_of(owner, txn), "reason": "forged post"}
    path = f"/portal/transactions/{txn}/refunds"
    assert owner.post(path, sent, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert owner.post(path, sent, csrf=False).status_code == 403
    assert refund_rows(api, txn) == []
    assert owner.post(path, sent).status_code == 303  # the control: the same form, same-site, with its token


def test_another_clients_transaction_is_not_found_and_nothing_is_refunded(api, shop):
    txn = paid(shop)
    other = api.onboard()
    stranger = merchant_portal(api, other.app_id, "owner")
    path = f"/portal/transactions/{txn}/refunds"
    for answer in (stranger.post(path, {"refund_id": "portal_steal1", "reason": "not mine"}),
                   stranger.post(path, {"refund_id": "portal_steal2"}), stranger.get(path),
                   stranger.get(f"/portal/transactions/{txn}")):
        assert answer.status_code == 404, answer.text
    assert refund_rows(api, txn) == []
    owner = merchant_portal(api, shop.app_id, "owner")
    assert owner.get(path).status_code == 303  # the control: its own client's payment


def test_an_operators_refund_is_listed_without_the_operators_name(api, shop):
    txn = paid(shop)
    done = api.request("POST", f"/api/v1/admin/transactions/{txn}/refunds", json={"reason": "operator goodwill",
                       "amount": "5.00"}, headers={"Authorization": f"Bearer {api.admin_token}"})
    assert done.status == 200, done.data
    operator = refund_rows(api, txn)[0]["operator"]
    page = merchant_portal(api, shop.app_id, "viewer").get(f"/portal/transactions/{txn}")
    assert "operator goodwill" in page.text and "MosPay operator" in page.text
    assert f"<td>{operator}</td>" not in page.text
