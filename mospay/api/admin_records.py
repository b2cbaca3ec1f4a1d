"""Admin API for the records the portal browses: transactions (list, detail with history and webhook
deliveries, CSV export, the operator's resolution), webhook resends, API logs, security events and the
audit trail. Each responder calls the function the portal calls (mospay.reports, mospay.actions)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import falcon

from .. import actions, errors, reports, validators, webhooks
from .admin import WRITE_ROLES, AdminResource, actor_of
from .common import strict_body

# The portal's query-string names (a portal URL's filters work here unchanged), plus the API's exact ones.
TRANSACTION_FILTERS = ("client", "service", "status", "f010", "msisdn", "stuck", "from", "to", "q")
API_LOG_FILTERS = ("client", "status", "from", "to", "q")
SECURITY_FILTERS = ("kind", "client", "from", "to", "q")
PAGING = ("after", "limit")


def plain(value):
    """A database row as JSON: times as ISO 8601, money and other decimals as strings (never a float)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)  # inet and the like


def query_params(req, allowed: tuple) -> dict:
    """The query string as {name: text}. An unknown name, a repeated one or an empty value is a 422: a typo
    or an unset shell variable must not silently widen a list or an export."""
    found = {}
    for key, value in falcon.uri.parse_query_string(req.query_string, keep_blank=True).items():
        if key not in allowed:
            raise errors.InvalidField(f"is not a filter here (known: {', '.join(allowed)})", field=key[:40],
                                      code="unknown_field")
        if not isinstance(value, str):
            raise errors.InvalidField("must be given once", field=key)
        if not value.strip():
            raise errors.InvalidField("must not be empty (leave the parameter out instead)", field=key)
        found[key] = value.strip()
    return found


def page_limit(params: dict) -> int:
    """?limit= from the checked query string (validators.page_limit: one rule for every admin list)."""
    return validators.page_limit(params.get("limit"))


def transaction_row(row: dict) -> dict:
    """A list row: the public id as transaction_id, as the payment API names it; no internal id."""
    keys = ("f010", "status", "amount", "currency", "msisdn", "app_id", "service", "route",
            "provider_http_status", "created_at", "updated_at")
    return plain({"transaction_id": row["public_id"], **{k: row[k] for k in keys}})


def event_view(row: dict) -> dict:
    return plain({k: row[k] for k in ("event_id", "event_type", "state", "attempts", "next_attempt_at",
                                      "last_error", "delivered_at", "created_at") if k in row})


def transaction_detail(db, public_id: str) -> dict:
    """reports.transaction (request and provider bodies masked) with its status history and webhook
    deliveries, each with its attempts."""
    t = reports.transaction(db, public_id)
    history = [{"from": e["from_status"], "to": e["to_status"], "cause": e["cause"], "actor": e["actor"],
                "note": e["note"], "at": e["created_at"]} for e in t.pop("events")]
    deliveries = [{**event_view(e), "attempts_made": plain(webhooks.attempts(db, e["event_id"]))}
                  for e in webhooks.events_of_transaction(db, public_id)]
    t.pop("id")
    return plain({"transaction_id": t.pop("public_id"), **t, "events": history, "webhook_events": deliveries})


def _no_store(resp) -> None:
    resp.cache_control = ["no-store"]  # records hold customers' numbers: no shared cache keeps them


class _Records(AdminResource):
    pass


class Transactions(_Records):
    """GET /api/v1/admin/transactions: newest first, keyset pages; ?stuck=true is the operator's queue."""

    def on_get(self, req, resp):
        self._reader(req)
        params = query_params(req, (*TRANSACTION_FILTERS, *PAGING))
        rows, after = reports.transactions_page(self._db, reports.transaction_filters(params), page_limit(params))
        resp.media = {"items": [transaction_row(r) for r in rows], "next": after}
        _no_store(resp)


