"""Stored XSS and template injection: hostile text saved through every displayed field (portal forms,
a payment's f-fields, the API caller's User-Agent) renders escaped on every page that shows it, a
javascript: URL is never stored or emitted as a link, and the CSV export neutralises formulas."""

from __future__ import annotations

import base64
import csv
import io
import re

import pytest

from tests.integration.portal_support import site  # noqa: F401  (fixture)

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
TEXTAREA = "</textarea><script>alert(2)</script>"
TEMPLATE = "{{7*7}}zz"  # rendered by a template engine it would read 49zz
URL_BREAKOUT = 'https://cb.example/"><svg/onload=alert(3)>'  # a valid URL (no spaces) that leaves an attribute
PAYLOADS = (SCRIPT, IMG, TEXTAREA, URL_BREAKOUT, "<svg/onload=alert(3)>", "<img src=x onerror=alert(1)>")
JS_HREF = re.compile(r"""(href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.I)
CSV_FORMULAS = ("=1+1", "@SUM(A1)", "+1+1", "-1+1", "-cmd|' /C calc'!A0")


def assert_inert(page, label: str) -> None:
    assert page.status_code < 500, f"{label}: {page.status_code}"
    for payload in PAYLOADS:
        assert payload not in page.text, f"{label}: {payload!r} rendered unescaped"
    assert "49zz" not in page.text, f"{label}: template injection evaluated"
    assert not JS_HREF.search(page.text), f"{label}: a javascript: URL as a link"


@pytest.fixture
def stored(site, simulator):
    """Payloads in every displayed field, stored the way an operator or an API caller would."""
    portal = site.portal("root", "super_admin")
    ok = portal.post("/admin/services", {"name": "mtnmomorwa", "display_name": IMG, "service_url": simulator})
    assert ok.status_code == 303, ok.text[:300]
    field = {"code": "f011", "label": TEXTAREA, "pattern": SCRIPT, "field_type": "string"}
    assert portal.post("/admin/services/mtnmomorwa/fields", field).status_code == 303
    created = portal.post("/admin/clients", {"app_id": "xss1", "company_name": f"{SCRIPT} {TEMPLATE}",
                                             "contact_email": IMG, "callback_url": URL_BREAKOUT})
    assert created.status_code == 201, created.text[:300]
    secret = re.search(r'id="api-secret"[^>]*>([^<]+)<', created.text).group(1)
    username = re.search(r'id="api-username"[^>]*>([^<]+)<', created.text).group(1)
    assert portal.post("/admin/clients/xss1/services", {"service": "mtnmomorwa", "routes": "collection"}).status_code == 303
    # A payment through the API with hostile free-text f-fields, from a hostile User-Agent.
    api = portal.client
    basic = base64.b64encode(f"{username}:{secret}".encode()).decode()
    token = api.simulate_post("/api/v1/auth/token", headers={"Authorization": f"Basic {basic}", "App-ID": "xss1"})
    assert token.status_code == 200, token.text
    body = {"f000": "mtnmomorwa", "f001": "collection", "f002": "collection", "f003": "xss1", "f004": "1000.00",
            "f005": "+250788123456", "f006": SCRIPT, "f007": "enc-x", "f008": "pwd-x", "f009": IMG, "f010": "-2-3"}
    paid = api.simulate_post("/api/v1/payment/process", json=body,
                             headers={"Authorization": f"Bearer {token.json['access_token']}",
                                      "User-Agent": SCRIPT + IMG})
    assert paid.status_code < 500 and paid.status_code != 422, paid.text
    site.public_id = site.db.run("SELECT public_id FROM transactions")[0]["public_id"]
    site.log_id = site.db.run("SELECT id FROM api_logs WHERE user_agent IS NOT NULL ORDER BY id DESC LIMIT 1")[0]["id"]
    return portal


def test_stored_payloads_render_escaped_on_every_page(site, stored):
    pages = ["/admin", "/admin/clients", "/admin/clients?q=script", "/admin/clients/xss1", "/admin/clients/xss1/edit",
             "/admin/services", "/admin/services/mtnmomorwa", "/admin/services/mtnmomorwa?edit=f011",
             "/admin/transactions", f"/admin/transactions/{site.public_id}", "/admin/transactions?q=-2-3",
             "/admin/api-logs", f"/admin/api-logs/{site.log_id}", "/admin/audit", "/admin/functions"]
    for path in pages:
        assert_inert(stored.get(path), path)
        assert_inert(stored.get(path, headers={"HX-Request": "true"}), path + " (fragment)")
    # The payloads are shown (escaped), so the checks above looked at pages that really display them.
    client_page = stored.get("/admin/clients/xss1").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client_page and "{{7*7}}zz" in client_page
    assert "&lt;/textarea&gt;" in stored.get("/admin/services/mtnmomorwa?edit=f011").text
    detail = stored.get(f"/admin/transactions/{site.public_id}").text
    assert "&lt;script&gt;" in detail and "onerror=alert(1)&gt;" in detail
    assert "&lt;script&gt;" in stored.get(f"/admin/api-logs/{site.log_id}").text


def test_forms_echoing_hostile_input_escape_it(site, stored):
    """A refused form comes back filled in with what was typed: escaped as well."""
    echoes = [("/admin/clients", {"company_name": SCRIPT, "contact_email": IMG, "callback_url": "javascript:alert(1)"}),
              ("/admin/clients/xss1", {"company_name": TEXTAREA, "callback_url": "javascript:alert(1)"}),
              ("/admin/services", {"name": "ok", "display_name": IMG, "service_url": "javascript:alert(1)"}),
              ("/admin/services/mtnmomorwa/fields", {"code": "f012", "label": TEXTAREA, "pattern": "(" + SCRIPT}),
              ("/admin/users", {"username": SCRIPT, "password": "a-good-password", "role": "viewer"}),
              ("/admin/clients/xss1/services", {"service": IMG, "routes": SCRIPT})]
    for path, data in echoes:
        page = stored.post(path, data)
        assert 400 <= page.status_code < 500, f"{path}: {page.status_code}"
        assert_inert(page, f"POST {path}")
    signin = site.portal().post("/admin/login", {"username": SCRIPT + TEMPLATE, "password": "whatever-1"})
    assert signin.status_code == 401
    assert_inert(signin, "sign-in form")


def test_javascript_urls_are_refused_in_every_url_field(site, stored):
    count = site.db.run("SELECT count(*) AS n FROM clients")[0]["n"]
    for url in ("javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "data:text/html,<script>",
                "vbscript:msgbox(1)", "//evil.example/x"):
        assert stored.post("/admin/clients", {"company_name": "Shop", "callback_url": url}).status_code == 422, url
        assert stored.post("/admin/clients/xss1", {"company_name": "Shop", "callback_url": url}).status_code == 422, url
        assert stored.post("/admin/services/mtnmomorwa", {"display_name": "M", "service_url": url}).status_code == 422, url
    assert site.db.run("SELECT count(*) AS n FROM clients")[0]["n"] == count
    assert not site.db.run("SELECT 1 FROM clients WHERE callback_url ILIKE '%script:%' "
                           "UNION ALL SELECT 1 FROM services WHERE service_url ILIKE '%script:%'")


def test_csv_export_neutralises_formulas_and_keeps_numbers(site, stored):
    client_id = site.db.run("SELECT id FROM clients WHERE app_id = 'xss1'")[0]["id"]
    service_id = site.db.run("SELECT id FROM services")[0]["id"]
    for n, text in enumerate(CSV_FORMULAS):  # f010 allows only [A-Za-z0-9_.:-]: write the others directly
        site.db.run("INSERT INTO transactions (client_id, service_id, route, f010, amount, msisdn, request, "
                    "request_hash, status) VALUES (:c, :s, 'collection', :f, 100, '+250788000001', '{}', :h, 'PENDING')",
                    c=client_id, s=service_id, f=text, h=f"h{n}")
    export = stored.get("/admin/transactions.csv")
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.text)))
    cells = [cell for row in rows for cell in row.values()]
    for cell in cells:  # no cell a spreadsheet would run as a formula
        assert not cell[:1] in ("=", "@", "+", "-") or re.fullmatch(r"[+-][0-9]+(\.[0-9]+)?", cell), cell
    f010s = {row["f010"] for row in rows}
    assert {"'" + text for text in (*CSV_FORMULAS, "-2-3")} <= f010s, f010s  # -2-3: the API payment
    assert {row["msisdn"] for row in rows} >= {"+250788000001", "+250788123456"}  # numbers stay numbers
    for payload in (SCRIPT,):  # the CSV is text/csv, never HTML; the f-fields it has are plain text
        assert export.headers["content-type"].startswith("text/csv") and payload not in export.text
