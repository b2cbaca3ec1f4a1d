"""Stored XSS in a real browser: a payload in every displayed field must not run on any portal page,
even with the Content-Security-Policy switched off (so escaping alone is what is tested)."""

from __future__ import annotations

import base64

import pytest
import urllib3

from mospay import accounts, catalogue
from mospay.db import Database
from tests.browser.conftest import admin_sign_in

pytestmark = pytest.mark.browser

XSS = '"><img src=x onerror="window.__xss=1">'
PASSWORD = "xss-checker-password"


def test_stored_img_onerror_payload_never_runs_on_any_portal_page(browser, live):
    http = urllib3.PoolManager()
    db = Database(live["db_url"], size=1)
    try:
        accounts.create_admin(db, {"username": "xsschecker", "password": PASSWORD, "role": "super_admin"})
        catalogue.create_service(db, {"name": "xsssvc", "display_name": XSS, "service_url": live["simulator"]})
        db.run("UPDATE service_fields SET label = :l WHERE code = 'f006'", l=XSS)
    finally:
        db.close()
    context = browser.new_context(bypass_csp=True)  # the CSP would block the handler: test escaping alone
    page = context.new_page()
    page.set_default_timeout(10_000)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    base = live["url"]
    admin_sign_in(page, base, "xsschecker", PASSWORD)
    # The client through the portal's own form (the credentials page shows the secret once).
    page.goto(base + "/admin/clients/new")
    page.fill("input[name=app_id]", "xssshop")
    page.fill("input[name=company_name]", XSS)
    page.click("button:has-text('Create client')")
    username, secret = page.inner_text("#api-username"), page.inner_text("#api-secret")
    db = Database(live["db_url"], size=1)
    try:
        catalogue.assign_service(db, "xssshop", {"service": "xsssvc", "routes": ["collection"]})
    finally:
        db.close()
    basic = base64.b64encode(f"{username}:{secret}".encode()).decode()
    token = http.request("POST", base + "/api/v1/auth/token",
                         headers={"Authorization": f"Basic {basic}", "App-ID": "xssshop"}).json()["access_token"]
    body = {"f000": "xsssvc", "f001": "collection", "f002": "collection", "f003": "xssshop", "f004": "1000.00",
            "f005": "+250788123456", "f006": XSS, "f007": "enc-x", "f008": "pwd-x", "f009": XSS, "f010": "xss-1"}
    paid = http.request("POST", base + "/api/v1/payment/process", json=body, timeout=20,
                        headers={"Authorization": f"Bearer {token}", "User-Agent": XSS})
    assert paid.status < 500 and paid.status != 422, paid.data

    page.goto(base + "/admin/transactions?client=xssshop")
    detail = page.get_attribute("a[href^='/admin/transactions/txn_']", "href")
    page.goto(base + "/admin/api-logs?client=xssshop")
    log = page.get_attribute("a[href^='/admin/api-logs/']", "href")
    pages = ["/admin", "/admin/clients", "/admin/clients/xssshop", "/admin/clients/xssshop/edit", "/admin/services",
             "/admin/services/xsssvc", "/admin/services/xsssvc?edit=f006", "/admin/transactions", detail,
             "/admin/api-logs", log, "/admin/audit"]
    shown = 0
    for path in pages:
        page.goto(base + path)
        page.wait_for_load_state("load")
        assert page.evaluate("typeof window.__xss") == "undefined", path
        assert page.locator("img[onerror]").count() == 0, path
        shown += page.content().count("onerror=")  # the payload is on the page, as text
    assert shown >= len(pages) - 2 and not dialogs  # (the dashboard and audit may not show it)
    context.close()
