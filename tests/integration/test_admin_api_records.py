"""Admin API for records: transaction filters, keyset pages walked to the end, the CSV export (equal to
the list, streamed in keyset batches), the detail with history and webhooks, the operator's resolution,
webhook resends, API logs, security events and the audit trail; roles and 404s."""

from __future__ import annotations

import base64
import csv
import io

import pytest

from mospay import accounts, catalogue, reports, webhooks
from tests.integration.portal_support import PASSWORD, site  # noqa: F401  (fixture)

BASE = "/api/v1/admin"
HOOK = "http://127.0.0.1:9/hook"  # nothing listens on the discard port: a delivery attempt fails fast


class Api:
    """Bearer calls as one admin user of a given role."""

    def __init__(self, site, username: str, role: str):
        site.user(username, role)
        self.client = site.portal().client
        raw = base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()
        token = self.client.simulate_post(f"{BASE}/token", headers={"Authorization": f"Basic {raw}"})
        assert token.status_code == 200, token.text
        self.headers = {"Authorization": f"Bearer {token.json['access_token']}"}

    def get(self, path, **params):
        return self.client.simulate_get(BASE + path, params=params or None, headers=self.headers)

    def post(self, path, json=None):
        return self.client.simulate_post(BASE + path, json=json if json is not None else {}, headers=self.headers)

    def walk(self, path, **params) -> list[dict]:
        """Every item of a list, page by page; bounded by the number of rows there can be."""
        items, after = [], None
        for _ in range(200):
            page = self.get(path, **params, **({"after": after} if after else {}))
            assert page.status_code == 200, page.text
            items += page.json["items"]
            after = page.json["next"]
            if after is None:
                return items
        raise AssertionError("the pages never ended")


@pytest.fixture
def data(site):
    """Two clients; 60 transactions of akaliza (every 10th PENDING, the rest SUCCESSFUL but order-7
    RECEIVED), a stuck UNKNOWN and a stuck PENDING of shop, one of shop with a formula-like f010."""
    catalogue.create_service(site.db, {"name": "mtnmomorwa", "service_url": "http://127.0.0.1:9"})
    catalogue.create_service(site.db, {"name": "airtel", "service_url": "http://127.0.0.1:9"})
    accounts.create_client(site.db, site.config.secret_key, {"app_id": "akaliza", "company_name": "Akaliza"})
    accounts.create_client(site.db, site.config.secret_key, {"app_id": "shop", "company_name": "Shop",
                                                               "callback_url": HOOK})
    site.db.run("""
        INSERT INTO transactions (client_id, service_id, route, f010, amount, msisdn, request, request_hash,
                                  status, created_at)
        SELECT c.id, s.id, 'collection', 'order-' || g, 100 + g, '+25078800' || lpad(g::text, 4, '0'),
               jsonb_build_object('f010', 'order-' || g, 'f007', '***', 'f008', '***'), 'h' || g,
               CASE WHEN g % 10 = 0 THEN 'PENDING' ELSE 'RECEIVED' END,
               now() - make_interval(mins => g % 30)  -- equal times: the id breaks the tie
          FROM clients c, services s, generate_series(1, 60) g
         WHERE c.app_id = 'akaliza' AND s.name = 'mtnmomorwa'""")
    site.db.run("UPDATE transactions SET status = 'SUCCESSFUL' WHERE status = 'RECEIVED' AND f010 <> 'order-7'")
    site.db.run("""
        INSERT INTO transactions (client_id, service_id, route, f010, amount, msisdn, request, request_hash,
                                  status, stuck, check_attempts, created_at)
        SELECT c.id, s.id, 'collection', v.f010, 500, '+250788120004', '{"f008": "***"}', 'h-' || v.f010,
               v.status, v.stuck, 3, now() - interval '2 days'
          FROM clients c, services s,
               (VALUES ('lost-1', 'UNKNOWN', true), ('lost-2', 'PENDING', true), ('-2+3', 'RECEIVED', false))
                 AS v(f010, status, stuck)
         WHERE c.app_id = 'shop' AND s.name = 'airtel'""")
    site.db.run("UPDATE transactions SET status = 'SUCCESSFUL' WHERE f010 = '-2+3'")  # queues shop's webhook
    return site


