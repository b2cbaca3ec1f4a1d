"""Client statements in the portal (/admin/reports): pick a client and/or a service and a day or month, see
the figures, download the CSV or open the printable page; the email recipients per client and the log."""

from __future__ import annotations

import falcon

from .. import client_reports, errors, report_delivery
from .web import EDITORS, actor, form, render, see_other

ERRORS = (errors.InvalidField, errors.NotFound)


def _params(req) -> dict:
    return {k: (req.get_param(k) or "").strip() for k in ("client", "service", "period")}


def _chosen(db, params: dict):
    sc = client_reports.scope(db, params["client"] or None, params["service"] or None)
    p = client_reports.period(params["period"])
    return sc, p, client_reports.statement(db, sc, p)


class Reports:
    """GET: the form; with ?period= (and a client or service) the statement's figures and its downloads."""

    def __init__(self, db):
        self._db = db

    def show(self, req, resp, *, error=None, status=falcon.HTTP_200):
        params, data = _params(req), None
        if params["period"] and error is None:
            try:
                _, _, data = _chosen(self._db, params)
            except ERRORS as exc:
                error, status = exc, falcon.code_to_http_status(exc.status)
        query = falcon.to_query_str({k: v for k, v in params.items() if v})[1:]  # without its "?"
        rows, _ = report_delivery.deliveries_page(self._db, None, 50)
        render(req, resp, "admin/reports.html", status=status, error=error, params=params, data=data,
               query=query, recipients=report_delivery.recipients(self._db), deliveries=rows)

    def on_get(self, req, resp):
        self.show(req, resp)


class StatementPage:
    """The printable statement (its own print stylesheet: the browser saves it as PDF)."""

    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        sc, p, data = _chosen(self._db, _params(req))
        items, more = client_reports.line_items(self._db, sc, p)
        render(req, resp, "admin/statement_print.html", data=data, items=items, more=more,
               limit=client_reports.HTML_ROWS, query=falcon.to_query_str(_params(req))[1:])


class StatementCsv:
    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        sc, p, data = _chosen(self._db, _params(req))
        resp.content_type = "text/csv; charset=utf-8"
        resp.downloadable_as = client_reports.filename(data)
        resp.stream = client_reports.statement_csv(self._db, sc, p, data)


class RecipientAdd:
    """POST client, email, daily, monthly (checkboxes): 303 back; a bad field re-renders with 422."""

    write_roles = EDITORS

    def __init__(self, db):
        self._db = db
        self._page = Reports(db)

    def on_post(self, req, resp):
        data = form(req)
        choice = {"client": data.get("client"), "email": data.get("email"),
                  "daily": data.get("daily", "off"), "monthly": data.get("monthly", "off")}
        try:
            report_delivery.add_recipient(self._db, actor(req), choice)
        except ERRORS as exc:
            return self._page.show(req, resp, error=exc, status=falcon.code_to_http_status(exc.status))
        see_other(resp, "/admin/reports#recipients")


class RecipientDelete:
    write_roles = EDITORS

    def __init__(self, db):
        self._db = db

    def on_post(self, req, resp, recipient_id):
        report_delivery.remove_recipient(self._db, actor(req), recipient_id)
        see_other(resp, "/admin/reports#recipients")
