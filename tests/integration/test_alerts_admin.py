"""Alerting through the admin API and the portal: rules CRUD (valid first, then hostile input: 4xx, nothing
written), roles, a test notification per channel, the history with filters and keyset pages, acknowledging
(audited), the signing secret; the portal's forms do the same with 303s and HTML errors."""

from __future__ import annotations

import pytest

from mospay import alerts, notify
from tests.integration.alert_support import Receiver, pay, world
from tests.integration.portal_support import site  # noqa: F401  (fixture)
from tests.integration.test_admin_api_records import Api

RULE = {"name": "MTN success", "metric": "success_rate", "service": "mtnmomorwa", "op": "<", "threshold": 80,
        "window_s": 300, "min_count": 2, "for_s": 0, "severity": "critical",
        "channels": [{"type": "email", "to": "ops@example.com"}]}


@pytest.fixture
def ops(site):  # noqa: F811
    world(site.db)
    return Api(site, "ops-api", "admin")


def count(site, table: str) -> int:  # noqa: F811
    return site.db.run(f"SELECT count(*) AS n FROM {table}")[0]["n"]


def test_rules_crud_over_the_api_with_audit(site, ops):  # noqa: F811
    created = ops.post("/alert-rules", RULE)
    assert created.status_code == 201, created.text
    rule = created.json
    assert (rule["service"], rule["threshold"], rule["repeat_s"], rule["channels"]) == (
        "mtnmomorwa", "80.0000", 14400, [{"type": "email", "to": ["ops@example.com"]}])
    assert ops.get("/alert-rules").json["items"][0]["name"] == "MTN success"
    changed = ops.client.simulate_patch(f"/api/v1/admin/alert-rules/{rule['id']}", headers=ops.headers,
                                        json={"threshold": 90, "for_s": 60})
    assert changed.status_code == 200 and (changed.json["threshold"], changed.json["for_s"]) == ("90.0000", 60)
    assert changed.json["name"] == "MTN success" and changed.json["service"] == "mtnmomorwa"
    widened = ops.client.simulate_patch(f"/api/v1/admin/alert-rules/{rule['id']}", headers=ops.headers,
                                        json={"service": None})
    assert widened.status_code == 200 and widened.json["service"] is None and widened.json["threshold"] == "90.0000"
    assert ops.post("/alert-rules", RULE).status_code == 409  # the name is taken
    gone = ops.client.simulate_delete(f"/api/v1/admin/alert-rules/{rule['id']}", headers=ops.headers)
    assert gone.status_code == 204 and ops.get(f"/alert-rules/{rule['id']}").status_code == 404
    actions = [r["action"] for r in site.db.run("SELECT action FROM audit_log WHERE action LIKE 'alert_rule.%' "
                                                "ORDER BY id")]
    assert actions == ["alert_rule.create", "alert_rule.update", "alert_rule.update", "alert_rule.delete"]


HOSTILE = [
    ({"metric": "cpu"}, "metric"), ({"op": ">="}, "op"), ({"threshold": "NaN"}, "threshold"),
    ({"threshold": True}, "threshold"), ({"threshold": "1e400"}, "threshold"), ({"window_s": 0}, "window_s"),
    ({"window_s": "300; DROP TABLE alerts"}, "window_s"), ({"for_s": -1}, "for_s"), ({"repeat_s": 10}, "repeat_s"),
    ({"severity": "page"}, "severity"), ({"name": ""}, "name"), ({"name": "x" * 101}, "name"),
    ({"measure": "amount"}, "measure"), ({"channels": "ops@example.com"}, "channels"),
    ({"channels": [{"type": "sms", "to": "1"}]}, "channels[0].type"),
    ({"channels": [{"type": "email", "to": "a@b.c\r\nBcc: x@y.z"}]}, "channels[0].to"),
    ({"channels": [{"type": "webhook", "url": "file:///etc/passwd"}]}, "channels[0].url"),
    ({"channels": [{"type": "webhook", "url": "http://169.254.169.254/latest"}]}, "channels[0].url"),
    ({"channels": [{"type": "webhook", "url": "http://x.example", "secret": "1"}]}, "channels[0]"),
    ({"channels": [{"type": "email", "to": "a@example.com"}] * 11}, "channels"),
    ({"surprise": 1}, "surprise"),
]


