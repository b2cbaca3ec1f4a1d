"""A refund from the admin portal in headless Chromium: the form will not go without a reason; with one
(and a confirmation), the refund reaches the provider and the transaction page lists it, audited."""

from __future__ import annotations

import base64
import secrets

import pytest
import urllib3

from mospay import accounts, catalogue
from mospay.db import Database
from tests.browser.conftest import admin_sign_in
from tests.integration.portal_support import PASSWORD, password_hash

pytestmark = pytest.mark.browser


def test_operator_refunds_a_payment_from_the_transaction_page(browser, live):
    app_id = "rfshop" + secrets.token_hex(3)
    db = Database(live["db_url"], size=1)
    try:
        db.one("insert_user", username="refunder", password_hash=password_hash(), role="admin", must_change=False)
        catalogue.create_service(db, {"name": "rfpay", "service_url": live["simulator"], "timeout_s": 5})
    finally:
        db.close()
    http = urllib3.PoolManager(retries=False)
    admin = _admin_token(http, live)
    created = http.request("POST", live["url"] + "/api/v1/admin/clients", json={"company_name": "Refund Shop",
                           "app_id": app_id}, headers=admin).json()
    assert http.request("POST", live["url"] + f"/api/v1/admin/clients/{app_id}/services",
                        json={"service": "rfpay", "routes": ["collection"]}, headers=admin).status == 201
    raw = base64.b64encode(f"{created['api_username']}:{created['api_secret']}".encode()).decode()
    body = {"f000": "rfpay", "f001": "collection", "f002": "collection", "f003": app_id, "f004": "800.00",
            "f005": "+250788123456", "f006": "c", "f007": "e", "f008": "p", "f009": "d", "f010": "order-77"}
    paid = http.request("POST", live["url"] + "/api/v1/payment/process", json=body,
                        headers={"Authorization": f"Basic {raw}", "App-ID": app_id})
    assert paid.status == 200, paid.data
    txn = paid.json()["transaction_id"]

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    admin_sign_in(page, live["url"], "refunder", PASSWORD)
    page.goto(live["url"] + f"/admin/transactions/{txn}")
    assert page.locator("#refunds").locator("text=No refund.").count() == 1

    form = page.locator("#refund-form")
    form.locator("input[name=amount]").fill("300.00")
    form.locator("button:has-text('Refund')").click()  # no reason: the browser keeps the form
    assert form.locator("textarea[name=reason]:invalid").count() == 1
    assert page.locator("#refunds tbody tr").count() == 0

    form.locator("textarea[name=reason]").fill("parcel came back damaged")
    page.once("dialog", lambda dialog: dialog.accept())  # hx-confirm: money leaves the merchant's account
    form.locator("button:has-text('Refund')").click()
    page.wait_for_function("() => document.querySelectorAll('#refunds tbody tr').length === 1")
    row = page.locator("#refunds tbody tr").first
    assert row.locator("text=parcel came back damaged").count() == 1
    assert row.locator("text=SUCCESSFUL").count() == 1 and row.locator("text=refunder").count() == 1
    context.close()

    db = Database(live["db_url"], size=1)
    try:
        audit = db.run("SELECT action, after FROM audit_log WHERE username = 'refunder' ORDER BY id")
        refunds = db.run("SELECT amount, status, operator FROM refunds")
    finally:
        db.close()
    assert [a["action"] for a in audit] == ["transaction.refund"]
    assert audit[0]["after"]["reason"] == "parcel came back damaged"
    assert [(str(r["amount"]), r["status"], r["operator"]) for r in refunds] == [("300.00", "SUCCESSFUL", "refunder")]
    assert http.request("GET", live["simulator"] + "/_sim/refunds").json()["total"] == 1


def _admin_token(http, live) -> dict:
    db = Database(live["db_url"], size=1)
    try:
        accounts.create_admin(db, {"username": "rfops", "password": "rf-password-1", "role": "admin"})
    finally:
        db.close()
    raw = base64.b64encode(b"rfops:rf-password-1").decode()
    resp = http.request("POST", live["url"] + "/api/v1/admin/token", headers={"Authorization": f"Basic {raw}"})
    assert resp.status == 200, resp.data
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}
