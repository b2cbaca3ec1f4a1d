"""Client statements: a client's (or a service's) transactions for one UTC day or month, with counts and
amounts by status, the open items at the period's start and end, and the line items; as JSON, CSV or
text for email. No Falcon: the admin portal, the admin API, the scheduler and the merchant portal share it."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
from decimal import Decimal

from . import errors, functions, reports
from .db import Database

_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
STATUSES = ("SUCCESSFUL", "FAILED", "PENDING", "UNKNOWN", "RECEIVED")
HTML_ROWS = 2000  # line items in the printable page; the CSV has them all


@dataclasses.dataclass(frozen=True)
class Period:
    kind: str  # "daily" | "monthly"
    start: dt.datetime
    end: dt.datetime  # exclusive

    @property
    def label(self) -> str:
        return self.start.strftime("%Y-%m-%d" if self.kind == "daily" else "%Y-%m")

    @property
    def last_day(self) -> dt.date:
        return (self.end - dt.timedelta(days=1)).date()


def period(text) -> Period:
    """"2026-11-30" is that UTC day, "2026-11" that UTC month."""
    text = text if isinstance(text, str) else ""
    try:
        if text[:4] == "9999":  # its end would be past the last date there is
            raise ValueError
        if match := _DAY.fullmatch(text):
            start = dt.datetime(*map(int, match.groups()), tzinfo=dt.timezone.utc)
            return Period("daily", start, start + dt.timedelta(days=1))
        if match := _MONTH.fullmatch(text):
            year, month = map(int, match.groups())
            start = dt.datetime(year, month, 1, tzinfo=dt.timezone.utc)
            return Period("monthly", start, _next_month(start))
        raise ValueError
    except (ValueError, OverflowError):
        pass
    raise errors.InvalidField("must be a day like 2026-11-30 or a month like 2026-11 (before 9999)", field="period")


def _next_month(start: dt.datetime) -> dt.datetime:
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def previous(kind: str, now: dt.datetime) -> Period:
    """Yesterday (daily) or last month (monthly), UTC: what the scheduled delivery sends."""
    today = now.astimezone(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if kind == "daily":
        return Period("daily", today - dt.timedelta(days=1), today)
    this_month = today.replace(day=1)
    last = (this_month - dt.timedelta(days=1)).replace(day=1)
    return Period("monthly", last, this_month)


@dataclasses.dataclass(frozen=True)
class Scope:
    client_id: int | None
    app_id: str | None
    company_name: str | None
    service_id: int | None
    service: str | None

    def filters(self, p: Period) -> dict:
        """The admin transactions list's filters (reports.transaction_filters) for the same rows."""
        params = {"from": p.start.date().isoformat(), "to": p.last_day.isoformat()}
        if self.app_id:
            params["client"] = self.app_id
        if self.service:
            params["service"] = self.service
        return reports.transaction_filters(params)


def scope(db: Database, app_id=None, service=None, *, client_id: int | None = None) -> Scope:
    """A client (app id), a service, or both; `client_id` is a merchant's own and must match."""
    if not app_id and not service and client_id is None:
        raise errors.InvalidField("choose a client or a service", field="client")
    client = svc = None
    if app_id:
        functions.check_app_id(app_id, "client")
        rows = db.query("report_scope_client", app_id=app_id)
        if not rows or (client_id is not None and rows[0]["id"] != client_id):
            raise errors.NotFound("no client with this app id", field="client", code="client_not_found")
        client = rows[0]
    elif client_id is not None:
        raise errors.InvalidField("name the client", field="client")
    if service:
        functions.check_name(service, "service")
        rows = db.query("report_scope_service", name=service)
        if not rows:
            raise errors.NotFound("unknown service", field="service", code="service_not_found")
        svc = rows[0]
    return Scope(client["id"] if client else None, client["app_id"] if client else None,
                 client["company_name"] if client else None, svc["id"] if svc else None,
                 svc["name"] if svc else None)


def _money(rows: list[dict]) -> dict:
    return {"payments": sum(r["payments"] for r in rows),
            "amount": {r["currency"]: str(r["amount"]) for r in rows}}


