"""Merchant portal pages for keys, webhooks, transactions and API logs (TestClient): every page and action,
the role matrix, CSRF, another client's ids answering 404, and every change audited with the merchant."""

from __future__ import annotations

import base64
import csv
import io
import json
from decimal import Decimal

import pytest

from mospay import webhooks
from tests.integration.merchant_support import MerchantPortal, merchant_client, merchant_portal, merchant_user
from tests.integration.portal_support import site  # noqa: F401 (the fixture)
from tests.integration.test_webhook_log import Endpoint


def _token(site, creds, secret=None, source="127.0.0.1"):
    raw = base64.b64encode(f"{creds['api_username']}:{secret or creds['api_secret']}".encode()).decode()
    return MerchantPortal(site.app).client.simulate_post(
        "/api/v1/auth/token", headers={"Authorization": f"Basic {raw}", "App-ID": creds["app_id"]},
        remote_addr=source).status_code


def _audit(site, action):
    return site.db.run("SELECT username, client_app_id, target_id, after FROM audit_log WHERE action = :a "
                       "ORDER BY id", a=action)


def _seed(site, app_id, first, last):
    if not site.db.run("SELECT 1 FROM services WHERE name = 'momo'"):
        site.db.run("INSERT INTO services (name, display_name, service_url) VALUES ('momo', 'MoMo', 'http://127.0.0.1:9')")
    ids = site.db.run("SELECT c.id AS client_id, s.id AS service_id FROM clients c, services s "
                      "WHERE c.app_id = :a AND s.name = 'momo'", a=app_id)[0]
    site.db.query("seed_transactions", first=first, last=last, **ids)
    return ids["client_id"]


def test_keys_page_shows_last_use_and_rolls_the_secret_with_an_overlap(site):
    alpha = merchant_client(site, "alpha")
    dev = merchant_portal(site, "alpha", "developer")
    page = dev.get("/portal/keys")
    assert page.status_code == 200 and alpha["api_username"] in page.text and 'id="last-used">never' in page.text
    assert _token(site, alpha, source="127.0.0.42") == 200
    assert "127.0.0.42" in dev.get("/portal/keys").text
    rolled = dev.post("/portal/keys", {"overlap_s": "86400"})
    assert rolled.status_code == 200 and "no-store" in rolled.headers["cache-control"]
    secret = rolled.text.split('id="api-secret" class="secret">')[1].split("<")[0]
    assert secret.startswith("sk_") and secret != alpha["api_secret"]
    assert _token(site, alpha) == 200 and _token(site, alpha, secret) == 200  # both, during the overlap
    assert secret not in dev.get("/portal/keys").text and "overlap</span>" in dev.get("/portal/keys").text
    row = _audit(site, "client.rotate_credentials")[-1]
    assert row["username"] == f"merchant:{dev.me['email']}" and row["client_app_id"] == "alpha"
    assert secret not in json.dumps(row, default=str)
    # A hostile overlap: a 422 page, nothing rolled (the control above rolled once).
    for bad in ("604801", "-5", "1.5", "x" * 3000, ""):
        assert dev.post("/portal/keys", {"overlap_s": bad}).status_code == 422, bad
    assert len(_audit(site, "client.rotate_credentials")) == 1
    # No overlap: the old secrets stop at once.
    dev.post("/portal/keys", {"overlap_s": "0"})
    assert _token(site, alpha) == 401 and _token(site, alpha, secret) == 401


