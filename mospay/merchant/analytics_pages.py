"""The merchant's own analytics (/portal/analytics): mospay.analytics with the signed-in client's id applied in
SQL, the admin page's ranges, splits by service or route, and its SVG charts and partial template."""

from __future__ import annotations

import falcon

from .. import actions, analytics, errors
from ..admin.analytics_pages import group_chart, volume_chart
from .web import render

SPLITS = ("service", "route")  # "client" is the operator's split: a merchant has one


class Analytics:
    """GET ?range=1|7|30|90 &by=service|route &service=; a bad filter re-renders the 7-day view with 422."""
    actions = {"GET": "read"}

    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        me = req.context.merchant
        params = {k: (req.get_param(k) or "").strip() for k in ("range", "by", "service")}
        error, status = None, falcon.HTTP_200
        try:
            if params["by"] and params["by"] not in SPLITS:
                raise errors.InvalidField(f"must be one of {', '.join(SPLITS)}", field="by")
            data = analytics.analytics(self._db, params["range"] or 7, params["by"] or None,
                                       client_id=me.client_id, service=params["service"] or None)
        except errors.InvalidField as exc:
            error, status = exc, falcon.HTTP_422
            data = analytics.analytics(self._db, 7, "service", client_id=me.client_id)
        resp.vary = ("HX-Request",)
        render(req, resp, "merchant/analytics.html", partial="admin/_analytics.html", status=status, error=error,
               data=data, params=params, ranges=analytics.RANGES, splits=SPLITS, merchant_view=True,
               services=actions.client_assignments(self._db, me.client_id),
               chart=volume_chart(data["series"], data["step"]), groups=group_chart(data["groups"]))
