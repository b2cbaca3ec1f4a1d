"""The portal's main scenario in headless Chromium: a newcomer onboards a client and watches its payments,
entirely from the browser (plus one API payment), and the main pages are captured for the README."""

from __future__ import annotations

import base64
import csv
import io
import os
from pathlib import Path

import pytest
import urllib3

pytestmark = pytest.mark.browser

# Screenshots go to the test's tmp_path unless MOSPAY_UPDATE_SCREENSHOTS=1 (then to docs/screenshots,
# the README's pictures): an ordinary test run must not rewrite tracked files, nor leave any behind.
DOCS_SHOTS = Path(__file__).resolve().parent.parent.parent / "docs" / "screenshots"
NEW_PASSWORD = "a-much-better-password"
RESPONSE_FN = "RESPONSE_akaliza_mtnmomorwa_collection"


def _pay(live, creds, f010, msisdn="+250788123456"):
    http = urllib3.PoolManager()
    basic = base64.b64encode(f"{creds['username']}:{creds['secret']}".encode()).decode()
    token = http.request("POST", live["url"] + "/api/v1/auth/token",
                         headers={"Authorization": f"Basic {basic}", "App-ID": "akaliza"}).json()["access_token"]
    body = {"f000": "mtnmomorwa", "f001": "collection", "f002": "collection", "f003": "akaliza", "f004": "2500.00",
            "f005": msisdn, "f006": "customer123", "f007": "enc-secret", "f008": "pwd-secret",
            "f009": "device_abc123", "f010": f010}
    resp = http.request("POST", live["url"] + "/api/v1/payment/process", json=body,
                        headers={"Authorization": f"Bearer {token}"}, timeout=20)
    return resp.status, resp.json()


def _token_status(live, creds):
    basic = base64.b64encode(f"{creds['username']}:{creds['secret']}".encode()).decode()
    return urllib3.PoolManager().request("POST", live["url"] + "/api/v1/auth/token",
                                         headers={"Authorization": f"Basic {basic}", "App-ID": "akaliza"}).status


