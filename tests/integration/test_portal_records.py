"""Dashboard, transactions (filters, keyset pages, detail, CSV), API logs, users and the audit trail."""

from __future__ import annotations

import csv
import io

import pytest

from mospay import accounts, catalogue
from tests.integration.portal_support import PASSWORD, site  # noqa: F401  (fixture)


@pytest.fixture
def data(site):
    catalogue.create_service(site.db, {"name": "mtnmomorwa", "service_url": "http://127.0.0.1:9"})
    accounts.create_client(site.db, site.config.secret_key, {"app_id": "akaliza", "company_name": "Akaliza"})
    site.db.run("""
        INSERT INTO transactions (client_id, service_id, route, f010, amount, msisdn, request, request_hash,
                                  status, created_at)
        SELECT c.id, s.id, 'collection', 'order-' || g, 100 + g, '+25078800' || lpad(g::text, 4, '0'),
               jsonb_build_object('f010', 'order-' || g, 'f007', '***', 'f008', '***'), 'h' || g,
               CASE WHEN g % 10 = 0 THEN 'PENDING' ELSE 'RECEIVED' END, now() - make_interval(mins => g)
          FROM clients c, services s, generate_series(1, 120) g""")
    site.db.run("UPDATE transactions SET status = 'SUCCESSFUL', provider_response = '{\"status\": \"SUCCESSFUL\"}' "
                "WHERE status = 'RECEIVED' AND f010 <> 'order-7'")
    site.db.run("""INSERT INTO api_logs (request_id, app_id, endpoint, method, status_code, duration_ms, request_body)
                   SELECT 'req' || g, 'akaliza', '/api/v1/payment/process', 'POST', CASE WHEN g = 3 THEN 422 ELSE 200 END,
                          12.5, '{"f008": "***"}' FROM generate_series(1, 5) g""")
    return site


def test_dashboard_totals_chart_and_panels(data):
    page = data.portal("ops", "viewer").get("/admin")
    assert page.status_code == 200
    assert "<svg" in page.text and 'class="bar successful"' in page.text and "<script>" not in page.text
    assert "order-10" in page.text  # PENDING: in the open-payments panel
    assert "/api/v1/payment/process" in page.text
    fragment = data.portal("ops2", "viewer").get("/admin", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="dashboard"')


def test_transactions_keyset_pages_do_not_overlap(data):
    portal = data.portal("ops", "viewer")
    first = portal.get("/admin/transactions")
    assert first.status_code == 200 and first.text.count('href="/admin/transactions/txn_') == 50
    import re
    next_url = re.search(r'href="(/admin/transactions\?after=[^"]+)"', first.text).group(1).replace("&amp;", "&")
    second = portal.get(next_url.split("?")[0], query_string=next_url.split("?")[1])
    ids1 = set(re.findall(r"txn_[0-9a-f]+", first.text))
    ids2 = set(re.findall(r"txn_[0-9a-f]+", second.text))
    assert len(ids2) == 50 and not ids1 & ids2


def test_transaction_filters(data):
    portal = data.portal("ops", "viewer")
    pending = portal.get("/admin/transactions", params={"status": "PENDING"}, headers={"HX-Request": "true"})
    assert pending.text.count("badge pending") == 12 and "<html" not in pending.text
    assert 'href="/admin/transactions.csv?status=PENDING"' in pending.text  # export follows the filter
    one = portal.get("/admin/transactions", params={"q": "order-7"})
    assert one.text.count('href="/admin/transactions/txn_') == 1
    phone = portal.get("/admin/transactions", params={"q": "250788000007"})
    assert phone.text.count('href="/admin/transactions/txn_') == 1
    none = portal.get("/admin/transactions", params={"client": "akaliza", "service": "mtnmomorwa", "from": "2001-01-01",
                                                     "to": "2001-01-02"})
    assert "No transactions match" in none.text
    assert "too far" in portal.get("/admin/transactions", params={"to": "9999-12-31"}).text
    bad = portal.get("/admin/transactions", params={"status": "NOPE", "from": "yesterday"})
    assert bad.status_code == 200 and "must be a date" in bad.text


def test_transaction_detail_shows_masked_request_and_history(data):
    public_id = data.db.run("SELECT public_id FROM transactions WHERE f010 = 'order-5'")[0]["public_id"]
    page = data.portal("ops", "viewer").get(f"/admin/transactions/{public_id}")
    assert page.status_code == 200 and "order-5" in page.text and "***" in page.text
    assert page.text.count('class="badge received"') >= 1 and "badge successful" in page.text


def test_csv_export_streams_the_current_filter(data):
    portal = data.portal("ops", "viewer")
    result = portal.get("/admin/transactions.csv")
    assert result.status_code == 200 and result.headers["content-type"].startswith("text/csv")
    assert "attachment" in result.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(result.text)))
    assert rows[0][0] == "public_id" and len(rows) == 121
    filtered = list(csv.reader(io.StringIO(portal.get("/admin/transactions.csv", params={"status": "PENDING"}).text)))
    assert len(filtered) == 13 and {r[7] for r in filtered[1:]} == {"PENDING"}
    assert portal.get("/admin/transactions.csv", params={"status": "bad"}).status_code == 422


