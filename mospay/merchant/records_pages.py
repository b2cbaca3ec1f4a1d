"""The merchant's transactions (the admin portal's filters, keyset pages, totals and streamed CSV; the
detail page with masked request, history and webhook deliveries with Resend) and its own API calls."""

from __future__ import annotations

import falcon

from .. import errors, merchant_keys, merchant_records as records, merchant_refunds, reports
from .web import actor, render, see_other

_EXPORT = ("service", "status", "from", "to", "q")


def _params(req, names) -> dict:
    return {k: (req.get_param(k) or "").strip() for k in names}


def _query(params: dict, **extra) -> str:
    kept = {k: v for k, v in {**params, **extra}.items() if v}
    return falcon.to_query_str(kept) if kept else ""


def _list(req, resp, template, partial, names, filter_fn, page_fn, totals_fn=None, **context):
    """One filtered keyset page (and its totals); a bad filter shows the form with the message."""
    me, params = req.context.merchant, _params(req, names)
    try:
        filters = filter_fn(params, me.client_id)
        rows, after = page_fn(context.pop("db_"), filters)
        totals, error = (totals_fn(filters) if totals_fn else None), None
    except errors.InvalidField as exc:
        rows, after, totals, error = [], None, None, f"{exc.field}: {exc.message}"
    plain = {k: v for k, v in params.items() if k != "after"}
    resp.vary = ("HX-Request",)
    render(req, resp, template, partial=partial, rows=rows, f=params, error=error, totals=totals,
           next_url=f"{req.path}{_query(plain, after=after)}" if after else None,
           first_url=f"{req.path}{_query(plain)}" if params.get("after") else None,
           export_query=_query({k: v for k, v in plain.items() if k in _EXPORT}), **context)


class Transactions:
    actions = {"GET": "read"}

    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        _list(req, resp, "merchant/transactions.html", "merchant/_transactions_table.html",
              (*_EXPORT, "after"), records.transaction_filters, records.transactions_page,
              lambda filters: records.transaction_totals(self._db, filters), db_=self._db,
              statuses=reports.STATUSES)


class TransactionsCsv:
    """Every row of the current filter, streamed in keyset batches (the admin export's own code)."""
    actions = {"GET": "export"}

    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        filters = records.transaction_filters(_params(req, _EXPORT), req.context.merchant.client_id)
        resp.content_type = "text/csv; charset=utf-8"
        resp.downloadable_as = "transactions.csv"
        resp.cache_control = ["no-store"]
        resp.stream = records.transactions_csv(self._db, filters)


class TransactionItem:
    actions = {"GET": "read"}

    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp, transaction_id):
        self.show(req, resp, transaction_id)

    def show(self, req, resp, transaction_id, *, status=falcon.HTTP_200, refund_error=None, refund_draft=None):
        """The page; with a refund form's refusal, its message and the draft (refunds_pages.TransactionRefund)."""
        me = req.context.merchant
        t = records.transaction(self._db, me.client_id, transaction_id)
        rows = merchant_refunds.of_payment(self._db, me, transaction_id)
        draft = refund_draft or {}
        render(req, resp, "merchant/transaction.html", status=status, t=t, refunds=rows,
               refund_notice=merchant_refunds.notice(rows, req.get_param("refund")), refund_error=refund_error,
               refund_draft=draft, refund_token=draft.get("refund_id") or merchant_refunds.new_refund_id())


class TransactionResend:
    """POST /portal/transactions/{transaction_id}/webhooks/{event_id}/resend: one of this transaction's
    events, of the signed-in user's client (otherwise 404, nothing queued)."""
    actions = {"POST": "webhooks"}

    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp, transaction_id, event_id):
        records.transaction(self._db, req.context.merchant.client_id, transaction_id)
        see_other(resp, f"/portal/transactions/{transaction_id}#webhooks")

    def on_post(self, req, resp, transaction_id, event_id):
        me = req.context.merchant
        t = records.transaction(self._db, me.client_id, transaction_id)
        if event_id not in {e["event_id"] for e in t["webhook_events"]}:
            raise errors.NotFound("this transaction has no such webhook event", code="event_not_found")
        merchant_keys.resend(self._db, actor(req), me, event_id)
        see_other(resp, f"/portal/transactions/{transaction_id}#webhooks")


class ApiLogs:
    actions = {"GET": "api_logs"}

    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        _list(req, resp, "merchant/api_logs.html", "merchant/_api_logs_table.html", ("status", "from", "to", "q",
              "after"), records.api_log_filters, records.api_logs_page, db_=self._db)


class ApiLogItem:
    actions = {"GET": "api_logs"}

    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp, log_id):
        render(req, resp, "merchant/api_log.html", log=records.api_log(self._db, req.context.merchant.client_id, log_id))
