"""Reaction time, for real: payments through MosPay to the simulator, its decline rule (MSISDNs ending 0001)
driven into a storm and back, the scheduler running the alert jobs every second. The alert fires within two
evaluation intervals of the breach and resolves within two after it ends; both notices reach an SMTP sink
and a webhook receiver on 127.0.0.1."""

from __future__ import annotations

import time

import pytest

from mospay import alerts
from mospay.simulator import Simulator
from tests.integration.alert_support import Receiver
from tests.integration.credentials.support import Stack
from tests.smtp_sink import SmtpSink

INTERVAL_S = 1.0
DECLINE, PAYS = "+250788120001", "+250788120009"


def wait_until(check, timeout_s: float = 15.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


def recorded_at(stack, reference_f010: str):
    return stack.db.run("SELECT created_at FROM transactions WHERE f010 = :f", f=reference_f010)[0]["created_at"]


@pytest.fixture
def live(db_url):
    with Simulator(hang_seconds=1) as sim, SmtpSink() as sink, Receiver() as hook:
        stack = Stack(db_url, sim.url, alert_interval_s=INTERVAL_S, smtp_url=sink.url, reconcile_interval_s=0,
                      webhook_interval_s=0, log_retention_days=0)
        scheduler = None
        try:
            stack.onboard()
            scheduler = stack.parts.scheduler(tick_s=0.05).start()
            yield stack, sink, hook
        finally:
            if scheduler is not None:
                scheduler.stop()
            stack.close()


def test_a_decline_storm_fires_within_two_intervals_and_its_end_resolves_within_two(live):
    stack, sink, hook = live
    stack.api("POST", "/api/v1/admin/alert-rules", {
        "name": "credpay declines", "metric": "success_rate", "service": "credpay", "op": "<", "threshold": 50,
        "window_s": 120, "min_count": 4, "severity": "critical",
        "channels": [{"type": "webhook", "url": hook.url}, {"type": "email", "to": "oncall@example.com"}]})
    for i in range(3):
        assert stack.pay(f"ok-{i}", msisdn=PAYS)[1].json["status"] == "SUCCESSFUL"
    time.sleep(2 * INTERVAL_S)
    assert stack.db.run("SELECT count(*) AS n FROM alerts")[0]["n"] == 0  # healthy: nothing

    for i in range(4):  # 3 of 7 succeed after these: 42.9 % < 50 from the fourth decline on
        assert stack.pay(f"no-{i}", msisdn=DECLINE)[1].json["status"] == "FAILED"
    breach = recorded_at(stack, "no-3")
    fired = wait_until(lambda: stack.db.run("SELECT id, fired_at FROM alerts WHERE state = 'firing'"))[0]
    fired_after = (fired["fired_at"] - breach).total_seconds()
    print(f"alert fired {fired_after:.2f} s after the breach (interval {INTERVAL_S} s)")
    assert fired_after <= 2 * INTERVAL_S

    for i in range(2):  # 5 of 9: 55.6 %, the storm is over
        stack.pay(f"back-{i}", msisdn=PAYS)
    over = recorded_at(stack, "back-1")
    resolved = wait_until(lambda: stack.db.run("SELECT resolved_at FROM alerts WHERE state = 'resolved'"))[0]
    resolved_after = (resolved["resolved_at"] - over).total_seconds()
    print(f"alert resolved {resolved_after:.2f} s after the storm ended")
    assert resolved_after <= 2 * INTERVAL_S

    firing_mail = sink.wait_for(lambda m: m["Subject"].startswith("[FIRING] critical: credpay declines"))
    assert "success_rate = 42.8571%" in firing_mail.get_content()
    sink.wait_for(lambda m: m["Subject"].startswith("[RESOLVED] critical: credpay declines"))
    hook.wait_for(lambda p: p["json"]["kind"] == "firing" and p["json"]["alert"]["id"] == fired["id"])
    hook.wait_for(lambda p: p["json"]["kind"] == "resolved" and p["json"]["text"].startswith("RESOLVED"))
    assert len(hook.posts) == 2 and len(sink.messages) == 2  # once each: no repeat within repeat_s
    assert alerts.alert(stack.db, fired["id"])["observed_count"] == 9
