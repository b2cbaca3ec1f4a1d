"""Payment analytics from the rollups: volume, value, success rate, provider latency p50/p95, top failure
reasons, the share that needed reconciliation and its settle time, over 1/7/30/90 days, split by service,
client or route. No Falcon: the admin portal, the admin API and (later) the merchant portal call it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

from . import errors, functions
from .db import Database

RANGES = (1, 7, 30, 90)  # days
SPLITS = ("service", "client", "route")
FINAL = ("SUCCESSFUL", "FAILED")
OPEN = ("PENDING", "UNKNOWN")
# Upper bounds (ms) of the latency buckets, as mospay.latency_bucket draws them: bucket i covers
# [BOUNDS[i-1], BOUNDS[i]), the first from 0, the last (16th) from 30,000 ms with no upper bound.
BOUNDS = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10000, 15000, 30000)
FOLD_INTERVAL_S = 3600.0  # the scheduler's fold_rollups job


def fold(db: Database, now: dt.datetime | None = None) -> int:
    """Fold hourly rollups before yesterday (UTC) into one row per day: the job fold_rollups."""
    now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    before = now.replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
    return db.one("fold_rollups", before=before)["folded"]


@dataclasses.dataclass(frozen=True)
class Window:
    """1 day: the last 24 whole UTC hours, the current one included; more: whole UTC days, today included."""
    days: int
    since: dt.datetime
    until: dt.datetime

    @property
    def step(self) -> str:
        return "hour" if self.days == 1 else "day"


def window(days, now: dt.datetime | None = None) -> Window:
    try:
        days = int(days) if days not in (None, "") else 7
    except (TypeError, ValueError):
        days = -1
    if days not in RANGES:
        raise errors.InvalidField(f"must be one of {', '.join(map(str, RANGES))} (days)", field="range")
    now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    until = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    if days == 1:
        return Window(days, until - dt.timedelta(days=1), until)
    # Whole UTC days, today's included: rollups before yesterday are one row per day (mospay.fold_rollups).
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return Window(days, today - dt.timedelta(days=days - 1), until)


def split(by) -> str:
    by = by or "service"
    if by not in SPLITS:
        raise errors.InvalidField(f"must be one of {', '.join(SPLITS)}", field="by")
    return by


def quantile(q: float, counts: list[int]) -> float | None:
    """The q-quantile (0..1) of a histogram over BOUNDS, interpolated linearly inside its bucket; the
    open-ended last bucket answers its lower bound. None without observations."""
    total = sum(counts)
    if total <= 0:
        return None
    rank, seen = q * total, 0
    for i, n in enumerate(counts):
        if n > 0 and seen + n >= rank:
            lower = 0 if i == 0 else BOUNDS[i - 1]
            if i >= len(BOUNDS):
                return float(lower)
            return round(lower + (BOUNDS[i] - lower) * (rank - seen) / n, 1)
        seen += n
    return float(BOUNDS[-1])


def _empty() -> dict:
    return {"payments": 0, "statuses": {}, "value": {}, "attempted": {}, "latency_count": 0,
            "latency_ms_sum": Decimal(0), "reconciled": 0, "reconciled_final": 0, "settle_s_sum": Decimal(0),
            "histogram": [0] * (len(BOUNDS) + 1)}


def _add(acc: dict, row: dict) -> None:
    status, currency = row["status"], row["currency"]
    acc["payments"] += row["payments"]
    acc["statuses"][status] = acc["statuses"].get(status, 0) + row["payments"]
    acc["attempted"][currency] = acc["attempted"].get(currency, Decimal(0)) + row["amount"]
    if status == "SUCCESSFUL":
        acc["value"][currency] = acc["value"].get(currency, Decimal(0)) + row["amount"]
    acc["latency_count"] += row["latency_count"]
    acc["latency_ms_sum"] += row["latency_ms_sum"]
    acc["reconciled"] += row["reconciled"]
    for i in range(len(acc["histogram"])):
        acc["histogram"][i] += row[f"b{i + 1}"]
    if status in FINAL:
        acc["reconciled_final"] += row["reconciled"]
        acc["settle_s_sum"] += row["settle_s_sum"]


def summarise(acc: dict) -> dict:
    """The figures of one group (or the whole window) from its summed rollups."""
    statuses = acc["statuses"]
    ok, failed = statuses.get("SUCCESSFUL", 0), statuses.get("FAILED", 0)
    payments = acc["payments"]
    return {
        "payments": payments,
        "statuses": {s: statuses.get(s, 0) for s in (*FINAL, *OPEN)},
        "value": {c: str(v) for c, v in sorted(acc["value"].items())},
        "attempted_value": {c: str(v) for c, v in sorted(acc["attempted"].items())},
        # Final states only: an open payment is not a failure (yet).
        "success_rate": round(ok / (ok + failed), 4) if ok + failed else None,
        "latency_ms": {"p50": quantile(0.5, acc["histogram"]), "p95": quantile(0.95, acc["histogram"]),
                       "mean": round(float(acc["latency_ms_sum"]) / acc["latency_count"], 1)
                       if acc["latency_count"] else None, "count": acc["latency_count"]},
        "reconciliation": {
            "payments": acc["reconciled"],
            "share": round(acc["reconciled"] / payments, 4) if payments else None,
            "settled": acc["reconciled_final"],
            "mean_settle_s": round(float(acc["settle_s_sum"]) / acc["reconciled_final"], 1)
            if acc["reconciled_final"] else None},
    }


def analytics(db: Database, days=7, by=None, *, client_id: int | None = None, service: str | None = None,
              app_id: str | None = None, now: dt.datetime | None = None) -> dict:
    """Every figure of the analytics page for the window. `client_id` (a merchant's own, applied in SQL)
    or `app_id` (an operator's filter) narrow to one client, `service` to one service."""
    win, by = window(days, now), split(by)
    if service:
        functions.check_name(service, "service")
    if app_id:
        functions.check_app_id(app_id, "client")
        row = db.query("client_id_by_app_id", app_id=app_id)
        if not row:
            raise errors.NotFound("no client with this app id", field="client", code="client_not_found")
        if client_id is not None and row[0]["id"] != client_id:
            raise errors.NotFound("no client with this app id", field="client", code="client_not_found")
        client_id = row[0]["id"]
    params = {"since": win.since, "until": win.until, "client_id": client_id, "service": service or None}
    groups: dict[str, dict] = {}
    total = _empty()
    for row in db.query("analytics_groups", by=by, **params):
        _add(groups.setdefault(row["grp"], _empty()), row)
        _add(total, row)
    series: dict[dt.datetime, dict] = {}
    for row in db.query("analytics_series", step=win.step, **params):
        series.setdefault(row["at"], {})[row["status"]] = row["payments"]
    failures = [{"http_status": r["http_status"] or None, "code": r["code"], "message": r["message"],
                 "payments": r["payments"], "services": r["services"]}
                for r in db.query("analytics_failures", **params)]
    rows = sorted(({"group": name, **summarise(acc)} for name, acc in groups.items()),
                  key=lambda g: (-g["payments"], g["group"]))
    return {"range_days": win.days, "by": by, "since": win.since.isoformat(), "until": win.until.isoformat(),
            "step": win.step, "filters": {"client": app_id, "service": service or None},
            "total": summarise(total), "groups": rows, "failure_reasons": failures,
            "series": _series(win, series)}


def _series(win: Window, found: dict) -> list[dict]:
    """Every step of the window, empty ones included (the chart's x axis), oldest first."""
    step = dt.timedelta(hours=1) if win.step == "hour" else dt.timedelta(days=1)
    at = win.since
    points = []
    while at < win.until:
        counts = found.get(at, {})
        points.append({"at": at.isoformat(), **{s: counts.get(s, 0) for s in (*FINAL, *OPEN)}})
        at += step
    return points
