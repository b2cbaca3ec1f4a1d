"""Alerting in headless Chromium against a real run.py of its own, evaluating every second: an operator creates a rule in
the portal, a decline storm through the simulator makes it fire, the operator acknowledges it, and it
resolves once payments succeed again (the history shows it)."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest
import urllib3

from mospay.db import Database
from tests.browser.conftest import admin_sign_in, serve
from tests.integration.portal_support import PASSWORD, password_hash

pytestmark = pytest.mark.browser
DOCS_SHOTS = Path(__file__).resolve().parent.parent.parent / "docs" / "screenshots"
SERVICE, APP_ID = "alertpay", "alertshop"


@pytest.fixture
def live(postgres, tmp_path_factory, browser):
    """A run.py of its own (the shared one's payments are other tests' to count), evaluating every second."""
    with serve(postgres, tmp_path_factory.mktemp("alerts"), MOSPAY_ALERT_INTERVAL_S="1") as urls:
        yield urls


class Gateway:
    """Onboarding and payments over the admin and payment APIs of the live run.py."""

    def __init__(self, live):
        self.url, self.http = live["url"], urllib3.PoolManager()
        raw = base64.b64encode(f"alerter:{PASSWORD}".encode()).decode()
        token = self.http.request("POST", self.url + "/api/v1/admin/token",
                                  headers={"Authorization": f"Basic {raw}"}).json()["access_token"]
        self.admin = {"Authorization": f"Bearer {token}"}

    def admin_post(self, path, body):
        resp = self.http.request("POST", self.url + path, json=body, headers=self.admin)
        assert resp.status in (200, 201), resp.data
        return resp.json()

    def onboard(self, simulator_url):
        self.admin_post("/api/v1/admin/services", {"name": SERVICE, "service_url": simulator_url, "timeout_s": 5})
        creds = self.admin_post("/api/v1/admin/clients", {"app_id": APP_ID, "company_name": "Alert Shop"})
        self.admin_post(f"/api/v1/admin/clients/{APP_ID}/services", {"service": SERVICE, "routes": ["collection"]})
        basic = base64.b64encode(f"{creds['api_username']}:{creds['api_secret']}".encode()).decode()
        self.client = {"Authorization": f"Basic {basic}", "App-ID": APP_ID}

    def pay(self, f010, msisdn):
        body = {"f000": SERVICE, "f001": "collection", "f002": "collection", "f003": APP_ID, "f004": "1500.00",
                "f005": msisdn, "f006": "customer1", "f007": "e", "f008": "p", "f009": "d", "f010": f010}
        return self.http.request("POST", self.url + "/api/v1/payment/process", json=body, headers=self.client,
                                 timeout=20).status


def reload_until(page, selector, timeout_s=15.0):
    deadline = time.monotonic() + timeout_s
    while page.locator(selector).count() == 0:
        assert time.monotonic() < deadline, f"{selector} never appeared"
        time.sleep(0.5)
        page.reload()


def test_operator_creates_a_rule_sees_it_fire_acknowledges_it_and_sees_it_resolve(browser, live, tmp_path):
    db = Database(live["db_url"], size=1)
    try:
        db.one("insert_user", username="alerter", password_hash=password_hash(), role="admin", must_change=False)
    finally:
        db.close()
    gateway = Gateway(live)
    gateway.onboard(live["simulator"])
    for rule in ({"name": "Provider p95 over 3 s", "metric": "latency_p95_ms", "op": ">", "threshold": 3000,
                  "window_s": 300, "severity": "warning",
                  "channels": [{"type": "webhook", "url": "https://hooks.slack.com/services/T0/B0/example"}]},
                 {"name": "Stuck payments", "metric": "stuck", "op": ">", "threshold": 0, "window_s": 60,
                  "severity": "info", "channels": [{"type": "email", "to": "ops@example.com"}]}):
        gateway.admin_post("/api/v1/admin/alert-rules", rule)

    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    admin_sign_in(page, live["url"], "alerter", PASSWORD)

    page.click("nav.main-nav >> text=Alerts")
    page.wait_for_url("**/admin/alerts")
    form = page.locator("#new-rule")
    form.locator("input[name=name]").fill("Alertpay declines")
    form.locator("select[name=metric]").select_option("success_rate")
    form.locator("select[name=service]").select_option(SERVICE)
    form.locator("select[name=op]").select_option("<")
    form.locator("input[name=threshold]").fill("50")
    form.locator("input[name=window_s]").fill("300")
    form.locator("input[name=min_count]").fill("4")
    form.locator("select[name=severity]").select_option("critical")
    form.locator("textarea[name=emails]").fill("oncall@example.com")
    form.locator("button:has-text('Create rule')").click()
    page.wait_for_selector("#rules td:has-text('Alertpay declines')")

    assert gateway.pay("ok-1", "+250788120009") == 200
    for n in range(4):  # the storm: 1 of 5 succeeds, 20 % < 50 %
        assert gateway.pay(f"decline-{n}", "+250788120001") == 402
    reload_until(page, "#firing tr:has-text('Alertpay declines') .badge:has-text('firing')")
    shots = DOCS_SHOTS if os.environ.get("MOSPAY_UPDATE_SCREENSHOTS") == "1" else tmp_path / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "alerts.png"), full_page=True)

    row = page.locator("#firing tr", has_text="Alertpay declines")
    row.locator("button:has-text('Acknowledge')").click()
    page.wait_for_selector("#firing tr:has-text('Alertpay declines') >> text=alerter")

    for n in range(6):  # back to normal: 7 of 11, 63.6 %
        assert gateway.pay(f"ok-after-{n}", "+250788120009") == 200
    page.goto(live["url"] + "/admin/alerts/history?state=resolved")
    reload_until(page, "#alert-history tr:has-text('Alertpay declines') .badge:has-text('resolved')")
    assert page.locator("#alert-history tr:has-text('Alertpay declines') >> text=alerter").count() == 1
    context.close()

    db = Database(live["db_url"], size=1)
    try:
        actions = [r["action"] for r in db.run("SELECT action FROM audit_log WHERE username = 'alerter' ORDER BY id")]
    finally:
        db.close()
    assert actions[-2:] == ["alert_rule.create", "alert.acknowledge"]