class TransactionsCsv(_Records):
    """GET /api/v1/admin/transactions.csv: the same filters, every matching row, streamed in keyset batches
    (reports.transactions_csv, the portal's export)."""

    def on_get(self, req, resp):
        self._reader(req)
        params = query_params(req, TRANSACTION_FILTERS)
        filters = reports.transaction_filters(params)  # a bad filter is a JSON 422 before any byte is sent
        resp.content_type = "text/csv; charset=utf-8"
        resp.downloadable_as = "transactions.csv"
        resp.stream = reports.transactions_csv(self._db, filters)
        _no_store(resp)


class TransactionItem(_Records):
    """GET /api/v1/admin/transactions/{transaction_id}"""

    def on_get(self, req, resp, transaction_id):
        self._reader(req)
        resp.media = transaction_detail(self._db, transaction_id)
        _no_store(resp)


class TransactionResolve(_Records):
    """POST {"status": "SUCCESSFUL"|"FAILED", "reason"}: the operator's resolution of an open transaction
    (actions.resolve_transaction: 404 unknown, 422 bad input, 409 already final); answers the transaction."""

    def on_post(self, req, resp, transaction_id):
        user = self._writer(req)
        data = strict_body(req, self._config, ("status", "reason"))
        actions.resolve_transaction(self._db, actor_of(req, user), transaction_id, data.get("status"),
                                    data.get("reason"))
        resp.media = transaction_detail(self._db, transaction_id)
        _no_store(resp)


class WebhookResend(_Records):
    """POST /api/v1/admin/webhook-events/{event_id}/resend: the same event (same id) goes out again at
    the next delivery pass; audited as the portal's resend is."""

    def on_post(self, req, resp, event_id):
        user = self._writer(req)
        actions.resend_webhook_event(self._db, actor_of(req, user), event_id)
        event = webhooks.event(self._db, event_id)
        resp.media = {**event_view(event), "transaction_id": event["transaction_id"]}


class ApiLogs(_Records):
    """GET /api/v1/admin/api-logs: ?status=2..5 is the class (4 for 4xx), q an endpoint prefix or request id."""

    def on_get(self, req, resp):
        self._reader(req)
        params = query_params(req, (*API_LOG_FILTERS, *PAGING))
        rows, after = reports.api_logs_page(self._db, reports.api_log_filters(params), page_limit(params))
        resp.media = {"items": [_api_log_row(r) for r in rows], "next": after}
        _no_store(resp)


def _api_log_row(row: dict) -> dict:
    duration = row.get("duration_ms")
    return plain({**row, "duration_ms": float(duration) if duration is not None else None})


class ApiLogItem(_Records):
    """GET /api/v1/admin/api-logs/{log_id}: one call with its bodies (masked, as stored)."""

    def on_get(self, req, resp, log_id):
        self._reader(req)
        row = reports.api_log(self._db, log_id)
        row.pop("client_id", None)
        resp.media = _api_log_row(row)
        _no_store(resp)


class SecurityEvents(_Records):
    """GET /api/v1/admin/security-events: failed and throttled authentications, rate-limit hits."""

    def on_get(self, req, resp):
        self._reader(req)
        params = query_params(req, (*SECURITY_FILTERS, *PAGING))
        rows, after = reports.security_events_page(self._db, reports.security_event_filters(params),
                                                   page_limit(params))
        resp.media = {"items": plain(rows), "next": after}
        _no_store(resp)


class Audit(_Records):
    """GET /api/v1/admin/audit?q=: an action (part of its name), a username or a target id, as the portal's
    search; a function's source only for the roles that may read it there."""

    def on_get(self, req, resp):
        user = self._reader(req)
        params = query_params(req, ("q", *PAGING))
        q = params.get("q") or None
        if q is not None and (len(q) > 100 or "\x00" in q):
            raise errors.InvalidField("must be at most 100 characters", field="q")
        limit = page_limit(params)
        before_at, before_id = validators.cursor(params.get("after"))
        rows = actions.audit_page(self._db, q, before_at, before_id, limit + 1,
                                  show_source=user["role"] in WRITE_ROLES)
        after = validators.cursor_text(rows[limit - 1]) if len(rows) > limit else None
        resp.media = {"items": plain(rows[:limit]), "next": after}
        _no_store(resp)