def txn(site, f010: str) -> str:
    return site.db.run("SELECT public_id FROM transactions WHERE f010 = :f", f=f010)[0]["public_id"]


def f010s(items) -> set:
    return {i["f010"] for i in items}


def test_transaction_filters_each_narrow_the_list(data):
    api = Api(data, "watcher", "viewer")
    everything = api.get("/transactions", limit="200")
    assert everything.status_code == 200 and len(everything.json["items"]) == 63  # the control
    assert everything.json["next"] is None
    assert len(api.get("/transactions", status="PENDING").json["items"]) == 7  # 6 of akaliza's + lost-2
    assert f010s(api.get("/transactions", client="shop").json["items"]) == {"lost-1", "lost-2", "-2+3"}
    assert len(api.get("/transactions", service="airtel").json["items"]) == 3
    assert f010s(api.get("/transactions", f010="order-7").json["items"]) == {"order-7"}
    assert f010s(api.get("/transactions", msisdn="+250788000012").json["items"]) == {"order-12"}
    assert f010s(api.get("/transactions", msisdn="250788000012").json["items"]) == {"order-12"}
    assert f010s(api.get("/transactions", q="order-9").json["items"]) == {"order-9"}
    assert f010s(api.get("/transactions", stuck="true").json["items"]) == {"lost-1", "lost-2"}
    assert len(api.get("/transactions", stuck="false", limit="200").json["items"]) == 61
    assert api.get("/transactions", client="shop", status="PENDING", stuck="true").json["items"][0]["f010"] == "lost-2"
    assert api.get("/transactions", **{"from": "2001-01-01", "to": "2001-01-02"}).json["items"] == []
    row = api.get("/transactions", f010="order-7").json["items"][0]
    assert row["transaction_id"].startswith("txn_") and "id" not in row and "request" not in row
    assert row["amount"] == "107.00" and row["status"] == "RECEIVED" and row["app_id"] == "akaliza"
    for bad in ({"status": "NOPE"}, {"stuck": "yes"}, {"limit": "0"}, {"limit": "201"}, {"limit": "ten"},
                {"from": "yesterday"}, {"msisdn": "12ab"}, {"f010": "a b"}, {"after": "not-a-cursor"},
                {"client": "bad app id"}, {"satus": "PENDING"}):
        refused = api.get("/transactions", **bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json["error"]["field"] == next(iter(bad)), bad
    assert api.get("/transactions", satus="PENDING").json["error"]["code"] == "unknown_field"
    for query in ("status=", "stuck=", "limit=", "client=%20", "status=PENDING&status=FAILED"):
        refused = api.client.simulate_get(f"{BASE}/transactions", query_string=query, headers=api.headers)
        assert refused.status_code == 422 and refused.json["error"]["field"] == query.split("=")[0], query


def test_pages_walk_every_row_exactly_once_in_keyset_order(data):
    api = Api(data, "watcher", "viewer")
    walked = api.walk("/transactions", limit="7")  # 63 rows: nine full pages, the last one without next
    expected = data.db.run("SELECT public_id FROM transactions ORDER BY created_at DESC, id DESC")
    assert [i["transaction_id"] for i in walked] == [r["public_id"] for r in expected]
    pending = api.walk("/transactions", status="PENDING", limit="2")
    assert len(pending) == 7 and {i["status"] for i in pending} == {"PENDING"}
    first = api.get("/transactions", limit="62").json
    last = api.get("/transactions", limit="62", after=first["next"]).json
    assert len(last["items"]) == 1 and last["next"] is None


def test_csv_export_equals_the_list_and_neutralises_formulas(data):
    api = Api(data, "watcher", "viewer")
    for params in ({}, {"client": "shop"}, {"status": "SUCCESSFUL", "service": "mtnmomorwa"}, {"stuck": "true"}):
        result = api.get("/transactions.csv", **params)
        assert result.status_code == 200 and result.headers["content-type"].startswith("text/csv")
        assert "attachment" in result.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(result.text)))
        assert tuple(rows[0]) == reports.CSV_COLUMNS
        listed = api.walk("/transactions", **params, limit="50")
        assert [r[0] for r in rows[1:]] == [i["transaction_id"] for i in listed], params
    shop = list(csv.reader(io.StringIO(api.get("/transactions.csv", client="shop").text)))
    assert "'-2+3" in {r[6] for r in shop}  # a spreadsheet would compute -2+3
    assert "+250788120004" in {r[10] for r in shop}  # a plain number stays as it is
    refused = api.get("/transactions.csv", status="bad")
    assert refused.status_code == 422 and refused.json["error"]["field"] == "status"
    assert api.get("/transactions.csv", after="x").status_code == 422  # an export has no pages


