"""Alert evaluation and notification: pending -> firing after for_s -> resolved, one open alert per (rule,
service, client), one notice on firing, repeats every repeat_s unless acknowledged, one on resolving; the
webhook (signed, `text` for Slack) and email channels with their delivery log and retries; a failing channel
never stops evaluation or the other channel."""

from __future__ import annotations

import pytest

from mospay import alerts, errors, notify
from mospay.webhooks import verify_signature
from tests.integration.alert_support import ACTOR, KEY, Receiver, at, pay, rule, world
from tests.smtp_sink import SmtpSink


@pytest.fixture
def shop(db):
    world(db)
    return db


def states(db) -> list[tuple]:
    return [(a["service"], a["state"]) for a in db.run("SELECT * FROM alerts ORDER BY id")]


def notices(db) -> list[tuple]:
    return [(d["kind"], d["channel"]["type"]) for d in db.run("SELECT * FROM alert_deliveries ORDER BY id")]


def decline_storm(db, service="mtnmomorwa", n=4):
    for _ in range(n):
        pay(db, service=service, status="FAILED", age_s=5)


def test_pending_fires_after_for_s_notifies_once_repeats_and_resolves(shop):
    channels = [{"type": "webhook", "url": "http://127.0.0.1:9/hook"}]
    r = rule(shop, "success_rate", threshold=80, for_s=120, repeat_s=600, channels=channels, window_s=3600)
    assert alerts.evaluate(shop, at(shop))["pending"] == 0  # nothing yet: no alert, no notice
    decline_storm(shop)
    alerts.evaluate(shop, at(shop))
    assert states(shop) == [("mtnmomorwa", "pending")] and notices(shop) == []
    alerts.evaluate(shop, at(shop, 60))                      # still under for_s
    assert states(shop) == [("mtnmomorwa", "pending")] and notices(shop) == []
    alerts.evaluate(shop, at(shop, 130))                     # held for 130 s >= 120: fires, one notice
    assert states(shop) == [("mtnmomorwa", "firing")] and notices(shop) == [("firing", "webhook")]
    alerts.evaluate(shop, at(shop, 200))                     # firing on: no second notice
    assert notices(shop) == [("firing", "webhook")]
    alerts.evaluate(shop, at(shop, 740))                     # 610 s after the first notice: a repeat
    assert notices(shop) == [("firing", "webhook"), ("repeat", "webhook")]
    alert = shop.run("SELECT * FROM alerts")[0]
    assert alert["value"] == 0 and alert["observed_count"] == 4
    text = shop.run("SELECT message FROM alert_deliveries ORDER BY id")[0]["message"]["text"]
    assert text.startswith("FIRING critical: success_rate rule: success_rate = 0% (rule: < 80% over 3600 s) "
                           "for service mtnmomorwa")
    for _ in range(30):
        pay(shop, status="SUCCESSFUL", age_s=5)
    alerts.evaluate(shop, at(shop, 800))
    assert states(shop) == [("mtnmomorwa", "resolved")]
    assert notices(shop)[-1] == ("resolved", "webhook") and len(notices(shop)) == 3
    alerts.evaluate(shop, at(shop, 900))
    assert len(notices(shop)) == 3 and r["id"] == alert["rule_id"]


def test_a_breach_shorter_than_for_s_is_forgotten_without_a_notice(shop):
    rule(shop, "success_rate", threshold=80, for_s=300, channels=[{"type": "email", "to": "ops@example.com"}])
    decline_storm(shop)
    alerts.evaluate(shop, at(shop))
    shop.run("DELETE FROM transactions")
    alerts.evaluate(shop, at(shop, 60))
    assert states(shop) == [] and notices(shop) == []


