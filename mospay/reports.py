"""Read-only reports for the portal: dashboard figures, transaction and API-log lists, CSV rows.

Lists page by keyset on (created_at, id), so the thousandth page costs what the first does.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

from . import errors, functions, validators
from .db import Database
from .payments import F010_RE, MSISDN_RE  # the payment path's own rules for both
from .redact import mask

STATUSES = ("RECEIVED", "PENDING", "SUCCESSFUL", "FAILED", "UNKNOWN")
PAGE_SIZE = 50
CSV_BATCH = 500
CSV_COLUMNS = ("public_id", "created_at", "updated_at", "app_id", "service", "route", "f010", "status",
               "amount", "currency", "msisdn", "provider_http_status")
# Kinds written today (mospay/security.py, the API guard, the portal sign-in); the filter accepts any
# well-formed kind, so a new one is browsable before this list learns about it.
SECURITY_KINDS = ("auth_failure", "admin_auth_failure", "auth_blocked", "rate_limited", "portal_login_failure",
                  "portal_login_blocked", "admin_auth_blocked", "merchant_login_failure", "merchant_login_blocked",
                  "merchant_totp_failure", "merchant_totp_blocked", "merchant_reset_request")
_KIND_RE = re.compile(r"[a-z_]{1,40}")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"[+-][0-9]+(\.[0-9]+)?")


def _date(value: str | None, field: str) -> dt.datetime | None:
    if not value:
        return None
    if not _DATE_RE.fullmatch(value):
        raise errors.InvalidField("must be a date like 2026-01-31", field=field)
    try:
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise errors.InvalidField("must be a date like 2026-01-31", field=field) from None


def _common(params: dict) -> dict:
    """Filters shared by both lists; the date range is [from, to] inclusive of whole days (UTC)."""
    app_id = params.get("client") or None
    if app_id is not None:
        functions.check_app_id(app_id, "client")
    date_to = _date(params.get("to"), "to")
    q = (params.get("q") or "").strip() or None
    if q is not None and (len(q) > 64 or "\x00" in q):  # NUL failed in PostgreSQL mid-way through a CSV stream
        raise errors.InvalidField("must be at most 64 characters", field="q")
    after_at, after_id = validators.cursor(params.get("after"))
    if date_to is not None and date_to.year == dt.MAXYEAR:
        raise errors.InvalidField("is too far in the future", field="to")
    # client_id: the merchant portal's scope (mospay.merchant_records), None for an operator.
    return {"client_id": None, "app_id": app_id, "date_from": _date(params.get("from"), "from"),
            "date_to": date_to + dt.timedelta(days=1) if date_to else None, "q": q,
            "after_at": after_at, "after_id": after_id}


def transaction_filters(params: dict) -> dict:
    """The portal's filters, and the admin API's exact f010, msisdn and stuck=true|false (open and waiting
    for an operator, or not)."""
    filters = _common(params)
    service = params.get("service") or None
    if service is not None:
        functions.check_name(service, "service")
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        raise errors.InvalidField(f"must be one of {', '.join(STATUSES)}", field="status")
    f010 = params.get("f010") or None
    if f010 is not None and not F010_RE.fullmatch(f010):
        raise errors.InvalidField("must be 1-64 of A-Za-z0-9_.:-", field="f010")
    msisdn = params.get("msisdn") or None
    if msisdn is not None and not MSISDN_RE.fullmatch(msisdn):
        raise errors.InvalidField("must be a mobile number like +250788123456", field="msisdn")
    stuck = params.get("stuck") or None
    if stuck is not None and stuck not in ("true", "false"):
        raise errors.InvalidField("must be true or false", field="stuck")
    return {**filters, "service": service, "status": status, "f010": f010,
            "msisdn": msisdn.lstrip("+") if msisdn else None, "stuck": None if stuck is None else stuck == "true"}


def api_log_filters(params: dict) -> dict:
    filters = _common(params)
    status_class = params.get("status") or None
    if status_class is not None and status_class not in ("2", "3", "4", "5"):
        raise errors.InvalidField("must be 2, 3, 4 or 5 (for 2xx ... 5xx)", field="status")
    return {**filters, "status_class": int(status_class) if status_class else None}


def security_event_filters(params: dict) -> dict:
    """Kind, app id (client), dates, and an exact IP address or username in q."""
    filters = _common(params)
    kind = params.get("kind") or None
    if kind is not None and not _KIND_RE.fullmatch(kind):
        raise errors.InvalidField("must be a kind like auth_failure", field="kind")
    return {**filters, "kind": kind}


def keyset_page(db: Database, name: str, filters: dict, limit: int) -> tuple[list[dict], str | None]:
    """One page of a keyset-paged named query (ordered by (created_at, id)): asks one row more than
    `limit` to know whether there is a next page, and answers the rows and the next page's cursor."""
    rows = db.query(name, **filters, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (validators.cursor_text(rows[-1]) if more else None)


def transactions_page(db: Database, filters: dict, limit: int = PAGE_SIZE):
    return keyset_page(db, "transactions_page", filters, limit)


def api_logs_page(db: Database, filters: dict, limit: int = PAGE_SIZE):
    return keyset_page(db, "api_logs_page", filters, limit)


def security_events_page(db: Database, filters: dict, limit: int = PAGE_SIZE):
    return keyset_page(db, "security_events_page", filters, limit)


def transaction_rows(db: Database, filters: dict):
    """Every row matching the filters, fetched in keyset batches so memory stays flat for any size."""
    filters = dict(filters)
    while True:
        rows = db.query("transactions_page", **filters, limit=CSV_BATCH)
        yield from rows
        if len(rows) < CSV_BATCH:
            return
        filters["after_at"], filters["after_id"] = rows[-1]["created_at"], rows[-1]["id"]


def csv_cell(value) -> str:
    """Neutralise spreadsheet formulas: a cell starting with = @ (or +/- unless the cell is just a number,
    such as an msisdn: "-2-3", a valid f010, would otherwise be computed)."""
    text = "" if value is None else (value.isoformat() if hasattr(value, "isoformat") else str(value))
    if text[:1] in ("=", "@", "\t", "\r") or (text[:1] in ("+", "-") and not _NUMBER.fullmatch(text)):
        return "'" + text
    return text


def transactions_csv(db: Database, filters: dict, flush_every: int = 200):
    """The filtered transactions as CSV bytes (a header row, then one row each), in chunks: rows come from
    transaction_rows' keyset batches, so neither side ever holds the whole export."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for count, row in enumerate(transaction_rows(db, filters), 1):
        writer.writerow([csv_cell(row[c]) for c in CSV_COLUMNS])
        if count % flush_every == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def transaction_totals(db: Database, filters: dict) -> list[dict]:
    """Per currency: how many rows the filters select on every page together, their amount and the
    successful amount (the named query repeats the page's FROM and WHERE; a unit test keeps them equal)."""
    return db.query("transaction_totals", **filters)


def transaction(db: Database, public_id: str, client_id: int | None = None) -> dict:
    """One transaction with its history (request and answers masked). With client_id (the merchant
    portal), only that client's: the lookup itself is scoped, and the history leaves out operators' names."""
    if not re.fullmatch(r"txn_[0-9a-f]{1,64}", public_id or ""):
        raise errors.NotFound("no such transaction")
    rows = db.query("transaction_detail", public_id=public_id, client_id=client_id)
    if not rows:
        raise errors.NotFound("no such transaction")
    row = rows[0]
    # Stored masked already; masked again so nothing older or hand-inserted shows a secret.
    for key in ("request", "provider_response", "result", "response_body"):
        row[key] = mask(row[key])
    row["events"] = (db.query("transaction_events", transaction_id=row["id"]) if client_id is None
                     else db.query("own_transaction_events", transaction_id=row["id"], client_id=client_id))
    return row


def api_log(db: Database, log_id: str, client_id: int | None = None) -> dict:
    if not re.fullmatch(r"\d{1,18}", log_id or ""):
        raise errors.NotFound("no such API log entry")
    rows = db.query("api_log_detail", id=int(log_id), client_id=client_id)
    if not rows:
        raise errors.NotFound("no such API log entry")
    row = rows[0]
    row["request_body"], row["response_body"] = mask(row["request_body"]), mask(row["response_body"])
    return row


def client_recent(db: Database, client_id: int) -> list[dict]:
    return db.query("client_recent_transactions", client_id=client_id)


def dashboard(db: Database) -> dict:
    totals = db.query("dashboard_totals")[0]
    settled = totals["today_settled"]
    totals["success_rate"] = round(100 * totals["today_successful"] / settled, 1) if settled else None
    hourly = {}
    for row in db.query("dashboard_hourly"):
        hourly.setdefault(min(row["hours_ago"], 23), {}).setdefault(row["status"], 0)
        hourly[min(row["hours_ago"], 23)][row["status"]] += row["n"]
    no_filters = transaction_filters({})
    return {"totals": totals, "volume": db.query("dashboard_volume"), "hourly": hourly,
            "recent": transactions_page(db, no_filters, 8)[0],
            "calls": api_logs_page(db, api_log_filters({}), 8)[0],
            "stuck": db.query("dashboard_stuck"), "backlog": reconciler_backlog(db)}


def reconciler_backlog(db: Database) -> dict:
    """{"open": still being checked by the reconciler, "stuck": waiting for an operator}"""
    return db.query("reconciler_backlog")[0]