def _shot(page, name, folder):
    folder.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # a full-page shot of a scrolled page paints the sticky bar mid-page
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_newcomer_onboards_a_client_and_watches_its_payments(browser, live, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    csp_errors = []
    page.on("console", lambda m: m.type == "error" and "Content Security Policy" in m.text and csp_errors.append(m.text))
    not_found = []  # e.g. /favicon.ico, which a browser fetches on every page that links no icon
    page.on("console", lambda m: m.type == "error" and "status of 404" in m.text and not_found.append(m.location))
    base = live["url"]
    shots = DOCS_SHOTS if os.environ.get("MOSPAY_UPDATE_SCREENSHOTS") == "1" else tmp_path / "screenshots"

    # Sign in as the default admin: forced to choose a new password first.
    page.goto(base + "/admin")
    assert page.url.endswith("/admin/login")
    _shot(page, "login", shots)
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "admin123")
    page.click("button:has-text('Sign in')")
    page.wait_for_url("**/admin/password")
    page.goto(base + "/admin/clients")
    assert page.url.endswith("/admin/password")
    page.fill("input[name=current_password]", "admin123")
    page.fill("input[name=new_password]", NEW_PASSWORD)
    page.fill("input[name=confirm_password]", NEW_PASSWORD)
    page.click("button:has-text('Save password')")
    page.wait_for_url(base + "/admin")

    # A service that pays through the simulator.
    page.click("nav.main-nav >> text=Services")
    page.click("text=New service")
    page.fill("input[name=name]", "mtnmomorwa")
    page.fill("input[name=display_name]", "MTN MoMo Rwanda")
    page.fill("input[name=service_url]", live["simulator"])
    page.fill("input[name=timeout_s]", "5")
    page.click("button:has-text('Create service')")
    page.wait_for_url("**/admin/services/mtnmomorwa")
    page.fill("#fields input[name=code]", "f011")
    page.fill("#fields input[name=label]", "Narration")
    page.uncheck("#fields input[name=required]")
    page.click("#fields button:has-text('Save field')")  # HTMX: only the field table is replaced
    page.wait_for_selector("#fields td:has-text('Narration')")
    _shot(page, "service", shots)

    # A client: the secret is on the response page, once.
    page.click("nav.main-nav >> text=Clients")
    page.click("text=New client")
    page.fill("input[name=app_id]", "akaliza")
    page.fill("input[name=company_name]", "Akaliza Ltd")
    page.fill("input[name=contact_email]", "ops@akaliza.example")
    page.click("button:has-text('Create client')")
    creds = {"username": page.inner_text("#api-username"), "secret": page.inner_text("#api-secret")}
    assert creds["secret"].startswith("sk_")
    page.click("text=Continue to the client")
    page.wait_for_url("**/admin/clients/akaliza")
    assert creds["secret"] not in page.content()

    page.select_option("select[name=service]", "mtnmomorwa")
    page.fill("input[name=routes]", "collection")
    page.click("button:has-text('Assign')")
    page.wait_for_selector(f"a[href='/admin/functions/{RESPONSE_FN}']")

    # Payments through the API, against the simulator.
    status, body = _pay(live, creds, "order-1001")
    assert status == 200 and body["status"] == "SUCCESSFUL"
    assert _pay(live, creds, "order-1002", "+250788120001")[0] == 402
    assert _pay(live, creds, "order-1003", "+250788120004")[0] == 202
    for n in range(4, 8):
        _pay(live, creds, f"order-100{n}")

    page.goto(base + "/admin/clients/akaliza")
    _shot(page, "client", shots)
    # A full load before typing: after a boosted click htmx wires the new content up a moment later.
    page.goto(base + "/admin/clients")
    page.fill("input[name=q]", "akal")  # live search, as you type
    page.wait_for_selector("#clients-table >> text=Akaliza Ltd")
    page.fill("input[name=q]", "zzz-nothing")
    page.wait_for_selector("#clients-table >> text=No clients")
    page.fill("input[name=q]", "")
    page.wait_for_selector("#clients-table >> text=Akaliza Ltd")
    _shot(page, "clients", shots)

    page.click("nav.main-nav >> text=Dashboard")
    page.wait_for_selector("#dashboard >> text=order-1001")
    assert page.is_visible("text=order-1003")  # PENDING at first; the simulator settles it a second later
    assert page.locator("svg rect.bar.successful").count() >= 1
    _shot(page, "dashboard", shots)
    # Every table fits its card at this width: no column (the "When (UTC)" one was) is cut off.
    cut = page.evaluate("() => [...document.querySelectorAll('#dashboard .table-wrap')]"
                        ".filter(w => w.scrollWidth > w.clientWidth).map(w => w.closest('section').querySelector('h2').textContent.trim())")
    assert not cut, cut

    page.goto(base + "/admin/transactions")
    page.wait_for_selector("text=order-1001")
    page.select_option("select[name=status]", "FAILED")  # HTMX filter on change
    page.wait_for_selector("#transactions-table >> text=order-1001", state="detached")  # the swap happened
    assert page.locator("#transactions-table >> text=order-1002").count() == 1
    assert "status=FAILED" in page.url  # hx-push-url: the filter is in the address bar
    with page.expect_download() as download:  # the export follows the filter on screen
        page.click("#export-csv")
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    # Other browser tests share this gateway: the export holds only FAILED rows, and of akaliza's only order-1002.
    assert rows[0][0] == "public_id" and {r[7] for r in rows[1:]} == {"FAILED"}
    assert [r[6] for r in rows[1:] if r[3] == "akaliza"] == ["order-1002"]
    page.select_option("select[name=status]", "")
    page.wait_for_selector("#transactions-table >> text=order-1001")
    _shot(page, "transactions", shots)
    with page.expect_download() as download:
        page.click("#export-csv")
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    ours = [r[6] for r in rows[1:] if r[3] == "akaliza"]  # the shared gateway has other browser tests' rows
    assert sorted(ours) == [f"order-100{n}" for n in range(1, 8)]

    page.click("#transactions-table >> text=order-1001")
    page.wait_for_selector("text=Status history")
    assert "pwd-secret" not in page.content() and "***" in page.content()
    _shot(page, "transaction", shots)

    # An unknown outcome (provider 500) settled by hand, before the reconciler's first check at 30 s.
    status, body = _pay(live, creds, "order-1008", "+250788120003")
    assert body["status"] == "UNKNOWN"
    page.goto(base + f"/admin/transactions/{body['transaction_id']}")
    page.select_option("#resolve-form select[name=status]", "FAILED")
    page.fill("#resolve-form textarea[name=reason]", "provider support: payer cancelled")
    page.once("dialog", lambda dialog: dialog.accept())  # hx-confirm
    page.click("#resolve-form button:has-text('Resolve')")
    page.wait_for_selector("text=provider support: payer cancelled")
    assert page.locator("h1 .badge.failed").count() == 1 and page.locator("#resolve-form").count() == 0

    # Dry-run, then edit, the client's RESPONSE function.
    page.goto(base + f"/admin/functions/{RESPONSE_FN}")
    source = page.input_value("textarea[name=source]")
    page.fill("textarea[name=source]", source.replace("'Payment completed'", "'Paid through MosPay'"))
    page.click("#dry-run-button")
    page.wait_for_selector("#dry-run >> text=Paid through MosPay")
    _shot(page, "function", shots)
    page.click("#save-button")
    page.wait_for_selector("text=Previous versions")
    page.wait_for_selector("td:has-text('admin')")
    status, body = _pay(live, creds, "order-2001")
    assert status == 200 and body["result"]["message"] == "Paid through MosPay"

    # Small screens: the same dashboard, with the menu folded.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=context.storage_state())
    mobile = phone.new_page()
    mobile.goto(base + "/admin")
    assert mobile.is_visible("summary:has-text('Menu')") and not mobile.is_visible("nav.main-nav")
    _shot(mobile, "dashboard-mobile", shots)
    phone.close()

    # Deactivate asks first (htmx hx-confirm); declining changes nothing, accepting deactivates.
    page.goto(base + "/admin/clients/akaliza")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("button:has-text('Deactivate')")
    assert page.is_visible(".page-head .badge.successful")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Deactivate')")
    page.wait_for_selector(".page-head .badge.failed")
    assert _token_status(live, creds) == 401
    page.click("button:has-text('Reactivate')")
    page.wait_for_selector(".page-head .badge.successful")
    assert _token_status(live, creds) == 200

    page.click("button:has-text('Sign out')")
    page.wait_for_url("**/admin/login")
    page.goto(base + "/admin/clients")
    assert page.url.split("?")[0].endswith("/admin/login")
    assert not csp_errors, csp_errors
    assert not not_found, not_found
    context.close()