def test_api_logs_list_filter_and_detail(data):
    portal = data.portal("ops", "viewer")
    page = portal.get("/admin/api-logs")
    assert page.text.count('href="/admin/api-logs/') == 5
    errors_only = portal.get("/admin/api-logs", params={"status": "4"})
    assert errors_only.text.count('href="/admin/api-logs/') == 1
    log_id = data.db.run("SELECT id FROM api_logs WHERE request_id = 'req3'")[0]["id"]
    detail = portal.get(f"/admin/api-logs/{log_id}")
    assert detail.status_code == 200 and "req3" in detail.text and "***" in detail.text


def test_users_create_deactivate_reset_and_not_yourself(site):
    root = site.portal("root", "super_admin")
    created = root.post("/admin/users", {"username": "newbie", "role": "viewer", "password": "temp-password-1"})
    assert created.status_code == 303
    newbie = site.portal()
    assert newbie.login("newbie", "temp-password-1").headers["location"] == "/admin/password"
    user_id = site.db.one("user_by_username", username="newbie")["id"]
    assert root.post(f"/admin/users/{user_id}/active", {"active": "0"}).status_code == 303
    assert newbie.get("/admin/password").status_code == 303  # the session ended with the deactivation
    assert site.portal().login("newbie", "temp-password-1").status_code == 401
    assert root.post(f"/admin/users/{user_id}/active", {"active": "1"}).status_code == 303
    assert root.post(f"/admin/users/{user_id}/password", {"password": "other-temp-2"}).status_code == 303
    assert site.portal().login("newbie", "other-temp-2").headers["location"] == "/admin/password"
    root_id = site.db.one("user_by_username", username="root")["id"]
    assert root.post(f"/admin/users/{root_id}/active", {"active": "0"}).status_code == 403
    assert site.portal("ops", "admin").post("/admin/users", {"username": "x", "password": PASSWORD}).status_code == 403
    nul = root.post(f"/admin/users/{user_id}/password", {"password": "bad\x00password"})
    assert nul.status_code == 422
    for path in ("/admin/audit", "/admin/transactions"):  # one cursor rule: the same words on every list
        bad_cursor = root.get(path, params={"after": "2026-13-45T99:00:00+00:00_1"})
        assert bad_cursor.status_code == 200 and "after: is not a valid page cursor" in bad_cursor.text, path
    dup = root.post("/admin/users", {"username": "newbie", "role": "viewer", "password": "temp-password-1"})
    assert dup.status_code == 422


def test_audit_trail_lists_changes_with_secrets_masked(site):
    root = site.portal("root", "super_admin")
    root.post("/admin/users", {"username": "newbie", "role": "viewer", "password": "temp-password-1"})
    user_id = site.db.one("user_by_username", username="newbie")["id"]
    root.post(f"/admin/users/{user_id}/password", {"password": "visible-temp-9"})
    page = root.get("/admin/audit")
    assert "user.create" in page.text and "user.reset_password" in page.text
    assert "visible-temp-9" not in page.text and "temp-password-1" not in page.text
    found = root.get("/admin/audit", params={"q": "reset"}, headers={"HX-Request": "true"})
    assert "user.reset_password" in found.text and "user.create" not in found.text
