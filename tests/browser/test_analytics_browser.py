"""Analytics and statements in headless Chromium: an operator opens the analytics page, switches range and
split (HTMX swaps the figures in place, the SVG charts drawn by the server, no CSP error), then opens a
client's statement and its printable page. MOSPAY_UPDATE_SCREENSHOTS=1 saves docs/screenshots/analytics.png."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from mospay import accounts, catalogue
from mospay.db import Database
from tests.browser.conftest import admin_sign_in
from tests.integration.portal_support import PASSWORD, password_hash

pytestmark = pytest.mark.browser
DOCS_SHOTS = Path(__file__).resolve().parent.parent.parent / "docs" / "screenshots"
REASONS = ['{"reason": "NOT_ENOUGH_FUNDS", "message": "Payment declined"}',
           '{"reason": "PAYER_NOT_FOUND", "message": "The payer is not registered"}',
           '{"reason": "APPROVAL_REJECTED", "message": "The payer rejected the request"}']


def plant(db) -> None:
    """A week of payments of two clients through two services (names apart from other tests'): mostly
    successful, some declined for three reasons, a few settled late by the reconciler."""
    for name, currency in (("anamtn", "RWF"), ("anaairtel", "RWF")):
        catalogue.create_service(db, {"name": name, "service_url": "http://127.0.0.1:9", "currency": currency})
    for app_id in ("anashop", "anamarket"):
        accounts.create_client(db, "s" * 32, {"app_id": app_id, "company_name": app_id.title()})
    db.run("""
        INSERT INTO transactions (client_id, service_id, route, f010, amount, request, request_hash, created_at,
                                  provider_ms, provider_http_status, provider_response)
        SELECT c.id, s.id, CASE WHEN g % 4 = 0 THEN 'payout' ELSE 'collection' END, 'ana-' || g,
               500 + (g * 37) % 9500, '{}', 'h', now() - make_interval(mins => (g * 17) % (7 * 24 * 60)),
               CASE WHEN s.name = 'anamtn' THEN 120 + (g * 53) % 900 ELSE 400 + (g * 71) % 2600 END, 200,
               CASE WHEN g % 9 = 0 THEN CAST((CAST(:reasons AS text[]))[1 + (g / 9) % 3] AS jsonb) END
          FROM generate_series(1, 420) g
          JOIN clients c ON c.app_id = CASE WHEN g % 3 = 0 THEN 'anamarket' ELSE 'anashop' END
          JOIN services s ON s.name = CASE WHEN g % 5 < 2 THEN 'anaairtel' ELSE 'anamtn' END""", reasons=REASONS)
    db.run("""
        UPDATE transactions SET status = CASE WHEN f010 ~ '^ana-[0-9]+$' AND substr(f010, 5)::int % 9 = 0 THEN 'FAILED'
                                              WHEN substr(f010, 5)::int % 41 = 0 THEN 'UNKNOWN' ELSE 'SUCCESSFUL' END,
               check_attempts = CASE WHEN substr(f010, 5)::int % 13 = 0 THEN 1 ELSE 0 END,
               updated_at = created_at + make_interval(secs => CASE WHEN substr(f010, 5)::int % 13 = 0 THEN 95 ELSE 1 END)
         WHERE f010 LIKE 'ana-%'""")


def test_operator_reads_analytics_and_a_statement(browser, live, tmp_path):
    db = Database(live["db_url"], size=1)
    try:
        db.one("insert_user", username="analyst", password_hash=password_hash(), role="viewer", must_change=False)
        plant(db)
    finally:
        db.close()
    shots = DOCS_SHOTS if os.environ.get("MOSPAY_UPDATE_SCREENSHOTS") == "1" else tmp_path / "screenshots"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    csp_errors = []
    page.on("console", lambda m: m.type == "error" and "Content Security Policy" in m.text and csp_errors.append(m.text))
    admin_sign_in(page, live["url"], "analyst", PASSWORD)

    page.click("nav.main-nav >> text=Analytics")
    page.wait_for_url("**/admin/analytics")
    assert page.locator("#analytics svg rect.bar.successful").count() > 0
    assert page.locator("#failures td:has-text('NOT_ENOUGH_FUNDS')").count() == 1
    page.select_option("select[name=service]", "anamtn")
    page.select_option("select[name=by]", "route")
    page.click("form.filters button:has-text('Show')")
    page.wait_for_function("() => document.querySelector('#groups') && "
                           "document.querySelector('#groups').textContent.includes('anamtn/payout')")
    assert page.locator("#groups td:has-text('anaairtel')").count() == 0
    assert "by=route" in page.url  # hx-push-url: the address says what is shown

    page.goto(live["url"] + "/admin/analytics?range=7&by=service")
    page.wait_for_selector("#analytics svg")
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "analytics.png"), full_page=True)

    today = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
    page.goto(f"{live['url']}/admin/reports?client=anashop&period={today}")
    assert page.locator("#statement tr.status-successful").count() == 1
    page.click("#statement a:has-text('Printable page')")
    page.wait_for_url("**/admin/reports/statement?*")
    listed = page.locator("table.items tbody tr").count()
    assert listed > 0 and page.locator(f"h2:has-text('Transactions ({listed})')").count() == 1
    assert csp_errors == []
    context.close()
