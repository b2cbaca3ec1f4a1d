"""/portal, the merchant dashboard: today's and 30 days' count, successful value and success rate (over
final states) of the client's own payments only, 30-day SVG charts per service, open and recent payments."""

from __future__ import annotations

import re

from mospay import catalogue
from tests.integration.merchant_support import merchant_client, merchant_portal
from tests.integration.portal_support import site  # noqa: F401 (the fixture)


def pay(site, app_id, f010, amount, status, days_ago=0, service="mtnmomorwa"):
    site.db.run("""
        INSERT INTO transactions (client_id, service_id, route, f010, amount, msisdn, request, request_hash, status,
                                  created_at, updated_at)
        SELECT c.id, s.id, 'collection', :f010, :amount, '+250788000001', '{}', 'h-' || :f010, :status,
               date_trunc('day', now()) + interval '1 minute' - make_interval(days => :days),
               date_trunc('day', now()) + interval '1 minute' - make_interval(days => :days)
          FROM clients c, services s WHERE c.app_id = :app_id AND s.name = :service""",
                f010=f010, amount=amount, status=status, days=days_ago, app_id=app_id, service=service)


def tile(page, name):
    return re.search(rf'id="{name}">(.*?)</strong>', page.text, re.S).group(1).strip()


def test_dashboard_counts_only_this_clients_payments(site):
    catalogue.create_service(site.db, {"name": "mtnmomorwa", "service_url": "http://127.0.0.1:9"})
    merchant_client(site, "alpha")
    merchant_client(site, "bravo")
    for f010, amount, state, days in (("a1", 100, "SUCCESSFUL", 0), ("a2", 200, "SUCCESSFUL", 0),
                                      ("a3", 70, "FAILED", 0), ("a4", 90, "PENDING", 0),
                                      ("a5", 50, "SUCCESSFUL", 10), ("a6", 999, "SUCCESSFUL", 40)):
        pay(site, "alpha", f010, amount, state, days)
    pay(site, "bravo", "bravo-big", 77777, "SUCCESSFUL")
    pay(site, "bravo", "bravo-open", 88888, "UNKNOWN")
    page = merchant_portal(site, "alpha", "viewer").get("/portal")
    assert page.status_code == 200
    assert tile(page, "today-count") == "4" and tile(page, "today-rate") == "66.7%"
    assert tile(page, "month-count") == "5" and tile(page, "month-rate") == "75.0%"
    assert tile(page, "today-value").startswith("300.00 ") and tile(page, "month-value").startswith("350.00 ")
    assert "bravo" not in page.text and "77,777" not in page.text and "88,888" not in page.text
    assert page.text.count("<svg") == 3 and "mtnmomorwa: payments per day" in page.text
    open_section = page.text.split('id="open"')[1].split("</section>")[0]
    assert ">a4</a>" in open_section and ">a1</a>" not in open_section  # f010s (public ids are hex: "a1" may be in one)
    assert "/portal/transactions/txn_" in page.text.split('id="recent"')[1]


def test_an_empty_client_sees_zeros_and_no_chart(site):
    merchant_client(site, "empty")
    page = merchant_portal(site, "empty", "finance").get("/portal")
    assert page.status_code == 200 and tile(page, "today-count") == "0" and tile(page, "today-rate") == "–"
    assert "<svg" not in page.text and "/portal/docs" in page.text


def test_htmx_refresh_gets_the_fragment(site):
    merchant_client(site, "alpha")
    portal = merchant_portal(site, "alpha", "developer")
    part = portal.get("/portal", headers={"HX-Request": "true"})
    assert part.status_code == 200 and part.text.startswith("\n<div id=\"dashboard\"") or \
        part.text.lstrip().startswith('<div id="dashboard"')
    assert "<html" not in part.text and "HX-Request" in part.headers["vary"]