def test_webhooks_page_sends_a_test_event_shows_the_log_resends_and_rotates(site):
    endpoint = Endpoint([(503, b"not now <script>alert(1)</script>")])
    try:
        merchant_client(site, "alpha")
        site.db.run("UPDATE clients SET callback_url = :u WHERE app_id = 'alpha'", u=endpoint.url)
        dev = merchant_portal(site, "alpha", "developer")
        page = dev.get("/portal/webhooks")
        assert page.status_code == 200 and endpoint.url in page.text and "No webhook event" in page.text
        sent = dev.post("/portal/webhooks/test")
        assert sent.status_code == 303 and sent.headers["location"] == "/portal/webhooks?sent=1"
        event_id = site.db.run("SELECT event_id FROM webhook_events")[0]["event_id"]
        webhooks.Deliverer(site.db, site.config.secret_key).deliver_due()
        log = dev.get("/portal/webhooks")
        assert event_id in log.text and "not now" in log.text and "HTTP 503" in log.text
        assert "<script>alert(1)" not in log.text and "&lt;script&gt;alert(1)" in log.text  # the answer is text
        fragment = dev.get("/portal/webhooks", headers={"HX-Request": "true"})
        assert event_id in fragment.text and "<html" not in fragment.text and "HX-Request" in fragment.headers["vary"]
        site.db.run("UPDATE webhook_events SET state = 'GAVE_UP'")
        assert dev.post(f"/portal/webhooks/{event_id}/resend").status_code == 303
        assert site.db.run("SELECT state FROM webhook_events")[0]["state"] == "PENDING"
        rotated = dev.post("/portal/webhooks/secret", {"overlap_s": "3600"})
        assert rotated.status_code == 200 and 'id="webhook-secret"' in rotated.text
        assert dev.post("/portal/webhooks/secret", {"overlap_s": "nope"}).status_code == 422
        for action in ("webhook.test", "webhook.resend", "client.rotate_webhook_secret"):
            assert [r["client_app_id"] for r in _audit(site, action)] == ["alpha"], action
    finally:
        endpoint.close()


def test_transactions_page_totals_csv_and_detail_are_the_clients_own(site):
    merchant_client(site, "alpha"), merchant_client(site, "beta")
    _seed(site, "alpha", 1, 120), _seed(site, "beta", 1000, 1040)
    fin = merchant_portal(site, "alpha", "finance")
    page = fin.get("/portal/transactions")
    assert page.status_code == 200 and "big-1000" not in page.text and 'id="totals"' in page.text
    assert ">120</strong>" in page.text and "Older" in page.text
    exported = fin.get("/portal/transactions.csv")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 120 and {r["app_id"] for r in rows} == {"alpha"}
    total = sum(Decimal(r["amount"]) for r in rows)
    assert f"{total:,.2f}" in page.text  # the page's total is the CSV's
    failed = fin.get("/portal/transactions", params={"status": "FAILED", "client": "beta"}, headers={"HX-Request": "true"})
    assert "<html" not in failed.text and ">12</strong>" in failed.text  # ?client= is not the merchant's to set
    assert len(list(csv.DictReader(io.StringIO(fin.get("/portal/transactions.csv",
                                                       params={"status": "FAILED"}).text)))) == 12
    assert "status: must be one of" in fin.get("/portal/transactions", params={"status": "DONE"}).text
    mine = site.db.run("SELECT public_id FROM transactions t JOIN clients c ON c.id = t.client_id "
                       "WHERE c.app_id = 'alpha' LIMIT 1")[0]["public_id"]
    detail = fin.get(f"/portal/transactions/{mine}")
    assert detail.status_code == 200 and mine in detail.text and "secrets masked" in detail.text


def test_another_clients_ids_are_not_found_and_nothing_changes(site):
    merchant_client(site, "alpha"), merchant_client(site, "beta")
    beta_id = _seed(site, "beta", 1, 3)
    theirs = site.db.run("SELECT public_id FROM transactions WHERE client_id = :c LIMIT 1", c=beta_id)[0]["public_id"]
    event = webhooks.send_test_event(site.db, beta_id)["event_id"]
    site.db.run("UPDATE webhook_events SET state = 'DELIVERED'")
    log_id = site.db.run("INSERT INTO api_logs (client_id, app_id, endpoint, method, status_code) "
                         "VALUES (:c, 'beta', '/api/v1/auth/token', 'POST', 200) RETURNING id", c=beta_id)[0]["id"]
    owner = merchant_portal(site, "alpha", "owner")
    assert owner.get("/portal/api-logs").status_code == 200  # control: the pages answer for alpha
    for path in (f"/portal/transactions/{theirs}", f"/portal/api-logs/{log_id}",
                 f"/portal/transactions/{theirs}/webhooks/{event}/resend", f"/portal/webhooks/{event}/resend"):
        got = owner.get(path)
        assert got.status_code == 404 and theirs not in got.text, path
    for path in (f"/portal/webhooks/{event}/resend", f"/portal/transactions/{theirs}/webhooks/{event}/resend"):
        assert owner.post(path).status_code == 404, path
    assert site.db.run("SELECT state FROM webhook_events")[0]["state"] == "DELIVERED"
    assert "beta" not in owner.get("/portal/api-logs").text and event not in owner.get("/portal/webhooks").text
    assert _audit(site, "webhook.resend") == []