def test_hostile_rules_are_4xx_and_write_nothing(site, ops):  # noqa: F811
    assert ops.post("/alert-rules", {**RULE, "name": "control"}).status_code == 201  # the valid rule passes
    for change, field in HOSTILE:
        answer = ops.post("/alert-rules", {**RULE, **change})
        assert answer.status_code == 422, (change, answer.text)
        assert answer.json["error"]["field"] == field, change
        patched = ops.client.simulate_patch("/api/v1/admin/alert-rules/" + str(ops.get("/alert-rules").json[
            "items"][0]["id"]), headers=ops.headers, json=change)
        assert patched.status_code == 422, (change, patched.text)
    assert count(site, "alert_rules") == 1
    assert ops.get("/alert-rules").json["items"][0]["threshold"] == "80.0000"  # no PATCH changed anything


def test_unknown_service_or_client_is_404_and_viewers_only_read(site, ops):  # noqa: F811
    assert ops.post("/alert-rules", {**RULE, "service": "nosuch"}).status_code == 404
    assert ops.post("/alert-rules", {**RULE, "app_id": "nosuch"}).status_code == 404
    slack = "https://hooks.slack.com/services/T0/B0/secret-part"
    rule_id = ops.post("/alert-rules", {**RULE, "channels": [{"type": "webhook", "url": slack}]}).json["id"]
    assert ops.get(f"/alert-rules/{rule_id}").json["channels"] == [{"type": "webhook", "url": slack}]
    viewer = Api(site, "watcher", "viewer")
    assert viewer.get("/alert-rules").status_code == 200 and viewer.get("/alerts").status_code == 200
    # A chat webhook's URL is its credential: viewers and the audit trail see its host only.
    assert viewer.get(f"/alert-rules/{rule_id}").json["channels"] == [
        {"type": "webhook", "url": "https://hooks.slack.com/…"}]
    assert "secret-part" not in str(site.db.run("SELECT before, after FROM audit_log"))
    site.db.run("DELETE FROM alert_rules")
    assert viewer.post("/alert-rules", RULE).status_code == 403
    assert viewer.post("/alert-signing-secret").status_code == 403
    assert count(site, "alert_rules") == 0


def test_test_notification_history_filters_pages_and_acknowledge(site, ops):  # noqa: F811
    with Receiver() as hook:
        rule = ops.post("/alert-rules", {**RULE, "channels": [{"type": "webhook", "url": hook.url}]}).json
        tested = ops.post(f"/alert-rules/{rule['id']}/channels/0/test")
        assert tested.status_code == 200 and tested.json["delivered"] is True, tested.text
        assert hook.wait_for()["json"]["text"].startswith("TEST critical: MTN success")
        assert ops.post(f"/alert-rules/{rule['id']}/channels/1/test").status_code == 404
    ops.post("/alert-rules", {**RULE, "name": "airtel", "service": "airtel", "severity": "warning", "channels": []})
    for service in ("mtnmomorwa", "mtnmomorwa", "airtel", "airtel"):
        pay(site.db, service=service, status="FAILED")
    alerts.evaluate(site.db)
    assert [a["rule"] for a in ops.get("/alerts", severity="critical").json["items"]] == ["MTN success"]
    assert len(ops.get("/alerts", state="firing").json["items"]) == 2
    assert ops.get("/alerts", state="resolved").json["items"] == []
    first = ops.get("/alerts", limit="1")
    assert len(first.json["items"]) == 1 and first.json["next"]
    assert len(ops.walk("/alerts", limit="1")) == 2
    for bad in ({"state": "on"}, {"since": "yesterday"}, {"rule_id": "1 OR 1=1"}, {"after": "x"}, {"colour": "red"}):
        assert ops.get("/alerts", **bad).status_code == 422, bad
    alert_id = ops.get("/alerts", service="airtel").json["items"][0]["id"]
    acked = ops.post(f"/alerts/{alert_id}/acknowledge")
    assert acked.status_code == 200 and acked.json["acknowledged_by"] == "ops-api"
    assert ops.post(f"/alerts/{alert_id}/acknowledge").status_code == 409
    assert ops.post("/alerts/999999/acknowledge").status_code == 404
    assert ops.get(f"/alerts/{alert_id}").json["deliveries"] == []
    secret = ops.post("/alert-signing-secret")
    assert secret.json["signing_secret"] == notify.signing_secret(site.config.secret_key)
    assert secret.headers["cache-control"] == "no-store"
    assert count(site, "audit_log WHERE action IN ('alert.acknowledge', 'alert.signing_secret.reveal', "
                       "'alert_rule.test_notification')") == 3


