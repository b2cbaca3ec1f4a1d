"""Admin API for analytics and client statements: the analytics figures, a statement as JSON or CSV, the
statements' email recipients per client, and their delivery log. Each calls the portal's domain function
(mospay.analytics, mospay.client_reports, mospay.report_delivery)."""

from __future__ import annotations

import falcon

from .. import analytics, client_reports, report_delivery
from .admin import AdminResource, actor_of
from .admin_records import page_limit, plain, query_params
from .common import strict_body

STATEMENT_PARAMS = ("client", "service", "period")


def _no_store(resp) -> None:
    resp.cache_control = ["no-store"]


class Analytics(AdminResource):
    """GET ?range=1|7|30|90 (days, default 7) &by=service|client|route (default service) &client= &service="""

    def on_get(self, req, resp):
        self._reader(req)
        params = query_params(req, ("range", "by", "client", "service"))
        resp.media = plain(analytics.analytics(self._db, params.get("range", 7), params.get("by"),
                                               app_id=params.get("client"), service=params.get("service")))
        _no_store(resp)


def _statement(req, db):
    params = query_params(req, STATEMENT_PARAMS)
    p = client_reports.period(params.get("period"))
    sc = client_reports.scope(db, params.get("client"), params.get("service"))
    return sc, p, client_reports.statement(db, sc, p)


class Statement(AdminResource):
    """GET ?client= and/or ?service=, ?period=YYYY-MM-DD (daily) or YYYY-MM (monthly): the figures."""

    def on_get(self, req, resp):
        self._reader(req)
        _, _, data = _statement(req, self._db)
        resp.media = plain(data)
        _no_store(resp)


class StatementCsv(AdminResource):
    """The same statement as CSV: the figures, a blank line, then the line items (the transactions CSV's
    columns and rows for the same filters)."""

    def on_get(self, req, resp):
        self._reader(req)
        sc, p, data = _statement(req, self._db)  # a bad parameter is a JSON 422 before any byte is sent
        resp.content_type = "text/csv; charset=utf-8"
        resp.downloadable_as = client_reports.filename(data)
        resp.stream = client_reports.statement_csv(self._db, sc, p, data)
        _no_store(resp)


class Recipients(AdminResource):
    """GET ?client=: who receives statements. POST {"client", "email", "daily"?, "monthly"?}: add (or
    change) one; audited."""

    def on_get(self, req, resp):
        self._reader(req)
        params = query_params(req, ("client",))
        client_id = None
        if params.get("client"):
            client_id = client_reports.scope(self._db, params["client"]).client_id
        resp.media = {"items": plain(report_delivery.recipients(self._db, client_id))}

    def on_post(self, req, resp):
        user = self._writer(req)
        data = strict_body(req, self._config, ("client", "email", "daily", "monthly"))
        resp.media = plain(report_delivery.add_recipient(self._db, actor_of(req, user), data))
        resp.status = falcon.HTTP_201


class Recipient(AdminResource):
    def on_get(self, req, resp, recipient_id):
        self._reader(req)
        resp.media = plain(report_delivery.recipient(self._db, recipient_id))

    def on_delete(self, req, resp, recipient_id):
        user = self._writer(req)
        report_delivery.remove_recipient(self._db, actor_of(req, user), recipient_id)
        resp.status = falcon.HTTP_204


class Deliveries(AdminResource):
    """GET ?client= &after= &limit=: the delivery log, newest first."""

    def on_get(self, req, resp):
        self._reader(req)
        params = query_params(req, ("client", "after", "limit"))
        client_id = None
        if params.get("client"):
            client_id = client_reports.scope(self._db, params["client"]).client_id
        rows, following = report_delivery.deliveries_page(self._db, params.get("after"), page_limit(params),
                                                          client_id)
        resp.media = {"items": plain(rows), "next": following}
