"""The merchant's own analytics (/portal/analytics, every role) and statements (/portal/reports, owner and
finance): the admin pages' figures with the signed-in client's id in SQL. A statement's totals and line items
equal the merchant's own transactions CSV for the same day; another client's payments never count."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest

from tests.integration.merchant_support import merchant_portal

AMOUNTS = ("1000.00", "250.00", "75.50", "100.01")
DECLINED = "+250788120001"  # the simulator declines a payment from a number ending 0001


@pytest.fixture(scope="module")
def shop(api):
    shop = api.onboard()
    for amount in AMOUNTS:
        msisdn = DECLINED if amount == "100.01" else "+250788123456"
        assert shop.pay(shop.body(msisdn, f004=amount), headers=shop.basic).status in (200, 402)
    noise = api.onboard()  # another client's payment on the same day: must count nowhere here
    assert noise.pay(noise.body(f004="999.00"), headers=noise.basic).status == 200
    shop.noise = noise
    return shop


@pytest.fixture(scope="module")
def portals(api, shop):
    return {role: merchant_portal(api, shop.app_id, role) for role in ("owner", "developer", "finance", "viewer")}


def today() -> str:
    return dt.datetime.now(dt.timezone.utc).date().isoformat()


def test_every_role_sees_its_own_analytics_only(portals, shop):
    for role, portal in portals.items():
        page = portal.get("/portal/analytics?range=1")
        assert page.status_code == 200, (role, page.text[-500:])
        assert re.search(r'id="total-payments">4<', page.text), role
        assert shop.noise.app_id not in page.text and "/api/v1/admin/analytics" not in page.text
        assert 'href="/portal/analytics" aria-current="page"' in page.text
    by_route = portals["viewer"].get("/portal/analytics?range=7&by=route&service=" + shop.service)
    assert by_route.status_code == 200 and "By route" in by_route.text and "collection" in by_route.text
    partial = portals["viewer"].get("/portal/analytics?range=30", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in partial.text and 'id="analytics"' in partial.text
    assert "HX-Request" in partial.headers.get("Vary", "")


@pytest.mark.parametrize("query, field", [("range=5", "range"), ("by=client", "by"), ("by=%00", "by"),
                                          ("service=bad%20name", "service"), ("range=" + "9" * 5000, "range")])
def test_a_bad_analytics_filter_is_a_422_page(portals, query, field):
    page = portals["owner"].get("/portal/analytics?" + query)
    assert page.status_code == 422 and f"{field}:" in page.text, (query, page.status_code)
    assert 'id="total-payments">4<' in page.text  # the page still shows the default view


def statement_figures(text: str) -> dict:
    """The statement CSV's by_status section: {status: (payments, amount)}, and its line items' rows."""
    lines = list(csv.reader(io.StringIO(text)))
    blank = lines.index([])
    figures = {r[1]: (int(r[3]), Decimal(r[4])) for r in lines[2:blank] if r[0] == "by_status" and r[2]}
    return {"figures": figures, "items": lines[blank + 1:]}


def test_a_statement_equals_the_transactions_csv_for_the_same_day(portals, shop):
    finance = portals["finance"]
    page = finance.get(f"/portal/reports?period={today()}")
    assert page.status_code == 200 and 'id="statement"' in page.text and shop.noise.app_id not in page.text
    statement = finance.get(f"/portal/reports/statement.csv?period={today()}")
    assert statement.status_code == 200 and statement.headers["content-type"].startswith("text/csv")
    report = statement_figures(statement.text)
    listed = finance.get(f"/portal/transactions.csv?from={today()}&to={today()}")
    assert listed.status_code == 200
    rows = list(csv.DictReader(io.StringIO(listed.text)))
    assert len(rows) == len(AMOUNTS) and {r["app_id"] for r in rows} == {shop.app_id}
    expected: dict = {}
    for r in rows:
        n, total = expected.get(r["status"], (0, Decimal(0)))
        expected[r["status"]] = (n + 1, total + Decimal(r["amount"]))
    assert report["figures"] == expected, (expected, report)
    assert expected["FAILED"] == (1, Decimal("100.01"))
    assert report["items"][0] == next(csv.reader(io.StringIO(listed.text)))  # the same header
    assert sorted(map(tuple, report["items"][1:])) == sorted(tuple(r.values()) for r in rows)
    # One service, and a month, give the same figures (every payment is of this service, today).
    one = statement_figures(finance.get(f"/portal/reports/statement.csv?service={shop.service}"
                                        f"&period={today()[:7]}").text)
    assert one["figures"] == expected
    printable = finance.get(f"/portal/reports/statement?period={today()}")
    assert printable.status_code == 200 and 'href="/portal/reports/statement.csv?period=' in printable.text
    assert "/admin/" not in printable.text and printable.text.count(shop.app_id) >= len(AMOUNTS)


def test_a_client_parameter_cannot_widen_the_statement(portals, shop):
    owner = portals["owner"]
    other = owner.get(f"/portal/reports/statement.csv?client={shop.noise.app_id}&period={today()}")
    assert other.status_code == 200 and shop.noise.app_id not in other.text and shop.app_id in other.text


@pytest.mark.parametrize("query, status", [("period=2026-13", 422), ("period=yesterday", 422),
                                           ("period=9999-12", 422), ("service=nosuchservice&period=2026-11", 404),
                                           ("service=%27%3B--&period=2026-11", 422)])
def test_bad_statement_choices_answer_4xx_pages(portals, query, status):
    owner = portals["owner"]
    assert owner.get("/portal/reports?" + query).status_code == status
    for path in ("/portal/reports/statement", "/portal/reports/statement.csv"):
        answer = owner.get(f"{path}?{query}")
        assert answer.status_code == status and "text/html" in answer.headers["content-type"], (path, query)


@pytest.mark.parametrize("role, allowed", [("owner", True), ("finance", True), ("developer", False),
                                           ("viewer", False)])
def test_only_owner_and_finance_get_reports(portals, role, allowed):
    portal = portals[role]
    for path in ("/portal/reports", f"/portal/reports?period={today()}", f"/portal/reports/statement?period={today()}",
                 f"/portal/reports/statement.csv?period={today()}"):
        assert portal.get(path).status_code == (200 if allowed else 403), (role, path)
    assert ('href="/portal/reports"' in portal.get("/portal").text) == allowed
