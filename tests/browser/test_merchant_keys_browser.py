"""A developer's keys and webhooks in headless Chromium: the merchant portal shows where the secret was last
used, rolls it with an overlap (the new secret read off the page works through the API, and so does the old
one until the overlap ends), sends a test event, and a finance user exports the payment as CSV."""

from __future__ import annotations

import base64
import csv
import io
import os
import secrets
from pathlib import Path

import pytest
import urllib3

from mospay.db import Database
from tests.integration.portal_support import PASSWORD, password_hash
from tests.support import free_port, start_process, stop_process, wait_for_line

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def own(postgres, tmp_path_factory, live):
    """A gateway of this module's own (live's simulator): the payments made here must not show in the other
    browser tests' exports, which count every transaction of their gateway."""
    name = postgres.create_database()
    port = free_port()
    env = {"DATABASE_URL": postgres.url_for(name), "MOSPAY_DATA_DIR": str(tmp_path_factory.mktemp("keysdata")),
           "SECRET_KEY": "s" * 16 + secrets.token_hex(16), "JWT_SECRET_KEY": "j" * 16 + secrets.token_hex(16),
           "MOSPAY_ADMIN_PASSWORD": None, "MOSPAY_THREADS": "4", "MOSPAY_POOL_SIZE": "4",
           "MOSPAY_LOG_LEVEL": "WARNING"}
    gateway = start_process(["run.py", "--port", str(port)], env)
    try:
        wait_for_line(gateway, r"MosPay listening on", timeout=60)
        yield {"url": f"http://127.0.0.1:{port}", "simulator": live["simulator"], "db_url": postgres.url_for(name)}
    finally:
        stop_process(gateway)
        postgres.drop_database(name)
DOCS_SHOTS = Path(__file__).resolve().parent.parent.parent / "docs" / "screenshots"  # as test_portal_browser.py
APP_ID, SERVICE = "keysshop", "keysmomo"


def _admin_api(live, method, path, body=None, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {
        "Authorization": "Basic " + base64.b64encode(f"keysops:{PASSWORD}".encode()).decode()}
    resp = urllib3.PoolManager().request(method, live["url"] + path, json=body, headers=headers)
    return resp.status, resp.json()


def _basic(username, secret):
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode(), "App-ID": APP_ID}


def _pay(live, username, secret, f010):
    http = urllib3.PoolManager()
    token = http.request("POST", live["url"] + "/api/v1/auth/token", headers=_basic(username, secret))
    if token.status != 200:
        return token.status
    body = {"f000": SERVICE, "f001": "collection", "f002": "collection", "f003": APP_ID, "f004": "1750.00",
            "f005": "+250788123456", "f006": "c", "f007": "e", "f008": "p", "f009": "d", "f010": f010}
    return http.request("POST", live["url"] + "/api/v1/payment/process", json=body, timeout=20,
                        headers={"Authorization": f"Bearer {token.json()['access_token']}"}).status


def _onboard(live) -> dict:
    db = Database(live["db_url"], size=1)
    try:
        db.one("insert_user", username="keysops", password_hash=password_hash(), role="admin", must_change=False)
        status, token = _admin_api(live, "POST", "/api/v1/admin/token")
        assert status == 200, token
        token = token["access_token"]
        assert _admin_api(live, "POST", "/api/v1/admin/services", {"name": SERVICE, "service_url": live["simulator"]},
                          token)[0] == 201
        status, creds = _admin_api(live, "POST", "/api/v1/admin/clients", {"company_name": "Keys Shop", "app_id": APP_ID},
                                   token)
        assert status == 201, creds
        assert _admin_api(live, "POST", f"/api/v1/admin/clients/{APP_ID}/services",
                          {"service": SERVICE, "routes": ["collection"]}, token)[0] == 201
        client_id = db.run("SELECT id FROM clients WHERE app_id = :a", a=APP_ID)[0]["id"]
        for role in ("developer", "finance"):
            user = db.one("merchant_user_insert", client_id=client_id, email=f"{role}@keysshop.example", role=role,
                          created_by="test")
            db.run("UPDATE merchant_users SET password_hash = :h WHERE id = :id", h=password_hash(), id=user["id"])
    finally:
        db.close()
    return creds


def _sign_in(browser, live, email, viewport):
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(live["url"] + "/portal/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], button:has-text('Sign in')")
    page.wait_for_url(live["url"] + "/portal")
    return context, page


def _shot(page, name, folder):
    folder.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_developer_rolls_the_secret_and_uses_the_new_one_through_the_api(browser, own, tmp_path):
    live = own
    shots = DOCS_SHOTS if os.environ.get("MOSPAY_UPDATE_SCREENSHOTS") == "1" else tmp_path / "screenshots"
    creds = _onboard(live)
    old = (creds["api_username"], creds["api_secret"])
    assert _pay(live, *old, "keys-1") == 200

    context, page = _sign_in(browser, live, "developer@keysshop.example", {"width": 1280, "height": 860})
    page.click("nav.main-nav >> text=Keys")
    page.wait_for_url("**/portal/keys")
    assert page.inner_text("#api-username") == creds["api_username"]
    assert "127.0.0.1" in page.inner_text("#last-used")  # the payment above, at most a minute stale
    _shot(page, "merchant-keys", shots)
    page.select_option("select[name=overlap_s]", "3600")
    page.once("dialog", lambda dialog: dialog.accept())  # hx-confirm
    page.click("button:has-text('Roll secret')")
    page.wait_for_selector("#api-secret")
    new_secret = page.inner_text("#api-secret")
    assert new_secret.startswith("sk_") and new_secret != creds["api_secret"]
    assert _pay(live, creds["api_username"], new_secret, "keys-2") == 200
    assert _pay(live, *old, "keys-3") == 200  # the old one, during its hour
    page.goto(live["url"] + "/portal/keys")
    assert page.locator("#secrets .badge", has_text="overlap").count() == 1
    assert new_secret not in page.content()

    page.click("nav.main-nav >> text=Webhooks")
    page.wait_for_url("**/portal/webhooks")
    page.click("button:has-text('Send test event')")
    page.wait_for_url("**/portal/webhooks?sent=1")
    assert "A test event is queued" in page.inner_text("main")
    _shot(page, "merchant-webhooks", shots)
    context.close()

    # Phone: the same page fits; a finance user exports the payments (and may not roll keys).
    context, page = _sign_in(browser, live, "finance@keysshop.example", {"width": 390, "height": 844})
    page.goto(live["url"] + "/portal/transactions")
    assert page.locator("#transactions-table", has_text="keys-2").count() == 1
    _shot(page, "merchant-transactions-phone", shots)
    with page.expect_download() as download:
        page.click("#export-csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert {r["f010"] for r in rows} == {"keys-1", "keys-2", "keys-3"}
    assert page.goto(live["url"] + "/portal/keys").status == 403
    context.close()
