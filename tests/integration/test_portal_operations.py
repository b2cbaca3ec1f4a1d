"""The money-safety, security and operations parts of the portal: stuck queue and operator resolution,
webhook deliveries with a manual resend, circuit breakers and key metrics on the dashboard, security events."""

from __future__ import annotations

import re

import pytest

from mospay import accounts, catalogue, security, webhooks
from tests.integration.portal_support import site  # noqa: F401  (fixture)

HOOK = "http://127.0.0.1:9/hook"  # nothing listens on the discard port: every delivery attempt fails fast


@pytest.fixture
def shop(site):
    catalogue.create_service(site.db, {"name": "momo", "service_url": "http://127.0.0.1:9"})
    accounts.create_client(site.db, site.config.secret_key, {"app_id": "shop", "company_name": "Shop",
                                                               "callback_url": HOOK})
    site.db.run("""
        INSERT INTO transactions (client_id, service_id, route, f010, amount, msisdn, request, request_hash,
                                  status, stuck, check_attempts, created_at)
        SELECT c.id, s.id, 'collection', v.f010, 500, '+250788120004', '{"f008": "***"}', 'h-' || v.f010,
               v.status, v.stuck, CASE WHEN v.stuck THEN 28 ELSE 1 END, now() - interval '2 days'
          FROM clients c, services s,
               (VALUES ('lost-1', 'UNKNOWN', true), ('lost-2', 'PENDING', true), ('fresh', 'PENDING', false),
                       ('paid', 'RECEIVED', false)) AS v(f010, status, stuck)""")
    site.db.run("UPDATE transactions SET status = 'SUCCESSFUL', status_reason = 'provider' WHERE f010 = 'paid'")
    return site


def public_id(site, f010):
    return site.db.run("SELECT public_id FROM transactions WHERE f010 = :f", f=f010)[0]["public_id"]


def status_of(site, f010):
    return site.db.run("SELECT status FROM transactions WHERE f010 = :f", f=f010)[0]["status"]


def test_stuck_queue_on_the_dashboard_and_its_own_page(shop):
    viewer = shop.portal("watcher", "viewer")
    page = viewer.get("/admin/stuck")
    assert page.status_code == 200
    assert "lost-1" in page.text and "lost-2" in page.text and "fresh" not in page.text  # only the stuck ones
    assert "2 waiting for an operator" in page.text and "1 still being reconciled" in page.text
    dashboard = viewer.get("/admin").text
    stuck_panel = dashboard[dashboard.index('id="stuck"'):dashboard.index("Open: pending or unknown")]
    assert "lost-1" in stuck_panel and "fresh" not in stuck_panel and 'href="/admin/stuck"' in stuck_panel
    detail = viewer.get(f"/admin/transactions/{public_id(shop, 'lost-1')}").text
    assert "badge failed\">stuck" in detail and "after 28 status checks" in detail
    assert 'id="resolve-form"' not in detail  # a viewer reads only


def test_operator_resolves_a_stuck_transaction_with_a_reason(shop):
    ops = shop.portal("ops", "admin")
    txn = public_id(shop, "lost-1")
    assert 'id="resolve-form"' in ops.get(f"/admin/transactions/{txn}").text
    done = ops.post(f"/admin/transactions/{txn}/resolve", {"status": "FAILED", "reason": "payer never approved"})
    assert done.status_code == 303 and done.headers["location"] == f"/admin/transactions/{txn}"
    assert status_of(shop, "lost-1") == "FAILED"
    page = ops.get(done.headers["location"]).text
    assert "by ops" in page and "payer never approved" in page and 'id="resolve-form"' not in page
    assert "payment.failed" in page  # the final state queued the client's webhook
    history = shop.db.run("SELECT e.cause, e.note, u.username FROM transaction_events e JOIN users u "
                          "ON u.id = e.actor_user_id JOIN transactions t ON t.id = e.transaction_id "
                          "WHERE t.f010 = 'lost-1'")
    assert [(h["cause"], h["note"], h["username"]) for h in history] == [
        ("operator", "payer never approved", "ops")]
    audit = shop.db.run("SELECT username, target_id, before, after FROM audit_log WHERE action = 'transaction.resolve'")
    assert [(a["username"], a["target_id"], a["before"], a["after"]) for a in audit] == [
        ("ops", txn, {"status": "UNKNOWN"}, {"status": "FAILED", "reason": "payer never approved"})]
    assert "lost-1" not in ops.get("/admin/stuck").text
    assert "transaction.resolve" in ops.get("/admin/audit").text