def test_one_open_alert_per_rule_service_and_client_and_rules_of_one_metric_do_not_hide_each_other(shop):
    rule(shop, "success_rate", name="all services", threshold=80)
    rule(shop, "success_rate", name="airtel only", threshold=90, service="airtel")
    decline_storm(shop, "mtnmomorwa")
    decline_storm(shop, "airtel")
    for step in (0, 60, 120):
        alerts.evaluate(shop, at(shop, step))
    rows = shop.run("SELECT r.name, a.service, a.state FROM alerts a JOIN alert_rules r ON r.id = a.rule_id "
                    "ORDER BY r.name, a.service")
    assert [tuple(r.values()) for r in rows] == [("airtel only", "airtel", "firing"),
                                                 ("all services", "airtel", "firing"),
                                                 ("all services", "mtnmomorwa", "firing")]
    with pytest.raises(errors.Conflict):  # the database refuses a second open alert for a key
        shop.run("INSERT INTO alerts (rule_id, service, state, fired_at) SELECT rule_id, service, 'firing', now() "
                 "FROM alerts LIMIT 1")


def test_acknowledged_alerts_repeat_no_more_but_still_announce_their_resolution(shop):
    rule(shop, "success_rate", threshold=80, repeat_s=60, window_s=86400,
         channels=[{"type": "email", "to": ["a@example.com"]}])
    decline_storm(shop)
    alerts.evaluate(shop, at(shop))
    alert = shop.run("SELECT id FROM alerts")[0]["id"]
    acked = alerts.acknowledge(shop, ACTOR, alert)
    assert acked["acknowledged_by"] == "ops"
    with pytest.raises(errors.Conflict):
        alerts.acknowledge(shop, ACTOR, alert)
    alerts.evaluate(shop, at(shop, 3600))
    assert notices(shop) == [("firing", "email")]
    shop.run("DELETE FROM transactions")
    alerts.evaluate(shop, at(shop, 3700))
    assert notices(shop) == [("firing", "email"), ("resolved", "email")]
    audit = shop.run("SELECT username, action, target_id FROM audit_log WHERE action = 'alert.acknowledge'")
    assert audit == [{"username": "ops", "action": "alert.acknowledge", "target_id": str(alert)}]
    with pytest.raises(errors.Conflict):
        alerts.acknowledge(shop, ACTOR, alert)  # resolved


def test_disabling_a_rule_resolves_its_alerts(shop):
    r = rule(shop, "success_rate", threshold=80)
    decline_storm(shop)
    alerts.evaluate(shop, at(shop))
    shop.run("UPDATE alert_rules SET enabled = false WHERE id = :id", id=r["id"])
    alerts.evaluate(shop, at(shop, 10))
    assert states(shop) == [("mtnmomorwa", "resolved")]


def test_channels_deliver_a_signed_webhook_with_text_and_an_email_and_log_each_attempt(shop):
    with SmtpSink() as sink, Receiver() as hook:
        rule(shop, "success_rate", name="MTN success", threshold=80,
             channels=[{"type": "webhook", "url": hook.url}, {"type": "email", "to": "ops@example.com"}])
        decline_storm(shop)
        alerts.evaluate(shop)
        sender = notify.Notifier(shop, KEY, sink.url)
        try:
            assert sender.deliver_due() == {"sent": 2, "failed": 0}
        finally:
            sender.close()
        post = hook.wait_for()
        assert post["json"]["text"].startswith("FIRING critical: MTN success: success_rate = 0%")
        assert post["json"]["alert"]["service"] == "mtnmomorwa" and post["json"]["kind"] == "firing"
        secret = notify.signing_secret(KEY)
        assert verify_signature(post["headers"]["MosPay-Signature"], post["raw"], secret)
        assert not verify_signature(post["headers"]["MosPay-Signature"], post["raw"] + b" ", secret)
        mail = sink.wait_for(lambda m: "MTN success" in m["Subject"])
        assert mail["Subject"].startswith("[FIRING] critical: MTN success (service mtnmomorwa)")
        assert mail["To"] == "ops@example.com"
    log = shop.run("SELECT d.state, d.attempts, a.ok, a.response FROM alert_deliveries d "
                   "JOIN alert_delivery_attempts a ON a.delivery_id = d.id ORDER BY d.id")
    assert [(r["state"], r["attempts"], r["ok"]) for r in log] == [("SENT", 1, True), ("SENT", 1, True)]
    assert log[0]["response"] == "HTTP 200 ok" and log[1]["response"] == "accepted by the relay"


