"""`python -m mospay evaluate-alerts | deliver-alerts | fold-rollups | deliver-reports | run-batches`: one pass
of a scheduler job each, for cron, printing its summary as JSON. Each test shows the pass did the job's work
on a real database (an alert fires, a notice reaches its receivers, hours fold into a day, a statement is
mailed, a batch gets paid)."""

from __future__ import annotations

import json

import pytest

from mospay import alerts
from tests.integration.alert_support import KEY, Receiver, pay, rule, world
from tests.integration.batch_support import admin_post, batch_payer, rows, to_csv, upload, wait_status
from tests.integration.conftest import TEST_KEYS
from tests.smtp_sink import SmtpSink
from tests.support import mospay_cli

KEYS = {"SECRET_KEY": KEY, "JWT_SECRET_KEY": "j" * 40}  # alert_support's clients are made with KEY


def cli(url: str, *args: str, keys: dict = KEYS, **env: str) -> dict:
    """Run the command; it must succeed and print one JSON document (its summary)."""
    done = mospay_cli(url, *args, keys={**keys, **env}, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def shop(db):
    world(db)
    return db


def storm(db, n: int = 4) -> None:
    for _ in range(n):
        pay(db, status="FAILED", age_s=5)


def test_evaluate_alerts_fires_a_breached_rule_and_queues_its_notice(shop, db_url):
    r = rule(shop, "success_rate", threshold=80, channels=[{"type": "webhook", "url": "http://127.0.0.1:9/hook"}])
    assert cli(db_url, "evaluate-alerts")["firing"] == 0  # control: no breach, no alert
    assert shop.run("SELECT count(*) AS n FROM alerts")[0]["n"] == 0
    storm(shop)
    summary = cli(db_url, "evaluate-alerts")
    assert summary == {"rules": 1, "pending": 0, "firing": 1, "resolved": 0, "notices": 1, "errors": 0}
    assert [(a["rule_id"], a["state"]) for a in shop.run("SELECT * FROM alerts")] == [(r["id"], "firing")]
    assert [d["state"] for d in shop.run("SELECT state FROM alert_deliveries")] == ["PENDING"]


def test_deliver_alerts_sends_the_due_notices_and_without_smtp_the_email_waits_for_a_retry(shop, db_url):
    with Receiver() as hook, SmtpSink() as sink:
        rule(shop, "success_rate", threshold=80, channels=[{"type": "webhook", "url": hook.url},
                                                           {"type": "email", "to": "oncall@example.com"}])
        storm(shop)
        alerts.evaluate(shop)  # what the evaluate_alerts job queued
        # No MOSPAY_SMTP_URL: as under the scheduler, the webhook goes out and the email fails, to be retried.
        assert cli(db_url, "deliver-alerts") == {"sent": 1, "failed": 1}
        assert "success_rate rule" in hook.wait_for()["json"]["text"]
        waiting = shop.run("SELECT state, attempts FROM alert_deliveries WHERE channel->>'type' = 'email'")
        assert waiting == [{"state": "PENDING", "attempts": 1}]
        shop.run("UPDATE alert_deliveries SET next_attempt_at = now() WHERE state = 'PENDING'")
        assert cli(db_url, "deliver-alerts", MOSPAY_SMTP_URL=sink.url) == {"sent": 1, "failed": 0}
        assert sink.wait_for(lambda m: m["To"] == "oncall@example.com")
        assert len(hook.posts) == 1  # the webhook's notice was sent once
    assert {d["state"] for d in shop.run("SELECT state FROM alert_deliveries")} == {"SENT"}


def test_fold_rollups_folds_the_hours_before_yesterday_into_days(shop, db_url):
    for hours in (72, 75):
        pay(shop, age_s=hours * 3600)
    hourly = "SELECT count(*) AS n FROM payment_rollups WHERE hour <> date_trunc('day', hour, 'UTC')"
    totals = "SELECT sum(payments) AS n FROM payment_rollups"
    assert shop.run(hourly)[0]["n"] >= 1 and shop.run(totals)[0]["n"] == 2
    summary = cli(db_url, "fold-rollups")
    assert summary["folded"] >= 1
    assert shop.run(hourly)[0]["n"] == 0 and shop.run(totals)[0]["n"] == 2  # one row per day, same totals
    assert cli(db_url, "fold-rollups") == {"folded": 0}


def test_deliver_reports_mails_yesterdays_statement_and_without_smtp_sends_nothing(shop, db_url):
    shop.run("INSERT INTO report_recipients (client_id, email, daily, monthly, created_by, created_at) "
             "SELECT id, 'fin@shop1.example', true, false, 'test', now() - interval '3 days' FROM clients "
             "WHERE app_id = 'shop1'")
    pay(shop, age_s=86400)
    skipped = mospay_cli(db_url, "deliver-reports", keys=KEYS)
    assert skipped.returncode == 0 and "MOSPAY_SMTP_URL is not set" in skipped.stderr
    assert json.loads(skipped.stdout) == {"sent": 0, "failed": 0, "skipped": "MOSPAY_SMTP_URL is not set"}
    assert shop.run("SELECT count(*) AS n FROM report_deliveries")[0]["n"] == 0  # nothing claimed, nothing failed
    with SmtpSink() as sink:
        assert cli(db_url, "deliver-reports", MOSPAY_SMTP_URL=sink.url) == {"sent": 1, "failed": 0}
        mail = sink.wait_for(lambda m: "daily" in m["Subject"])
        assert mail["To"] == "fin@shop1.example" and next(mail.iter_attachments()).get_filename().endswith(".csv")
        assert cli(db_url, "deliver-reports", MOSPAY_SMTP_URL=sink.url) == {"sent": 0, "failed": 0}  # once a period
    assert [r["state"] for r in shop.run("SELECT state FROM report_deliveries")] == ["sent"]


@pytest.fixture
def no_runners(postgres, template_db, simulator, tmp_path):
    """The app in-process with its batch runners off: only the command pays rows."""
    from tests.integration.inprocess import in_process

    with in_process(postgres, template_db, simulator, tmp_path, {"MOSPAY_BATCH_INTERVAL": "0"}) as app:
        yield app


def test_run_batches_pays_an_approved_batch(no_runners):
    api = no_runners
    payer = batch_payer(api)
    batch = upload(api, payer, to_csv(rows(payer, 3))).json()["batch_id"]
    assert admin_post(api, f"/api/v1/admin/batches/{batch}/approve").status == 200
    assert wait_status(api, payer, batch, "COMPLETED", timeout=1.5)["counts"]["queued"] == 3  # no runner here
    assert cli(api.config.database_url, "run-batches", keys=TEST_KEYS) == {"paid": 3, "refused": 0, "released": 0}
    doc = wait_status(api, payer, batch, "COMPLETED", timeout=10)
    assert doc["status"] == "COMPLETED" and doc["counts"]["SUCCESSFUL"] == 3, doc
    assert cli(api.config.database_url, "run-batches", keys=TEST_KEYS) == {"paid": 0, "refused": 0, "released": 0}
