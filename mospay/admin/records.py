"""Transactions, API logs and security events: filtered keyset-paged lists, the API log detail page, and a
streamed CSV export (the transaction detail page is in operations.py, with the operator's actions)."""

from __future__ import annotations

import falcon

from .. import errors, reports
from .web import render

FILTER_KEYS = ("client", "service", "status", "kind", "from", "to", "q")


def _params(req) -> dict:
    return {k: (req.get_param(k) or "").strip() for k in (*FILTER_KEYS, "after")}


def _query(params: dict, **extra) -> str:
    kept = {k: v for k, v in {**params, **extra}.items() if v and k in (*FILTER_KEYS, "after")}
    return falcon.to_query_str(kept) if kept else ""


def _list(req, resp, template, partial, filter_fn, page_fn, **context):
    params = _params(req)
    try:
        rows, after = page_fn(context.pop("db"), filter_fn(params))
        error = None
    except errors.InvalidField as exc:  # a bad filter shows the form with the message, not an error page
        rows, after, error = [], None, f"{exc.field}: {exc.message}"
    params_no_cursor = {k: v for k, v in params.items() if k != "after"}
    render(req, resp, template, partial=partial, rows=rows, f=params, error=error,
           next_url=f"{req.path}{_query(params_no_cursor, after=after)}" if after else None,
           first_url=f"{req.path}{_query(params_no_cursor)}" if params["after"] else None,
           export_query=_query(params_no_cursor), **context)


class Transactions:
    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        _list(req, resp, "admin/transactions.html", "admin/_transactions_table.html",
              reports.transaction_filters, reports.transactions_page, db=self._db,
              statuses=reports.STATUSES)


class TransactionsCsv:
    """The current filter as CSV, streamed in keyset batches: never built in memory (reports.transactions_csv,
    which the admin API's export streams too)."""

    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        filters = reports.transaction_filters({k: v for k, v in _params(req).items() if k != "after"})
        resp.content_type = "text/csv; charset=utf-8"
        resp.downloadable_as = "transactions.csv"
        resp.stream = reports.transactions_csv(self._db, filters)


class ApiLogs:
    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        _list(req, resp, "admin/api_logs.html", "admin/_api_logs_table.html",
              reports.api_log_filters, reports.api_logs_page, db=self._db)


class ApiLogItem:
    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp, log_id):
        render(req, resp, "admin/api_log.html", log=reports.api_log(self._db, log_id))


class SecurityEvents:
    """Failed and throttled authentications, rate-limit hits: read by every role, like the other lists."""

    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        _list(req, resp, "admin/security.html", "admin/_security_table.html",
              reports.security_event_filters, reports.security_events_page, db=self._db,
              kinds=reports.SECURITY_KINDS)
