"""Client statements: a day's and a month's figures equal the admin transactions list filtered the same
way (counts and amounts per status and currency; the CSV's line items are the transactions CSV), the open
items at the period's start and end, the printable page, recipients (API and portal, audited), and the
scheduled email: once per period into a real SMTP sink, retried after a failing relay."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from mospay import accounts, catalogue
from mospay.mail import Mailer
from mospay.report_delivery import ReportDelivery
from tests.integration.portal_support import site  # noqa: F401  (fixture)
from tests.integration.test_admin_api_records import Api
from tests.smtp_sink import SmtpSink

DAY = "2026-11-30"
# f010, client, service, amount, status, created, settled (updated_at)
PLAN = [
    ("d1", "akaliza", "mtnmomorwa", 100, "SUCCESSFUL", f"{DAY}T09:00:00Z", None),
    ("d2", "akaliza", "mtnmomorwa", 50, "FAILED", f"{DAY}T10:00:00Z", None),
    ("d3", "akaliza", "mtnmomorwa", 70, "PENDING", f"{DAY}T23:30:00Z", None),
    ("d4", "akaliza", "airtel", 20, "SUCCESSFUL", f"{DAY}T12:00:00Z", None),
    ("prev_open", "akaliza", "mtnmomorwa", 30, "SUCCESSFUL", "2026-11-29T20:00:00Z", f"{DAY}T01:00:00Z"),
    ("prev_still", "akaliza", "mtnmomorwa", 40, "UNKNOWN", "2026-11-29T21:00:00Z", None),
    ("next_day", "akaliza", "mtnmomorwa", 80, "SUCCESSFUL", "2026-12-01T00:00:00Z", None),
    ("s1", "shop", "mtnmomorwa", 500, "SUCCESSFUL", f"{DAY}T08:00:00Z", None),
]


@pytest.fixture
def books(site):
    catalogue.create_service(site.db, {"name": "mtnmomorwa", "service_url": "http://127.0.0.1:9"})
    catalogue.create_service(site.db, {"name": "airtel", "service_url": "http://127.0.0.1:9", "currency": "USD"})
    for app_id in ("akaliza", "shop"):
        accounts.create_client(site.db, site.config.secret_key, {"app_id": app_id, "company_name": app_id.title()})
    for f010, app_id, service, amount, status, created, settled in PLAN:
        site.db.run("""
            INSERT INTO transactions (client_id, service_id, route, f010, amount, request, request_hash, created_at)
            SELECT c.id, s.id, 'collection', :f, :amount, '{}', 'h', CAST(:created AS timestamptz)
              FROM clients c, services s WHERE c.app_id = :app_id AND s.name = :service""",
                    f=f010, amount=amount, created=created, app_id=app_id, service=service)
        site.db.run("UPDATE transactions SET status = :s, updated_at = coalesce(CAST(:settled AS timestamptz), "
                    "created_at + interval '1 second') WHERE f010 = :f", s=status, settled=settled, f=f010)
    return site


def listed_totals(api, **filters) -> dict:
    """{status: (count, {currency: amount})} from the admin transactions list, page by page."""
    totals = {}
    for item in api.walk("/transactions", **filters, limit="200"):
        count, amounts = totals.get(item["status"], (0, {}))
        amounts[item["currency"]] = amounts.get(item["currency"], Decimal(0)) + Decimal(item["amount"])
        totals[item["status"]] = (count + 1, amounts)
    return totals


def statement_totals(data) -> dict:
    return {s["status"]: (s["payments"], {c: Decimal(a) for c, a in s["amount"].items()})
            for s in data["by_status"] if s["payments"]}


@pytest.mark.parametrize("params, filters", [
    ({"client": "akaliza", "period": DAY}, {"client": "akaliza", "from": DAY, "to": DAY}),
    ({"client": "akaliza", "period": "2026-11"}, {"client": "akaliza", "from": "2026-11-01", "to": "2026-11-30"}),
    ({"service": "mtnmomorwa", "period": DAY}, {"service": "mtnmomorwa", "from": DAY, "to": DAY}),
    ({"client": "akaliza", "service": "airtel", "period": DAY},
     {"client": "akaliza", "service": "airtel", "from": DAY, "to": DAY})])
def test_a_statement_equals_the_transactions_list_filtered_the_same_way(books, params, filters):
    api = Api(books, "watcher", "viewer")
    answer = api.get("/reports/statement", **params)
    assert answer.status_code == 200, answer.text
    listed = listed_totals(api, **filters)
    assert listed  # the control: the filters find transactions
    assert statement_totals(answer.json) == listed
    assert answer.json["transactions"]["payments"] == sum(n for n, _ in listed.values())
    # The CSV: the figures, a blank line, then exactly the admin transactions CSV for the same filters.
    sheet = api.client.simulate_get("/api/v1/admin/reports/statement.csv", params=params, headers=api.headers)
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/csv")
    lines = api.client.simulate_get("/api/v1/admin/transactions.csv", params=filters, headers=api.headers).text
    head, items = sheet.text.split("\r\n\r\n", 1)
    assert items == lines
    summary = list(csv.reader(io.StringIO(head)))
    assert summary[1] == ["section", "status", "currency", "payments", "amount"]


def test_open_items_at_the_start_and_end_of_the_day_and_month(books):
    api = Api(books, "watcher", "viewer")
    day = api.get("/reports/statement", client="akaliza", period=DAY).json
    assert day["by_status"][:2] == [{"status": "SUCCESSFUL", "payments": 2, "amount": {"RWF": "100.00", "USD": "20.00"}},
                                    {"status": "FAILED", "payments": 1, "amount": {"RWF": "50.00"}}]
    # Open at 00:00: prev_open (settled at 01:00) and prev_still; at the end: prev_still and d3.
    assert day["opening_open_items"] == {"payments": 2, "amount": {"RWF": "70.00"}}
    assert day["closing_open_items"] == {"payments": 2, "amount": {"RWF": "110.00"}}
    month = api.get("/reports/statement", client="akaliza", period="2026-11").json
    assert month["period"] == {"kind": "monthly", "label": "2026-11", "start": "2026-11-01T00:00:00+00:00",
                               "end": "2026-12-01T00:00:00+00:00"}
    assert month["transactions"]["payments"] == 6
    assert month["opening_open_items"]["payments"] == 0 and month["closing_open_items"]["payments"] == 2


BAD_STATEMENTS = [
    ({"client": "akaliza", "period": "2026-13"}, 422, "period"), ({"client": "akaliza", "period": "30/11/2026"}, 422, "period"),
    ({"client": "akaliza", "period": "2026-02-30"}, 422, "period"), ({"client": "akaliza"}, 422, "period"),
    ({"period": DAY}, 422, "client"), ({"client": "nosuch", "period": DAY}, 404, "client"),
    ({"service": "nosuch", "period": DAY}, 404, "service"), ({"client": "akaliza", "period": DAY, "x": "1"}, 422, "x"),
    ({"client": "akaliza", "period": "9999-12"}, 422, "period"), ({"client": "akaliza", "period": "9999-01-01"}, 422, "period"),
    ({"client": "akaliza", "period": "9998-12"}, 200, None)]  # the last month there is: an empty statement


def test_bad_statement_parameters_are_4xx_json(books):
    api = Api(books, "watcher", "viewer")
    assert api.get("/reports/statement", client="akaliza", period=DAY).status_code == 200  # the control
    for params, status, field in BAD_STATEMENTS:
        for path in ("/reports/statement", "/reports/statement.csv"):
            answer = api.get(path, **params)
            assert answer.status_code == status, (params, answer.text)
            if field:
                assert answer.json["error"]["field"] == field


def test_the_portal_shows_a_statement_with_its_printable_page_and_csv(books):
    portal = books.portal("boss")
    page = portal.get(f"/admin/reports?client=akaliza&period={DAY}")
    assert page.status_code == 200 and 'id="statement"' in page.text and "Download CSV" in page.text
    assert f'href="/admin/reports/statement.csv?client=akaliza&amp;period={DAY}"' in page.text
    printable = portal.get(f"/admin/reports/statement?client=akaliza&period={DAY}")
    assert printable.status_code == 200 and "/static/statement.css" in printable.text
    ids = [r["public_id"] for r in books.db.run("SELECT public_id FROM transactions WHERE f010 IN ('d1', 'd3')")]
    assert all(i in printable.text for i in ids) and "next_day" not in printable.text
    assert "@media print" in portal.get("/static/statement.css").text
    sheet = portal.get(f"/admin/reports/statement.csv?client=akaliza&period={DAY}")
    assert sheet.status_code == 200 and "d3" in sheet.text
    bad = portal.get("/admin/reports?client=akaliza&period=2026-13")
    assert bad.status_code == 422 and "period" in bad.text
    assert portal.get("/admin/reports/statement?client=nosuch&period=2026-11").status_code == 404


def test_recipients_over_the_api_are_validated_and_audited(books):
    admin, viewer = Api(books, "ops", "admin"), Api(books, "watcher", "viewer")
    made = admin.post("/report-recipients", {"client": "akaliza", "email": "Finance@Akaliza.example", "monthly": False})
    assert made.status_code == 201, made.text
    assert (made.json["email"], made.json["daily"], made.json["monthly"]) == ("finance@akaliza.example", True, False)
    again = admin.post("/report-recipients", {"client": "akaliza", "email": "finance@akaliza.example"})
    assert again.json["id"] == made.json["id"] and again.json["monthly"] is True
    for body, field in (({"client": "akaliza", "email": "a@b"}, "email"), ({"client": "akaliza", "email": "x y@b.c"}, "email"),
                        ({"client": "akaliza", "email": "a@b.c", "daily": False, "monthly": False}, "daily"),
                        ({"client": "akaliza", "email": "a@b.c", "daily": "yes"}, "daily"),
                        ({"client": "akaliza", "email": "a@b.c", "cc": "x"}, "cc"), ({"email": "a@b.c"}, "client")):
        refused = admin.post("/report-recipients", body)
        assert refused.status_code == 422 and refused.json["error"]["field"] == field, (body, refused.text)
    assert admin.post("/report-recipients", {"client": "nosuch", "email": "a@b.c"}).status_code == 404
    assert viewer.post("/report-recipients", {"client": "akaliza", "email": "a@b.c"}).status_code == 403
    assert [r["email"] for r in viewer.get("/report-recipients", client="akaliza").json["items"]] == ["finance@akaliza.example"]
    assert viewer.get("/report-recipients", client="shop").json["items"] == []
    gone = admin.client.simulate_delete(f"/api/v1/admin/report-recipients/{made.json['id']}", headers=admin.headers)
    assert gone.status_code == 204
    assert admin.get(f"/report-recipients/{made.json['id']}").status_code == 404
    assert admin.client.simulate_delete("/api/v1/admin/report-recipients/x", headers=admin.headers).status_code == 404
    actions = [r["action"] for r in books.db.run("SELECT action FROM audit_log WHERE action LIKE 'report_recipient%' ORDER BY id")]
    assert actions == ["report_recipient.save", "report_recipient.save", "report_recipient.delete"]


def test_recipients_in_the_portal(books):
    portal = books.portal("boss")
    portal.get("/admin/reports")
    added = portal.post("/admin/reports/recipients", {"client": "akaliza", "email": "ops@akaliza.example", "daily": "on"})
    assert added.status_code == 303, added.text
    page = portal.get("/admin/reports")
    assert "ops@akaliza.example" in page.text
    row = books.db.run("SELECT id, daily, monthly FROM report_recipients")[0]
    assert (row["daily"], row["monthly"]) == (True, False)  # an unticked box is off
    refused = portal.post("/admin/reports/recipients", {"client": "akaliza", "email": "not-an-address"})
    assert refused.status_code == 422 and "email" in refused.text
    assert portal.post("/admin/reports/recipients", {"client": "akaliza", "email": "a@b.c", "csrf_token": "forged"}).status_code == 403
    assert portal.post(f"/admin/reports/recipients/{row['id']}/delete").status_code == 303
    assert books.db.run("SELECT count(*) AS n FROM report_recipients")[0]["n"] == 0


def test_scheduled_statements_are_mailed_once_per_period_and_retried_after_a_failure(books):
    api = Api(books, "ops", "admin")
    for email, daily, monthly in (("fin@akaliza.example", True, True), ("ceo@akaliza.example", False, True)):
        assert api.post("/report-recipients", {"client": "akaliza", "email": email, "daily": daily,
                                               "monthly": monthly}).status_code == 201
    books.db.run("UPDATE report_recipients SET created_at = '2026-11-20T00:00:00Z'")
    clock = lambda: dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.timezone.utc)  # noqa: E731
    with SmtpSink(fail_with="451 try later") as sink:
        failing = ReportDelivery(books.db, Mailer(sink.url), clock=clock)
        assert failing.deliver_due() == {"sent": 0, "failed": 3}
    log = api.get("/report-deliveries").json["items"]
    assert {(d["kind"], d["state"], d["attempts"]) for d in log} == {("daily", "failed", 1), ("monthly", "failed", 1)}
    assert "451" in log[0]["last_error"]
    with SmtpSink() as sink:
        first = ReportDelivery(books.db, Mailer(sink.url), clock=clock)
        assert first.deliver_due() == {"sent": 3, "failed": 0}
        daily = sink.wait_for(lambda m: "daily" in m["Subject"])
        assert daily["To"] == "fin@akaliza.example" and "2026-11-30" in daily["Subject"]
        body = daily.get_body(("plain",)).get_content()
        assert "SUCCESSFUL" in body and "100.00 RWF" in body
        attachment = next(daily.iter_attachments())
        assert attachment.get_filename() == "statement-akaliza-2026-11-30.csv"
        assert "d3" in attachment.get_content() and "next_day" not in attachment.get_content()
        sink.wait_for(lambda m: "monthly" in m["Subject"] and m["To"] == "ceo@akaliza.example")
        # Another run, another instance, after a restart: the same period is not sent again.
        assert first.deliver_due() == {"sent": 0, "failed": 0}
        assert ReportDelivery(books.db, Mailer(sink.url), clock=clock).deliver_due() == {"sent": 0, "failed": 0}
        assert len(sink.messages) == 3
    states = {(d["email"], d["kind"]): (d["state"], d["attempts"]) for d in api.get("/report-deliveries").json["items"]}
    assert states == {("fin@akaliza.example", "daily"): ("sent", 2), ("fin@akaliza.example", "monthly"): ("sent", 2),
                      ("ceo@akaliza.example", "monthly"): ("sent", 2)}
    portal = books.portal("boss")
    assert "ceo@akaliza.example" in portal.get("/admin/reports").text


def test_the_delivery_job_runs_only_with_an_smtp_relay(books):
    from mospay.components import Components
    from mospay.config import Config
    from tests.integration.portal_support import KEYS
    names = [j.name for j in Components.build(Config(**KEYS), books.db).jobs()]
    assert "deliver_reports" not in names
    with_mail = Components.build(Config(**KEYS, smtp_url="smtp://127.0.0.1:2525"), books.db).jobs()
    assert "deliver_reports" in [j.name for j in with_mail]