def test_resolve_is_refused_cleanly_for_bad_input_roles_csrf_and_final_states(shop):
    txn = public_id(shop, "lost-2")
    viewer = shop.portal("watcher", "viewer")
    assert viewer.post(f"/admin/transactions/{txn}/resolve",
                       {"status": "FAILED", "reason": "not my call"}).status_code == 403
    ops = shop.portal("ops", "admin")
    no_token = ops.post(f"/admin/transactions/{txn}/resolve", {"status": "FAILED", "reason": "checked"}, csrf=False)
    assert no_token.status_code == 403 and "reload the page" in no_token.text
    cross_site = ops.post(f"/admin/transactions/{txn}/resolve", {"status": "FAILED", "reason": "checked"},
                          headers={"Origin": "https://evil.example"})
    assert cross_site.status_code == 403
    no_reason = ops.post(f"/admin/transactions/{txn}/resolve", {"status": "SUCCESSFUL", "reason": "  "})
    assert no_reason.status_code == 422 and "a reason of 3-500 characters is required" in no_reason.text
    assert 'id="resolve-form"' in no_reason.text  # the form again, the choice kept
    assert re.search(r"<option selected>SUCCESSFUL</option>", no_reason.text)
    not_final = ops.post(f"/admin/transactions/{txn}/resolve", {"status": "PENDING", "reason": "checked it"})
    assert not_final.status_code == 422 and "must be SUCCESSFUL or FAILED" in not_final.text
    for reason in ("nul\x00byte", "x" * 501):  # PostgreSQL refuses NUL in text: still a 422, not a 500
        assert ops.post(f"/admin/transactions/{txn}/resolve", {"status": "FAILED", "reason": reason}).status_code == 422
    assert status_of(shop, "lost-2") == "PENDING"
    paid = public_id(shop, "paid")
    refused = ops.post(f"/admin/transactions/{paid}/resolve", {"status": "FAILED", "reason": "customer says so"})
    assert refused.status_code == 409 and "already final" in refused.text
    assert status_of(shop, "paid") == "SUCCESSFUL"
    assert ops.post("/admin/transactions/txn_00/resolve", {"status": "FAILED", "reason": "xyz"}).status_code == 404
    assert ops.post("/admin/transactions/nope/resolve", {"status": "FAILED", "reason": "xyz"}).status_code == 404
    assert not shop.db.run("SELECT 1 FROM audit_log WHERE action = 'transaction.resolve'")


def test_webhook_attempts_are_shown_and_an_admin_can_resend(shop):
    assert webhooks.Deliverer(shop.db, shop.config.secret_key).deliver_due() == {"delivered": 0, "failed": 1}
    paid = public_id(shop, "paid")
    event = shop.db.run("SELECT event_id, next_attempt_at FROM webhook_events")[0]
    viewer = shop.portal("watcher", "viewer")
    page = viewer.get(f"/admin/transactions/{paid}").text
    webhooks_section = page[page.index('id="webhooks"'):]
    assert event["event_id"] in webhooks_section and HOOK in webhooks_section and "1 attempt" in webhooks_section
    assert "Resend" not in webhooks_section
    resend_url = f"/admin/transactions/{paid}/webhooks/{event['event_id']}/resend"
    assert viewer.post(resend_url).status_code == 403
    ops = shop.portal("ops", "admin")
    assert "Resend" in ops.get(f"/admin/transactions/{paid}").text
    assert ops.post(resend_url, csrf=False).status_code == 403
    done = ops.post(resend_url)
    assert done.status_code == 303 and done.headers["location"] == f"/admin/transactions/{paid}#webhooks"
    after = shop.db.run("SELECT state, next_attempt_at <= now() AS due FROM webhook_events")[0]
    assert after == {"state": "PENDING", "due": True}  # next_attempt_at was minutes away after the failure
    assert shop.db.run("SELECT after FROM audit_log WHERE action = 'webhook.resend'")[0]["after"] == {
        "event_id": event["event_id"]}
    other = public_id(shop, "lost-2")  # an event id under another transaction's URL is not found
    assert ops.post(f"/admin/transactions/{other}/webhooks/{event['event_id']}/resend").status_code == 404
    assert ops.post(f"/admin/transactions/{paid}/webhooks/evt_nope/resend").status_code == 404
    assert webhooks.Deliverer(shop.db, shop.config.secret_key).deliver_due() == {"delivered": 0, "failed": 1}
    assert "2 attempts" in ops.get(f"/admin/transactions/{paid}").text


