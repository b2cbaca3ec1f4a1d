"""The analytics page (/admin/analytics): mospay.analytics' figures with server-side SVG charts (payments
over time by status, success rate and p95 latency per group), for 1/7/30/90 days, by service/client/route."""

from __future__ import annotations

import datetime as dt

from .. import actions, analytics, errors
from .web import render

STATUSES = ("SUCCESSFUL", "FAILED", "PENDING", "UNKNOWN")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 960, 230, 44, 24, 10
ROW_H, BAR_LEFT, BAR_W = 22, 180, 300


def volume_chart(series: list[dict], step: str) -> dict:
    """Stacked bars, one per step (oldest left), as the dashboard's chart: pure geometry."""
    count = max(len(series), 1)
    peak = max([sum(p[s] for s in STATUSES) for p in series] + [1])
    width = (WIDTH - LEFT) / count
    scale = (HEIGHT - BOTTOM - TOP) / peak
    every = max(1, count // 8)
    bars, labels = [], []
    for column, point in enumerate(series):
        x = LEFT + column * width + 1
        y = HEIGHT - BOTTOM
        at = dt.datetime.fromisoformat(point["at"])
        label = at.strftime("%H:00" if step == "hour" else "%m-%d")
        for status in STATUSES:
            n = point[status]
            if n:
                h = n * scale
                y -= h
                bars.append({"x": round(x, 1), "y": round(y, 1), "w": round(max(width - 2, 1), 1), "h": round(h, 1),
                             "status": status.lower(), "title": f"{label}: {n} {status}"})
        if column % every == 0:
            labels.append({"x": round(x + width / 2, 1), "text": label})
    ticks = sorted({0, peak // 2, peak})
    return {"width": WIDTH, "height": HEIGHT, "bars": bars, "labels": labels, "base": HEIGHT - BOTTOM,
            "left": LEFT, "ticks": [{"y": round(HEIGHT - BOTTOM - t * scale, 1), "text": t} for t in ticks],
            "statuses": [s.lower() for s in STATUSES]}


def group_chart(groups: list[dict], limit: int = 12) -> dict:
    """Horizontal bars per group: success rate (0-100%) and p95 latency (scaled to the slowest group)."""
    shown = groups[:limit]
    slowest = max([g["latency_ms"]["p95"] or 0 for g in shown] + [1])
    rows = []
    for i, g in enumerate(shown):
        rate = g["success_rate"]
        p95 = g["latency_ms"]["p95"]
        rows.append({"y": i * ROW_H + 4, "label": g["group"],
                     "rate_w": round(BAR_W * (rate or 0), 1),
                     "rate": "n/a" if rate is None else f"{rate * 100:.1f}%",
                     "p95_w": round(BAR_W * (p95 or 0) / slowest, 1),
                     "p95": "n/a" if p95 is None else f"{p95:,.0f} ms"})
    return {"width": BAR_LEFT + 2 * BAR_W + 200, "height": max(len(rows), 1) * ROW_H + 24, "rows": rows,
            "left": BAR_LEFT, "bar_w": BAR_W, "second": BAR_LEFT + BAR_W + 100}


class AnalyticsPage:
    """GET ?range=1|7|30|90 &by=service|client|route &client= &service=; a bad filter re-renders with 422."""

    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        params = {k: (req.get_param(k) or "").strip() for k in ("range", "by", "client", "service")}
        error, data, status = None, None, "200 OK"
        try:
            data = analytics.analytics(self._db, params["range"] or 7, params["by"] or None,
                                       app_id=params["client"] or None, service=params["service"] or None)
        except (errors.InvalidField, errors.NotFound) as exc:
            error, status = exc, f"{exc.status} {'Not Found' if exc.status == 404 else 'Unprocessable Entity'}"
            data = analytics.analytics(self._db, 7, "service")
        render(req, resp, "admin/analytics.html", partial="admin/_analytics.html", status=status, error=error,
               data=data, params=params, ranges=analytics.RANGES, splits=analytics.SPLITS,
               services=actions.services(self._db),
               chart=volume_chart(data["series"], data["step"]), groups=group_chart(data["groups"]))