def statement(db: Database, sc: Scope, p: Period, *, now: dt.datetime | None = None) -> dict:
    """The statement's figures (no line items): by status as the transactions stand now; open items
    (created before and not settled by) at the period's start and end."""
    ids = {"client_id": sc.client_id, "service_id": sc.service_id}
    totals = db.query("report_totals", start=p.start, end=p.end, **ids)
    by_status = []
    for status in STATUSES:
        rows = [r for r in totals if r["status"] == status]
        if rows or status in ("SUCCESSFUL", "FAILED"):
            by_status.append({"status": status, **_money(rows)})
    currencies = sorted({r["currency"] for r in totals})
    return {
        "scope": {"client": sc.app_id, "company_name": sc.company_name, "service": sc.service},
        "period": {"kind": p.kind, "label": p.label, "start": p.start.isoformat(), "end": p.end.isoformat()},
        "generated_at": (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds"),
        "transactions": _money([{"currency": c, "payments": sum(r["payments"] for r in totals if r["currency"] == c),
                                 "amount": sum((r["amount"] for r in totals if r["currency"] == c), Decimal(0))}
                                for c in currencies]),
        "by_status": by_status,
        "opening_open_items": _money(db.query("report_open_items", at=p.start, **ids)),
        "closing_open_items": _money(db.query("report_open_items", at=p.end, **ids)),
    }


def line_items(db: Database, sc: Scope, p: Period, limit: int = HTML_ROWS) -> tuple[list[dict], bool]:
    """The first `limit` line items (newest first, as the transactions list) and whether there are more."""
    rows, following = reports.transactions_page(db, sc.filters(p), limit)
    return rows, following is not None


def summary_rows(data: dict) -> list[list[str]]:
    """The statement's figures as CSV rows: section, status, currency, payments, amount."""
    rows = [["section", "status", "currency", "payments", "amount"]]
    for item in data["by_status"]:
        for currency, amount in (item["amount"] or {"": "0"}).items():
            rows.append(["by_status", item["status"], currency, str(item["payments"]), amount])
    for section in ("opening_open_items", "closing_open_items"):
        money = data[section]
        for currency, amount in (money["amount"] or {"": "0"}).items():
            rows.append([section, "", currency, str(money["payments"]), amount])
    return rows


def statement_csv(db: Database, sc: Scope, p: Period, data: dict):
    """CSV bytes in chunks: the figures, a blank line, then every line item exactly as the admin
    transactions CSV (reports.transactions_csv) gives them for the same filters (checked here, before
    the first byte: a refusal is an error answer, never a CSV cut short)."""
    return _csv_chunks(db, sc.filters(p), p, data)


def _csv_chunks(db: Database, filters: dict, p: Period, data: dict):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["statement", data["scope"]["client"] or "", data["scope"]["service"] or "",
                     p.label, data["generated_at"]])
    for row in summary_rows(data):
        writer.writerow([reports.csv_cell(v) for v in row])
    writer.writerow([])
    yield buffer.getvalue().encode()
    yield from reports.transactions_csv(db, filters)


def filename(data: dict) -> str:
    who = "-".join(x for x in (data["scope"]["client"], data["scope"]["service"]) if x)
    return f"statement-{who}-{data['period']['label']}.csv"


def text(data: dict) -> str:
    """The statement's figures as the plain text of an email."""
    scope_ = data["scope"]
    who = scope_["company_name"] or scope_["client"] or scope_["service"]
    lines = [f"MosPay {data['period']['kind']} statement: {who}, {data['period']['label']} (UTC)", ""]
    for item in data["by_status"]:
        amounts = ", ".join(f"{a} {c}" for c, a in item["amount"].items()) or "0"
        lines.append(f"{item['status']:<11} {item['payments']:>8} payments  {amounts}")
    for section, label in (("opening_open_items", "Open at the start"), ("closing_open_items", "Open at the end")):
        money = data[section]
        amounts = ", ".join(f"{a} {c}" for c, a in money["amount"].items()) or "0"
        lines.append(f"{label}: {money['payments']} payments, {amounts}")
    lines += ["", "The line items are attached (CSV). Statuses are as of " + data["generated_at"] + "."]
    return "\n".join(lines)
