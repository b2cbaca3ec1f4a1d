"""The merchant dashboard (/portal): the client's own figures today and over 30 days, 30-day SVG charts
per service (volume by status, successful value, success rate: the admin dashboard's bar_chart), open
PENDING/UNKNOWN payments and recent ones."""

from __future__ import annotations

from .. import merchant_reports
from ..admin.dashboard import CHART_STATUSES, bar_chart
from .web import render


def service_charts(daily: dict, labels: list[str]) -> list[dict]:
    charts = []
    for service, series in daily.items():
        volume = bar_chart(list(zip(labels, series["days"])), CHART_STATUSES, every=5, caption="days in UTC",
                           label=f"{service}: payments per day for the last 30 days, by status")
        value = bar_chart([(d, {"SUCCESSFUL": float(v)}) for d, v in zip(labels, series["value"])], ("SUCCESSFUL",),
                          every=5, caption=f"{series['currency']}, successful payments, days in UTC",
                          label=f"{service}: value of successful payments per day for the last 30 days")
        rate = bar_chart([(d, {"SUCCESSFUL": r} if r else {}) for d, r in zip(labels, series["rate"])],
                         ("SUCCESSFUL",), every=5, peak=100, unit="%", caption="% of final payments that succeeded",
                         label=f"{service}: success rate per day for the last 30 days")
        charts.append({"service": service, "currency": series["currency"], "volume": volume, "value": value,
                       "rate": rate})
    return charts


class Dashboard:
    actions = {"GET": "read"}

    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        data = merchant_reports.dashboard(self._db, req.context.merchant.client_id)
        render(req, resp, "merchant/dashboard.html", partial="merchant/_dashboard.html",
               charts=service_charts(data["daily"], merchant_reports.day_labels()), **data)