def test_csv_export_reads_in_keyset_batches_not_all_at_once(data, monkeypatch):
    """Each query of the export asks for one batch after the previous batch's last row."""
    monkeypatch.setattr(reports, "CSV_BATCH", 10)
    calls = []
    query = data.db.query

    def counting(name, /, **params):
        if name == "transactions_page":
            calls.append((params["limit"], params["after_id"]))
        return query(name, **params)
    monkeypatch.setattr(data.db, "query", counting)
    api = Api(data, "watcher", "viewer")
    rows = list(csv.reader(io.StringIO(api.get("/transactions.csv").text)))
    assert len(rows) == 64
    assert [limit for limit, _ in calls] == [10] * 7  # 63 rows: six full batches and a short one
    assert calls[0][1] is None and all(after is not None for _, after in calls[1:])


def test_transaction_detail_has_history_and_webhook_deliveries(data):
    assert webhooks.Deliverer(data.db, data.config.secret_key).deliver_due() == {"delivered": 0, "failed": 1}
    # Hand-inserted in clear (MosPay stores it masked): still masked on the way out.
    data.db.run("""UPDATE transactions SET request = '{"f008": "hunter2-in-clear", "f010": "-2+3"}'
                   WHERE f010 = '-2+3'""")
    api = Api(data, "watcher", "viewer")
    paid = api.get(f"/transactions/{txn(data, '-2+3')}")
    assert paid.status_code == 200, paid.text
    body = paid.json
    assert body["transaction_id"] == txn(data, "-2+3") and body["f010"] == "-2+3" and "id" not in body
    assert body["request"] == {"f008": "***", "f010": "-2+3"} and "hunter2" not in paid.text
    assert [(e["from"], e["to"], e["actor"]) for e in body["events"]][-1] == ("RECEIVED", "SUCCESSFUL", None)
    assert set(body["events"][-1]) == {"from", "to", "cause", "actor", "note", "at"}
    [event] = body["webhook_events"]
    assert event["event_id"].startswith("evt_") and event["state"] == "PENDING" and event["attempts"] == 1
    assert [a["url"] for a in event["attempts_made"]] == [HOOK]
    for missing in ("txn_00", "nope", "txn_" + "f" * 65):
        gone = api.get(f"/transactions/{missing}")
        assert gone.status_code == 404 and gone.json["error"]["code"] in ("not_found", "transaction_not_found")


