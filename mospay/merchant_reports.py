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


def summarise(rows: list[dict]) -> tuple[dict, dict]:
    """From merchant_dashboard_daily's rows: the totals {"today"|"month": {count, successful, final, rate,
    value: {currency: Decimal}}} and the series {service: {"currency", "days": [{status: n}] * 30 (oldest
    first), "value": [Decimal] * 30, "rate": [float | None] * 30}}."""
    totals = {p: {"count": 0, "successful": 0, "final": 0, "value": {}} for p in ("today", "month")}
    series: dict[str, dict] = {}
    for row in rows:
        if not 0 <= row["days_ago"] < DAYS:
            continue
        for period in ("today", "month") if row["days_ago"] == 0 else ("month",):
            p = totals[period]
            p["count"] += row["n"]
            p["successful"] += row["n"] if row["status"] == "SUCCESSFUL" else 0
            p["final"] += row["n"] if row["status"] in ("SUCCESSFUL", "FAILED") else 0
            if row["value"]:
                p["value"][row["currency"]] = p["value"].get(row["currency"], Decimal(0)) + row["value"]
        one = series.setdefault(row["service"], {"currency": row["currency"], "days": [{} for _ in range(DAYS)],
                                                 "value": [Decimal(0)] * DAYS})
        i = DAYS - 1 - row["days_ago"]
        one["days"][i][row["status"]] = row["n"]
        one["value"][i] += row["value"]
    for p in totals.values():
        p["rate"] = _rate(p["successful"], p["final"])
    for one in series.values():
        one["rate"] = [_rate(d.get("SUCCESSFUL", 0), d.get("SUCCESSFUL", 0) + d.get("FAILED", 0)) for d in one["days"]]
    return totals, dict(sorted(series.items()))


def day_labels(today: dt.date | None = None) -> list[str]:
    today = today or dt.datetime.now(dt.timezone.utc).date()
    return [(today - dt.timedelta(days=DAYS - 1 - i)).strftime("%m-%d") for i in range(DAYS)]


def dashboard(db: Database, client_id: int) -> dict:
    """Three statements, each naming the client: the daily rows, the open payments, the recent ones."""
    totals, daily = summarise(db.query("merchant_dashboard_daily", client_id=client_id))
    open_rows = db.query("merchant_open_payments", client_id=client_id, limit=OPEN_LIMIT)
    return {"totals": totals, "daily": daily, "open": open_rows,
            "open_count": open_rows[0]["open_count"] if open_rows else 0,
            "recent": reports.client_recent(db, client_id)}