def test_portal_creates_edits_tests_acknowledges_and_deletes(site):  # noqa: F811
    world(site.db)
    portal = site.portal("boss", "admin")
    page = portal.get("/admin/alerts")
    assert page.status_code == 200 and "Nothing is firing." in page.text and "New rule" in page.text
    form = {"name": "Portal rule", "metric": "success_rate", "service": "mtnmomorwa", "op": "<", "threshold": "80",
            "window_s": "300", "severity": "critical", "emails": "ops@example.com", "webhooks": "", "enabled": "on"}
    bad = portal.post("/admin/alerts", {**form, "window_s": "soon"})
    assert bad.status_code == 422 and "window_s" in bad.text and count(site, "alert_rules") == 0
    made = portal.post("/admin/alerts", form)
    assert made.status_code == 303, made.text
    rule_id = site.db.run("SELECT id FROM alert_rules")[0]["id"]
    edit = portal.get(f"/admin/alerts/rules/{rule_id}")
    assert "Send test notification" in edit.text and 'value="Portal rule"' in edit.text
    cleared = portal.post(f"/admin/alerts/rules/{rule_id}", {**form, "service": "", "min_count": ""})
    assert cleared.status_code == 303
    assert site.db.run("SELECT service_id, min_count FROM alert_rules")[0] == {"service_id": None, "min_count": 0}
    saved = portal.post(f"/admin/alerts/rules/{rule_id}", {**form, "threshold": "95"})
    assert saved.status_code == 303 and site.db.run("SELECT threshold FROM alert_rules")[0]["threshold"] == 95
    tested = portal.post(f"/admin/alerts/rules/{rule_id}/channels/0/test")
    assert tested.status_code == 200 and "not delivered" in tested.text  # no MOSPAY_SMTP_URL here
    for _ in range(3):
        pay(site.db, status="FAILED")
    alerts.evaluate(site.db)
    firing = portal.get("/admin/alerts", headers={"HX-Request": "true"})  # the polled fragment
    assert firing.text.startswith('<div id="open-alerts"') and "Acknowledge" in firing.text
    alert_id = site.db.run("SELECT id FROM alerts")[0]["id"]
    acked = portal.post(f"/admin/alerts/{alert_id}/acknowledge")
    assert acked.status_code == 303 and site.db.run("SELECT acknowledged_by FROM alerts")[0]["acknowledged_by"] == "boss"
    history = portal.get("/admin/alerts/history?state=firing&severity=critical")
    assert f'id="alert-{alert_id}"' in history.text
    assert "No alert matches" in portal.get("/admin/alerts/history?state=resolved").text
    assert portal.get("/admin/alerts/history?since=nope").status_code == 200  # the list says why, no 500
    secret = portal.post("/admin/alerts/signing-secret")
    assert notify.signing_secret(site.config.secret_key) in secret.text
    assert notify.signing_secret(site.config.secret_key) not in portal.get("/admin/alerts").text
    assert portal.post(f"/admin/alerts/rules/{rule_id}/delete").status_code == 303
    assert count(site, "alert_rules") == 0 and count(site, "alerts") == 0
    viewer = site.portal("peek", "viewer")
    assert viewer.get("/admin/alerts").status_code == 200
    assert viewer.post("/admin/alerts", form).status_code == 403
    assert portal.post("/admin/alerts", form, csrf=False).status_code == 403
