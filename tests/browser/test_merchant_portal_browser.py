"""The merchant portal in headless Chromium: an operator invites a client's first user from the admin
client page; the person follows the link, chooses a password, signs in, turns on TOTP by scanning (here:
reading) the key, signs in again with a code, sees a payment made through the API on the dashboard, and
invites a teammate who joins through their own link."""

from __future__ import annotations

import base64
import json
import os
import time

import pytest
import urllib3

from mospay import totp
from mospay.db import Database
from tests.browser.conftest import admin_sign_in
from tests.browser.test_portal_browser import DOCS_SHOTS, _shot
from tests.integration.portal_support import PASSWORD, password_hash

pytestmark = pytest.mark.browser


def _api(http, method, url, body=None, headers=None):
    answer = http.request(method, url, body=None if body is None else json.dumps(body),
                          headers={"Content-Type": "application/json", **(headers or {})})
    assert answer.status < 300, (url, answer.status, answer.data[:300])
    return json.loads(answer.data)


def _setup_client(live) -> dict:
    """Through the admin API: a service on the simulator, client `mpbrowser` assigned to it, one payment."""
    db = Database(live["db_url"], size=1)
    try:
        db.one("insert_user", username="mpops", password_hash=password_hash(), role="admin", must_change=False)
    finally:
        db.close()
    http = urllib3.PoolManager()
    basic = base64.b64encode(f"mpops:{PASSWORD}".encode()).decode()
    token = _api(http, "POST", live["url"] + "/api/v1/admin/token", headers={"Authorization": f"Basic {basic}"})
    admin = {"Authorization": f"Bearer {token['access_token']}"}
    _api(http, "POST", live["url"] + "/api/v1/admin/services", {"name": "mpsvc", "service_url": live["simulator"]},
         admin)
    creds = _api(http, "POST", live["url"] + "/api/v1/admin/clients",
                 {"app_id": "mpbrowser", "company_name": "Browser Shop"}, admin)
    _api(http, "POST", live["url"] + "/api/v1/admin/clients/mpbrowser/services",
         {"service": "mpsvc", "routes": ["collection"]}, admin)
    raw = base64.b64encode(f"{creds['api_username']}:{creds['api_secret']}".encode()).decode()
    paid = None
    # A success, a decline (…0001) and one left pending (…0004): the dashboard has something to draw.
    for f010, amount, msisdn in (("browser-order-1", "1234.00", "+250788123456"),
                                 ("browser-order-2", "500.00", "+250788120001"),
                                 ("browser-order-3", "750.00", "+250788120004")):
        answer = http.request("POST", live["url"] + "/api/v1/payment/process", body=json.dumps(
            {"f000": "mpsvc", "f001": "collection", "f002": "collection", "f003": "mpbrowser", "f004": amount,
             "f005": msisdn, "f006": "c", "f007": "e", "f008": "p", "f009": "d", "f010": f010}),
            headers={"Authorization": f"Basic {raw}", "App-ID": "mpbrowser", "Content-Type": "application/json"})
        paid = paid or json.loads(answer.data)
    http.clear()
    return paid


def test_invite_totp_sign_in_dashboard_and_teammate(browser, live, tmp_path):
    paid = _setup_client(live)
    url = live["url"]
    shots = DOCS_SHOTS if os.environ.get("MOSPAY_UPDATE_SCREENSHOTS") == "1" else tmp_path / "screenshots"
    ops = browser.new_context(viewport={"width": 1280, "height": 860})
    page = ops.new_page()
    page.set_default_timeout(15_000)
    admin_sign_in(page, url, "mpops", PASSWORD)
    page.goto(url + "/admin/clients/mpbrowser")
    page.fill("#portal-users input[name=email]", "owner@mpbrowser.example")
    page.select_option("#portal-users select[name=role]", "owner")
    page.click("#portal-users button:has-text('Invite')")
    invite = page.locator("#portal-link").inner_text()
    ops.close()

    person = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = person.new_page()
    page.set_default_timeout(15_000)
    page.goto(invite)
    page.fill("input[name=new_password]", "owner-password-1")
    page.fill("input[name=confirm_password]", "owner-password-1")
    page.click("button:has-text('Set password')")
    page.wait_for_url("**/portal/login?done=invite")
    page.fill("input[name=email]", "owner@mpbrowser.example")
    page.fill("input[name=password]", "owner-password-1")
    page.click("button:has-text('Sign in')")
    page.wait_for_url(url + "/portal")

    page.goto(url + "/portal/settings/totp")
    page.click("button:has-text('Set up TOTP')")
    page.locator(".qr svg").wait_for()  # a form post: count() would not wait for the new page
    assert page.locator(".qr svg").count() == 1
    _shot(page, "portal-totp-mobile", shots)
    secret = page.locator("#totp-secret").inner_text()
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    page.fill("input[name=code]", totp.code(key))
    page.click("button:has-text('Turn on TOTP')")
    page.locator("#recovery-codes li").first.wait_for()
    assert page.locator("#recovery-codes li").count() == 10
    page.click("a:has-text('Done')")
    page.locator("summary:has-text('Menu')").click()  # the phone layout folds the navigation
    page.click("button:has-text('Sign out')")
    page.wait_for_url("**/portal/login")

    page.fill("input[name=email]", "owner@mpbrowser.example")
    page.fill("input[name=password]", "owner-password-1")
    page.click("button:has-text('Sign in')")
    page.wait_for_url("**/portal/login/totp*")
    page.fill("input[name=code]", totp.code(key, time.time() + 30))  # the enrolment's code is spent
    page.click("button:has-text('Continue')")
    page.wait_for_url(url + "/portal")
    assert page.locator("#recent", has_text="browser-order-1").count() == 1
    assert page.locator("#today-count").inner_text() == "3" and paid["status"] == "SUCCESSFUL"
    # The pending one may have been settled by the simulator's callback by now: 1 or 2 of 2 or 3 final.
    assert page.locator("#today-rate").inner_text() in ("50.0%", "66.7%")
    _shot(page, "portal-dashboard-mobile", shots)

    page.goto(url + "/portal/team")
    page.fill("input[name=email]", "dev@mpbrowser.example")
    page.select_option("select[name=role] >> nth=-1", "developer")
    page.click("button:has-text('Invite')")
    teammate_link = page.locator("#invite-url").inner_text()
    person.close()

    mate = browser.new_context(viewport={"width": 1280, "height": 860})
    page = mate.new_page()
    csp_errors = []
    page.on("console", lambda m: m.type == "error" and "Content Security Policy" in m.text and csp_errors.append(m.text))
    page.set_default_timeout(15_000)
    page.goto(teammate_link)
    page.fill("input[name=new_password]", "dev-password-12")
    page.fill("input[name=confirm_password]", "dev-password-12")
    page.click("button:has-text('Set password')")
    page.fill("input[name=email]", "dev@mpbrowser.example")
    page.fill("input[name=password]", "dev-password-12")
    page.click("button:has-text('Sign in')")
    page.wait_for_url(url + "/portal")
    _shot(page, "portal-dashboard", shots)
    page.goto(url + "/portal/team")
    assert page.locator("td:has-text('owner@mpbrowser.example')").count() == 1
    _shot(page, "portal-team", shots)
    assert page.locator("text=Invite a teammate").count() == 0  # a developer does not manage the team
    assert csp_errors == []  # the charts and the QR code are inline SVG without style attributes
    mate.close()