PAGES = {  # (method, path) -> the roles that may
    ("GET", "/portal/transactions"): {"owner", "developer", "finance", "viewer"},
    ("GET", "/portal/transactions.csv"): {"owner", "finance"},
    ("GET", "/portal/api-logs"): {"owner", "developer"},
    ("GET", "/portal/keys"): {"owner", "developer"},
    ("POST", "/portal/keys"): {"owner", "developer"},
    ("GET", "/portal/webhooks"): {"owner", "developer"},
    ("POST", "/portal/webhooks/test"): {"owner", "developer"},
    ("POST", "/portal/webhooks/secret"): {"owner", "developer"},
}


@pytest.mark.parametrize("role", ["owner", "developer", "finance", "viewer"])
def test_the_role_matrix(site, role):
    merchant_client(site, "alpha")
    portal = merchant_portal(site, "alpha", role)
    for (method, path), roles in PAGES.items():
        got = portal.get(path) if method == "GET" else portal.post(path, {"overlap_s": "0"})
        if role in roles:
            assert got.status_code in (200, 303), (role, method, path, got.status_code)
        else:
            assert got.status_code == 403 and "your role does not allow this" in got.text, (role, method, path)
    rolls = len(_audit(site, "client.rotate_credentials"))
    assert rolls == (1 if role in PAGES[("POST", "/portal/keys")] else 0)


def test_writes_need_the_csrf_token_and_the_same_origin(site):
    alpha = merchant_client(site, "alpha")
    dev = merchant_portal(site, "alpha", "developer")
    assert dev.post("/portal/keys", {"overlap_s": "0", "csrf_token": "forged"}).status_code == 403
    assert dev.post("/portal/webhooks/test", {"csrf_token": "forged"}).status_code == 403
    assert dev.post("/portal/keys", {"overlap_s": "0"}, headers={"Origin": "https://evil.example"}).status_code == 403
    assert dev.post("/portal/keys", {"overlap_s": "0"}, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert _token(site, alpha) == 200 and site.db.run("SELECT count(*) AS n FROM webhook_events")[0]["n"] == 0
    assert dev.post("/portal/webhooks/test").status_code == 303  # control: the real form is accepted
    # Signed out: the pages send to the sign-in form, and a write changes nothing.
    other = MerchantPortal(site.app)
    assert other.get("/portal/keys").status_code == 303 and other.post("/portal/keys").status_code in (303, 403)
    merchant_user(site, "alpha", "viewer")
    assert _token(site, alpha) == 200


def test_hostile_ids_filters_and_forms_get_an_html_4xx_never_a_500(site):
    merchant_client(site, "alpha")
    owner = merchant_portal(site, "alpha", "owner")
    assert owner.get("/portal/transactions", params={"status": "FAILED"}).status_code == 200  # control
    odd = ["x" * 5000, "txn_" + "f" * 70, "%00", "'; DROP TABLE clients; --", "évt", "1" * 30, "-1", "²"]
    for value in odd:
        for path in (f"/portal/transactions/{value}", f"/portal/api-logs/{value}"):
            got = owner.get(path)
            assert got.status_code == 404 and "text/html" in got.headers["content-type"], path
        for path in (f"/portal/webhooks/{value}/resend", f"/portal/transactions/txn_1/webhooks/{value}/resend"):
            assert owner.post(path).status_code == 404, path
        for key in ("status", "from", "to", "q", "after", "service"):
            got = owner.get("/portal/transactions", params={key: value})
            assert got.status_code == 200 and ('role="alert"' in got.text or "No transactions match" in got.text)
            assert owner.get("/portal/transactions.csv", params={key: value}).status_code in (200, 422), (key, value)
        assert owner.get("/portal/api-logs", params={"status": value}).status_code == 200
        assert owner.get("/portal/webhooks", params={"after": value}).status_code == 200
        assert owner.post("/portal/keys", {"overlap_s": value}).status_code == 422
    assert _audit(site, "client.rotate_credentials") == []
