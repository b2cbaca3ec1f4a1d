"""The merchant dashboard's figures for one client: today's and 30 days' totals, per-service daily series
and open payments. Every query names the client_id (mospay/sql/merchant_reports.sql); no HTTP here."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from . import reports
from .db import Database

DAYS = 30
OPEN_LIMIT = 20


def _rate(successful: int, final: int) -> float | None:
    """Success rate over final states (SUCCESSFUL / (SUCCESSFUL + FAILED)); None before any is final."""
    return round(100 * successful / final, 1) if final else None


def totals(db: Database, client_id: int) -> dict:
    """{"today"|"month": {count, successful, final, rate, value: {currency: Decimal}}}."""
    out = {p: {"count": 0, "successful": 0, "final": 0, "value": {}} for p in ("today", "month")}
    for row in db.query("merchant_dashboard_totals", client_id=client_id):
        for p in ("today", "month"):
            for k in ("count", "successful", "final"):
                out[p][k] += row[f"{p}_{k}"]
            if row[f"{p}_value"]:
                out[p]["value"][row["currency"]] = row[f"{p}_value"]
    for p in out.values():
        p["rate"] = _rate(p["successful"], p["final"])
    return out


def daily(db: Database, client_id: int) -> dict:
    """{service: {"currency", "days": [{status: n}] * 30 (oldest first), "value": [Decimal] * 30,
    "rate": [float | None] * 30}}."""
    found: dict[str, dict] = {}
    for row in db.query("merchant_dashboard_daily", client_id=client_id):
        if not 0 <= row["days_ago"] < DAYS:
            continue
        series = found.setdefault(row["service"], {"currency": row["currency"],
                                                   "days": [{} for _ in range(DAYS)],
                                                   "value": [Decimal(0)] * DAYS})
        i = DAYS - 1 - row["days_ago"]
        series["days"][i][row["status"]] = row["n"]
        series["value"][i] += row["value"]
    for series in found.values():
        series["rate"] = [_rate(d.get("SUCCESSFUL", 0), d.get("SUCCESSFUL", 0) + d.get("FAILED", 0))
                          for d in series["days"]]
    return dict(sorted(found.items()))


def day_labels(today: dt.date | None = None) -> list[str]:
    today = today or dt.datetime.now(dt.timezone.utc).date()
    return [(today - dt.timedelta(days=DAYS - 1 - i)).strftime("%m-%d") for i in range(DAYS)]


def dashboard(db: Database, client_id: int) -> dict:
    return {"totals": totals(db, client_id), "daily": daily(db, client_id),
            "open": db.query("merchant_open_payments", client_id=client_id, limit=OPEN_LIMIT),
            "open_count": db.one("merchant_open_count", client_id=client_id)["n"],
            "recent": reports.client_recent(db, client_id)}
