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
    """Stacked bars, one per hour (oldest left). Pure geometry: the template only draws rectangles."""
    now = now or dt.datetime.now(dt.timezone.utc)
    peak = max([sum(hourly.get(h, {}).values()) for h in range(24)] + [1])
    step = (WIDTH - LEFT) / 24
    scale = (HEIGHT - BOTTOM - TOP) / peak
    bars, labels = [], []
    for column, hours_ago in enumerate(range(23, -1, -1)):
        x = LEFT + column * step + 2
        y = HEIGHT - BOTTOM
        counts = hourly.get(hours_ago, {})
        hour = (now - dt.timedelta(hours=hours_ago)).strftime("%H:00")
        for status in CHART_STATUSES:
            n = counts.get(status, 0)
            if n:
                h = n * scale
                y -= h
                bars.append({"x": round(x, 1), "y": round(y, 1), "w": round(step - 4, 1), "h": round(h, 1),
                             "status": status.lower(), "title": f"{hour}: {n} {status}"})
        if column % 3 == 0:
            labels.append({"x": round(x + (step - 4) / 2, 1), "text": hour})
    ticks = sorted({0, peak // 2, peak})
    return {"width": WIDTH, "height": HEIGHT, "bars": bars, "labels": labels, "base": HEIGHT - BOTTOM,
            "left": LEFT, "ticks": [{"y": round(HEIGHT - BOTTOM - t * scale, 1), "text": t} for t in ticks],
            "statuses": [s.lower() for s in CHART_STATUSES],
            "total": sum(sum(c.values()) for c in hourly.values())}


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