def test_dashboard_shows_breaker_states_and_key_numbers(shop):
    catalogue.create_service(shop.db, {"name": "brokenpsp", "service_url": "http://127.0.0.1:9"})
    breakers = shop.parts.breakers  # this app's own: another app's are untouched
    tripped = breakers.get("brokenpsp")
    for _ in range(breakers.failures):
        tripped.record(transport_failure=True)
    shop.parts.metrics.observe_provider_call("brokenpsp", None, "timeout", 5000.0)
    page = shop.portal("watcher", "viewer").get("/admin", headers={"HX-Request": "true"}).text
    panel = page[page.index('id="breakers"'):page.index('id="metrics"')]
    assert re.search(r"brokenpsp</td><td><span class=\"badge failed\">open</span>", panel)
    assert re.search(r"momo</td><td><span class=\"badge successful\">closed</span>", panel)  # never called yet
    numbers = page[page.index('id="metrics"'):]
    assert "Requests</dt>" in numbers and "95% under" in numbers  # earlier requests of this process
    assert re.search(r"Provider errors</dt><dd>[1-9]\d* <small class=\"muted\">\([^)]*timeout [1-9]", numbers)
    assert "in use of 4" in numbers and "1 open, 2 stuck" in numbers


def test_security_events_list_filter_and_keyset_pages(site):
    for n in range(55):
        security.record_event(site.db, "auth_failure", ip=f"10.0.0.{n}", app_id="shop", username="shop_api",
                              endpoint="/api/v1/auth/token")
    security.record_event(site.db, "rate_limited", app_id="shop", endpoint="/api/v1/payment/process")
    assert site.portal().login("ghost", "wrong-password-1").status_code == 401  # the portal's own sign-in
    viewer = site.portal("watcher", "viewer")
    first = viewer.get("/admin/security")
    assert first.status_code == 200 and 'href="/admin/security"' in first.text  # in the nav
    assert first.text.count("<tr><td>") == 50
    assert "portal_login_failure" in first.text and "ghost" in first.text and "wrong-password-1" not in first.text
    next_url = re.search(r'href="(/admin/security\?after=[^"]+)"', first.text).group(1).replace("&amp;", "&")
    second = viewer.get(next_url.split("?")[0], query_string=next_url.split("?")[1])
    assert second.text.count("<tr><td>") == 7 and "← Newest" in second.text
    ips = lambda text: set(re.findall(r"10\.0\.0\.\d+", text))  # noqa: E731
    assert len(ips(first.text) | ips(second.text)) == 55 and not ips(first.text) & ips(second.text)
    limited = viewer.get("/admin/security", params={"kind": "rate_limited"}, headers={"HX-Request": "true"})
    assert limited.text.count("<tr><td>") == 1 and "<html" not in limited.text
    by_ip = viewer.get("/admin/security", params={"q": "10.0.0.7"})
    assert by_ip.text.count("<tr><td>") == 1
    bad = viewer.get("/admin/security", params={"kind": "DROP TABLE"})
    assert bad.status_code == 200 and "must be a kind" in bad.text
    bad_cursor = viewer.get("/admin/security", params={"after": "garbage"})
    assert bad_cursor.status_code == 200 and "not a valid page cursor" in bad_cursor.text
    assert viewer.get("/admin/security", params={"after": "2026-13-45T99:00:00+00:00_1"}).status_code == 200
