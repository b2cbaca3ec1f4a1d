"""The dashboard: totals, a server-side SVG chart of the last 24 hours, recent activity, the stuck queue,
circuit breakers, the scheduler's jobs and the key metrics (a Grafana-free view of /metrics)."""

from __future__ import annotations

import datetime as dt

from .. import breaker, reconciler, reports, scheduler
from .. import actions as ps
from .web import render

CHART_STATUSES = ("SUCCESSFUL", "FAILED", "PENDING", "UNKNOWN", "RECEIVED")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 960, 230, 36, 24, 10


def hourly_chart(hourly: dict, now: dt.datetime | None = None) -> dict:
    """Stacked bars, one per hour (oldest left)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    columns = [((now - dt.timedelta(hours=h)).strftime("%H:00"), hourly.get(h, {})) for h in range(23, -1, -1)]
    return bar_chart(columns, CHART_STATUSES, every=3,
                     label="Transactions per hour for the last 24 hours, by status", caption="hours in UTC")


def bar_chart(columns: list[tuple[str, dict]], keys, *, every: int, label: str, caption: str,
              peak: float | None = None, unit: str = "") -> dict:
    """Stacked bars, one per (label, {key: value}) column, stacked in `keys` order; every `every`-th
    column labelled. Pure geometry: the template (admin/_chart.html) only draws rectangles. `peak`: a
    fixed top of the scale (100 for a percentage); otherwise the tallest column's."""
    peak = peak or max([sum(counts.values()) for _, counts in columns] + [1])
    step = (WIDTH - LEFT) / max(len(columns), 1)
    scale = (HEIGHT - BOTTOM - TOP) / peak
    bars, labels = [], []
    for column, (name, counts) in enumerate(columns):
        x = LEFT + column * step + 2
        y = HEIGHT - BOTTOM
        for key in keys:
            n = counts.get(key, 0)
            if n:
                h = n * scale
                y -= h
                bars.append({"x": round(x, 1), "y": round(y, 1), "w": round(step - 4, 1), "h": round(h, 1),
                             "status": key.lower(), "title": f"{name}: {_number(n)}{unit} {key}"})
        if column % every == 0:
            labels.append({"x": round(x + (step - 4) / 2, 1), "text": name})
    half = peak // 2 if isinstance(peak, int) else peak / 2  # counts keep whole-number ticks
    ticks = sorted({0, _number(half), _number(peak)})
    return {"width": WIDTH, "height": HEIGHT, "bars": bars, "labels": labels, "base": HEIGHT - BOTTOM,
            "left": LEFT, "ticks": [{"y": round(HEIGHT - BOTTOM - float(t) * scale, 1), "text": t} for t in ticks],
            "statuses": [k.lower() for k in keys], "label": label, "caption": caption,
            "total": sum(sum(c.values()) for _, c in columns)}


def _number(value):
    """Whole numbers as ints (tick and tooltip text), others to two places."""
    value = float(value)
    return int(value) if value == int(value) else round(value, 2)


def breaker_rows(services: list[dict], states: dict) -> list[dict]:
    """Every service, with this process's breaker state; a service not called yet has no breaker: closed."""
    rows = [{"service": s["name"], **states.get(s["name"], {"state": breaker.CLOSED, "consecutive_failures": 0})}
            for s in services]
    known = {s["name"] for s in services}
    return rows + [{"service": name, **state} for name, state in sorted(states.items()) if name not in known]


class Dashboard:
    def __init__(self, db, breakers: breaker.Breakers, metrics):
        self._db = db
        self._breakers = breakers
        self._metrics = metrics  # the app's mospay.metrics.Metrics

    def on_get(self, req, resp):
        data = reports.dashboard(self._db)
        render(req, resp, "admin/dashboard.html", partial="admin/_dashboard.html",
               chart=hourly_chart(data["hourly"]), queue=reconciler.stuck_queue(self._db, limit=10),
               breakers=breaker_rows(ps.services(self._db), self._breakers.snapshot()),
               numbers=self._metrics.snapshot(), jobs=scheduler.job_rows(self._db), **data)
