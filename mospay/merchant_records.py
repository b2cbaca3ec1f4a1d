"""A merchant's own records: transactions (the admin portal's filters, keyset pages, totals, streamed CSV,
detail with webhook deliveries) and API calls, every statement scoped to the signed-in client in SQL."""

from __future__ import annotations

from . import reports, webhooks
from .db import Database

# The admin filters minus the client (it is the signed-in one) and the operator's stuck queue.
TRANSACTION_FILTERS = ("service", "status", "f010", "msisdn", "from", "to", "q", "after")
API_LOG_FILTERS = ("status", "from", "to", "q", "after")


def _scope(client_id) -> int:
    if isinstance(client_id, bool) or not isinstance(client_id, int):
        raise TypeError("client_id must be the signed-in client's id")  # a bug, never a wider query
    return client_id


def transaction_filters(params: dict, client_id: int) -> dict:
    """reports.transaction_filters on the merchant's own names only (anything else is ignored, as an
    unknown query parameter is on a web page), scoped to the client."""
    kept = {k: params[k] for k in TRANSACTION_FILTERS if params.get(k)}
    return {**reports.transaction_filters(kept), "client_id": _scope(client_id)}


def api_log_filters(params: dict, client_id: int) -> dict:
    kept = {k: params[k] for k in API_LOG_FILTERS if params.get(k)}
    return {**reports.api_log_filters(kept), "client_id": _scope(client_id)}


def transactions_page(db: Database, filters: dict, limit: int = reports.PAGE_SIZE):
    _scope(filters.get("client_id"))
    return reports.transactions_page(db, filters, limit)


def transaction_totals(db: Database, filters: dict) -> list[dict]:
    _scope(filters.get("client_id"))
    return reports.transaction_totals(db, filters)


def transactions_csv(db: Database, filters: dict):
    """Every filtered row of the client's, streamed in keyset batches: the admin export's own code."""
    _scope(filters.get("client_id"))
    return reports.transactions_csv(db, filters)


def api_logs_page(db: Database, filters: dict, limit: int = reports.PAGE_SIZE):
    _scope(filters.get("client_id"))
    return reports.api_logs_page(db, filters, limit)


def api_log(db: Database, client_id: int, log_id: str) -> dict:
    return reports.api_log(db, log_id, client_id=_scope(client_id))


def transaction(db: Database, client_id: int, transaction_id: str) -> dict:
    """The masked request, the status history (no operator names) and each webhook event with its
    delivery attempts; another client's transaction id is simply not found."""
    row = reports.transaction(db, transaction_id, client_id=_scope(client_id))
    row["webhook_events"] = webhooks.events_of_own_transaction(db, client_id, row["public_id"])
    for key in ("provider_response", "stuck", "check_attempts", "next_check_at"):
        row.pop(key, None)  # the provider's raw answer and the reconciler's bookkeeping are the operator's
    return row