def test_a_failing_channel_is_retried_with_backoff_and_never_blocks_evaluation_or_the_other(shop):
    with SmtpSink() as sink, Receiver(status=500) as hook:
        rule(shop, "success_rate", threshold=80,
             channels=[{"type": "webhook", "url": hook.url}, {"type": "email", "to": "ops@example.com"}])
        decline_storm(shop)
        assert alerts.evaluate(shop)["firing"] == 1
        sender = notify.Notifier(shop, KEY, sink.url)
        try:
            assert sender.deliver_due() == {"sent": 1, "failed": 1}
            assert sender.deliver_due() == {"sent": 0, "failed": 0}  # the failed one waits for its retry
            hook.status = 200
            shop.run("UPDATE alert_deliveries SET next_attempt_at = now() WHERE state = 'PENDING'")
            assert sender.deliver_due() == {"sent": 1, "failed": 0}
        finally:
            sender.close()
        assert len(sink.messages) == 1 and len(hook.posts) == 2
    rows = shop.run("SELECT a.attempt, a.ok, a.response FROM alert_delivery_attempts a JOIN alert_deliveries d "
                    "ON d.id = a.delivery_id WHERE d.channel ->> 'type' = 'webhook' ORDER BY a.id")
    assert [(r["attempt"], r["ok"], r["response"]) for r in rows] == [(1, False, "HTTP 500 ok"), (2, True, "HTTP 200 ok")]
    assert notify.backoff_s(0) == 15 and notify.backoff_s(1) == 30 and notify.backoff_s(30) == 1800


def test_an_unreachable_relay_gives_up_after_the_last_attempt_and_evaluation_goes_on(shop):
    rule(shop, "success_rate", threshold=80, channels=[{"type": "email", "to": "ops@example.com"}])
    decline_storm(shop)
    alerts.evaluate(shop)
    sender = notify.Notifier(shop, KEY, "smtp://127.0.0.1:9")  # nothing listens there
    try:
        for _ in range(notify.MAX_ATTEMPTS):
            shop.run("UPDATE alert_deliveries SET next_attempt_at = now() WHERE state = 'PENDING'")
            sender.deliver_due()
    finally:
        sender.close()
    row = shop.run("SELECT state, attempts, last_response FROM alert_deliveries")[0]
    assert (row["state"], row["attempts"]) == ("GAVE_UP", notify.MAX_ATTEMPTS)
    assert row["last_response"].startswith("email: 127.0.0.1:9:")
    shop.run("DELETE FROM transactions")
    assert alerts.evaluate(shop)["resolved"] == 1


def test_two_instances_evaluate_once_per_interval_under_the_schedulers_lease(shop):
    from mospay.components import Components
    from mospay.config import Config
    from mospay.scheduler import Scheduler

    rule(shop, "success_rate", threshold=80, channels=[{"type": "email", "to": "ops@example.com"}])
    decline_storm(shop)
    parts = Components.build(Config(secret_key=KEY, jwt_secret_key=KEY), shop)
    job = [j for j in parts.jobs() if j.name == "evaluate_alerts"]
    first, second = Scheduler(shop, job, owner="one"), Scheduler(shop, job, owner="two")
    assert first.run_pending() == {"evaluate_alerts": None}
    assert second.run_pending() == {}  # not due again for 60 s, whoever asks
    assert states(shop) == [("mtnmomorwa", "firing")] and notices(shop) == [("firing", "email")]