def test_resolve_settles_an_open_transaction_with_history_and_audit(data):
    lost = txn(data, "lost-1")
    ops = Api(data, "ops", "admin")
    done = ops.post(f"/transactions/{lost}/resolve", {"status": "FAILED", "reason": "  payer never approved "})
    assert done.status_code == 200, done.text
    assert done.json["status"] == "FAILED" and done.json["transaction_id"] == lost
    last = done.json["events"][-1]
    assert (last["from"], last["to"], last["cause"], last["actor"], last["note"]) == (
        "UNKNOWN", "FAILED", "operator", "ops", "payer never approved")
    assert [w["event_type"] for w in done.json["webhook_events"]] == ["payment.failed"]
    audit = data.db.run("SELECT username, target_id, before, after FROM audit_log WHERE action = 'transaction.resolve'")
    assert [(a["username"], a["target_id"], a["before"], a["after"]) for a in audit] == [
        ("ops", lost, {"status": "UNKNOWN"}, {"status": "FAILED", "reason": "payer never approved"})]
    assert f010s(ops.get("/transactions", stuck="true").json["items"]) == {"lost-2"}  # off the queue
    again = ops.post(f"/transactions/{lost}/resolve", {"status": "SUCCESSFUL", "reason": "changed my mind"})
    assert again.status_code == 409 and again.json["error"]["code"] == "already_final"
    assert len(data.db.run("SELECT 1 FROM audit_log WHERE action = 'transaction.resolve'")) == 1


def test_resolve_refuses_bad_input_final_ones_viewers_and_unknown_ids(data):
    lost = txn(data, "lost-2")
    ops = Api(data, "ops", "admin")
    viewer = Api(data, "watcher", "viewer")
    refused = viewer.post(f"/transactions/{lost}/resolve", {"status": "FAILED", "reason": "not my call"})
    assert refused.status_code == 403 and refused.json["error"]["code"] == "insufficient_role"
    for body, field in (({"status": "PENDING", "reason": "checked it"}, "status"),
                        ({"status": "FAILED", "reason": "  "}, "reason"),
                        ({"status": "FAILED"}, "reason"),
                        ({"status": "FAILED", "reason": 42}, "reason"),
                        ({"status": "FAILED", "reason": "x" * 501}, "reason"),
                        ({"status": "FAILED", "reason": "checked", "note": "extra"}, "note")):
        bad = ops.post(f"/transactions/{lost}/resolve", body)
        assert bad.status_code == 422 and bad.json["error"]["field"] == field, (body, bad.text)
    paid = ops.post(f"/transactions/{txn(data, 'order-1')}/resolve", {"status": "FAILED", "reason": "customer says so"})
    assert paid.status_code == 409
    assert ops.post("/transactions/txn_00/resolve", {"status": "FAILED", "reason": "xyz"}).status_code == 404
    assert ops.post("/transactions/nope/resolve", {"status": "FAILED", "reason": "xyz"}).status_code == 404
    assert data.db.run("SELECT status FROM transactions WHERE f010 = 'lost-2'")[0]["status"] == "PENDING"
    assert not data.db.run("SELECT 1 FROM audit_log WHERE action = 'transaction.resolve'")
    no_token = data.portal().client.simulate_post(f"{BASE}/transactions/{lost}/resolve",
                                                   json={"status": "FAILED", "reason": "xyz"})
    assert no_token.status_code == 401


def test_webhook_resend_queues_the_same_event_again_and_is_audited(data):
    assert webhooks.Deliverer(data.db, data.config.secret_key).deliver_due() == {"delivered": 0, "failed": 1}
    event_id = data.db.run("SELECT event_id FROM webhook_events")[0]["event_id"]
    assert Api(data, "watcher", "viewer").post(f"/webhook-events/{event_id}/resend").status_code == 403
    ops = Api(data, "ops", "admin")
    done = ops.post(f"/webhook-events/{event_id}/resend")
    assert done.status_code == 200, done.text
    assert done.json["event_id"] == event_id and done.json["state"] == "PENDING"
    assert done.json["transaction_id"] == txn(data, "-2+3")
    assert data.db.run("SELECT next_attempt_at <= now() AS due FROM webhook_events")[0]["due"]
    audit = data.db.run("SELECT username, target_id, after FROM audit_log WHERE action = 'webhook.resend'")
    assert [(a["username"], a["target_id"], a["after"]) for a in audit] == [
        ("ops", txn(data, "-2+3"), {"event_id": event_id})]
    for missing in ("evt_nope", "evt%00x", "x" * 65):
        assert ops.post(f"/webhook-events/{missing}/resend").status_code == 404, missing
    assert len(data.db.run("SELECT 1 FROM audit_log WHERE action = 'webhook.resend'")) == 1


