"""The merchant's own statements (/portal/reports, owner and finance): mospay.client_reports scoped to the
signed-in client (its id in SQL): pick a service (optional) and a UTC day or month, view, print, download CSV."""

from __future__ import annotations

import datetime as dt

import falcon

from .. import actions, client_reports, errors, report_delivery
from .web import render

ERRORS = (errors.InvalidField, errors.NotFound)
BASE = "/portal/reports"


def _params(req) -> dict:
    return {k: (req.get_param(k) or "").strip() for k in ("service", "period")}


def _chosen(db, me, params: dict):
    """The client's own scope: client_reports.scope checks that the app id is the signed-in client's."""
    sc = client_reports.scope(db, me.app_id, params["service"] or None, client_id=me.client_id)
    p = client_reports.period(params["period"])
    return sc, p, client_reports.statement(db, sc, p)


def _query(params: dict) -> str:
    return falcon.to_query_str({k: v for k, v in params.items() if v})[1:]  # without its "?"


class Reports:
    """GET: the form; with ?period= the statement's figures and its downloads. Also who gets it by email
    (read only: operators choose the recipients)."""
    actions = {"GET": "reports"}

    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        me, params = req.context.merchant, _params(req)
        data, error, status = None, None, falcon.HTTP_200
        if params["period"]:
            try:
                _, _, data = _chosen(self._db, me, params)
            except ERRORS as exc:
                error, status = exc, falcon.code_to_http_status(exc.status)
        now = dt.datetime.now(dt.timezone.utc)
        render(req, resp, "merchant/reports.html", status=status, error=error, params=params, data=data,
               query=_query(params), services=actions.client_assignments(self._db, me.client_id),
               yesterday=client_reports.previous("daily", now).label,
               last_month=client_reports.previous("monthly", now).label,
               recipients=report_delivery.recipients(self._db, me.client_id))


class StatementPage:
    """The printable statement (the admin one's template and print stylesheet: save it as PDF)."""
    actions = {"GET": "reports"}

    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        params = _params(req)
        sc, p, data = _chosen(self._db, req.context.merchant, params)
        items, more = client_reports.line_items(self._db, sc, p)
        render(req, resp, "admin/statement_print.html", data=data, items=items, more=more,
               limit=client_reports.HTML_ROWS, query=_query(params), reports_url=BASE)


class StatementCsv:
    actions = {"GET": "reports"}

    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        sc, p, data = _chosen(self._db, req.context.merchant, _params(req))
        resp.content_type = "text/csv; charset=utf-8"
        resp.downloadable_as = client_reports.filename(data)
        resp.cache_control = ["no-store"]
        resp.stream = client_reports.statement_csv(self._db, sc, p, data)