def test_api_logs_security_events_and_audit_lists(data):
    data.db.run("""INSERT INTO api_logs (request_id, app_id, endpoint, method, status_code, duration_ms, request_body)
                   SELECT 'req' || g, 'akaliza', '/api/v1/payment/process', 'POST',
                          CASE WHEN g = 3 THEN 422 ELSE 200 END, 12.5, '{"f008": "***"}'
                     FROM generate_series(1, 5) g""")
    data.db.run("""INSERT INTO security_events (kind, ip, app_id, username, endpoint)
                   SELECT CASE WHEN g % 2 = 0 THEN 'auth_failure' ELSE 'rate_limited' END, '10.0.0.' || g,
                          'akaliza', 'user' || g, '/api/v1/auth/token' FROM generate_series(1, 9) g""")
    viewer = Api(data, "watcher", "viewer")
    logs = viewer.walk("/api-logs", client="akaliza", limit="2")
    assert sorted(i["request_id"] for i in logs) == ["req1", "req2", "req3", "req4", "req5"]
    failed = viewer.get("/api-logs", client="akaliza", status="4").json["items"]
    assert [i["status_code"] for i in failed] == [422] and failed[0]["duration_ms"] == 12.5
    detail = viewer.get(f"/api-logs/{failed[0]['id']}")
    assert detail.status_code == 200 and detail.json["request_body"] == {"f008": "***"}
    assert "client_id" not in detail.json
    assert viewer.get("/api-logs/999999999").status_code == 404 and viewer.get("/api-logs/x").status_code == 404
    assert viewer.get("/api-logs", q="/api/v1/payment", limit="200").json["items"][0]["endpoint"] == (
        "/api/v1/payment/process")
    assert viewer.get("/api-logs", status="6").status_code == 422
    events = viewer.walk("/security-events", limit="4")
    assert len(events) == 9 and len({e["id"] for e in events}) == 9
    assert {e["kind"] for e in viewer.walk("/security-events", kind="auth_failure", limit="3")} == {"auth_failure"}
    assert [e["username"] for e in viewer.get("/security-events", q="10.0.0.5").json["items"]] == ["user5"]
    assert viewer.get("/security-events", kind="Bad-Kind").status_code == 422
    ops = Api(data, "ops", "admin")
    for f010 in ("lost-1", "lost-2"):
        assert ops.post(f"/transactions/{txn(data, f010)}/resolve",
                        {"status": "FAILED", "reason": "checked with the provider"}).status_code == 200
    trail = viewer.walk("/audit", limit="1")
    assert [(a["action"], a["username"]) for a in trail] == [("transaction.resolve", "ops")] * 2
    assert [a["target_id"] for a in trail] == [txn(data, "lost-2"), txn(data, "lost-1")]
    assert viewer.get("/audit", q="ops").json["items"] and not viewer.get("/audit", q="nobody").json["items"]
    assert viewer.get("/audit", q="x" * 101).status_code == 422
    data.db.run("""INSERT INTO audit_log (username, action, target_type, target_id, before)
                   VALUES ('dev', 'function.save', 'function', 'REQUEST_x', '{"source": "SELECT 1"}')""")
    assert viewer.get("/audit", q="function.save").json["items"][0]["before"]["source"].startswith("(hidden")
    assert ops.get("/audit", q="function.save").json["items"][0]["before"] == {"source": "SELECT 1"}
    assert viewer.get("/audit", after="2026-13-45T99:00:00+00:00_1").status_code == 422


def test_every_records_endpoint_wants_an_admin_token(data):
    client = data.portal().client
    for path in ("/transactions", "/transactions.csv", "/transactions/txn_00", "/api-logs", "/api-logs/1",
                 "/security-events", "/audit"):
        assert client.simulate_get(BASE + path).status_code == 401, path
    assert client.simulate_post(f"{BASE}/webhook-events/evt_x/resend").status_code == 401
