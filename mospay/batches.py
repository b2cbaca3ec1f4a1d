"""Batches after upload: the status document, lists, errors and results, and the decisions on a batch
(approve, reject, pause, resume, cancel) by typed actors, audited. Shared by the client API, the admin API
and the portals; no HTTP here. Every read a client reaches passes its client_id into the SQL."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Iterator

from . import errors, reports, validators
from .audit import Actor, audit
from .db import Database

STATUSES = ("VALIDATED", "AWAITING_APPROVAL", "APPROVED", "RUNNING", "PAUSED", "COMPLETED", "REJECTED", "CANCELLED")
COUNT_KEYS = ("queued", "RECEIVED", "PENDING", "UNKNOWN", "SUCCESSFUL", "FAILED", "cancelled")
PAGE = 1000
# What each decision moves a batch to, from where (the database's guard has the last word).
DECISIONS = {"approve": ("APPROVED", ("AWAITING_APPROVAL",)),
             "reject": ("REJECTED", ("AWAITING_APPROVAL",)),
             "pause": ("PAUSED", ("APPROVED", "RUNNING")),
             "resume": (None, ("PAUSED",)),
             "cancel": ("CANCELLED", ("VALIDATED", "AWAITING_APPROVAL", "APPROVED", "RUNNING", "PAUSED"))}
# Who may take which decision: a client (its own API) never approves its own batches.
CLIENT_DECISIONS = ("pause", "resume", "cancel")
RESULT_COLUMNS = ("line", "f010", "status", "transaction_id", "message")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def actor_name(kind: str, ident) -> str:
    """A typed actor string: client:<app_id>, admin:<username>, merchant:<user_id>."""
    if kind not in ("client", "admin", "merchant"):
        raise ValueError(kind)
    return f"{kind}:{ident}"


def batch_id(value) -> str:
    if not isinstance(value, str) or not (value.startswith("bat_") and len(value) == 36 and value[4:].isalnum()):
        raise errors.NotFound("no batch with this id", field="batch_id", code="batch_not_found")
    return value


def status(db: Database, public_id: str, client_id: int | None) -> dict:
    """The status document: counts and amounts per state, rate (rows finished per second over the last
    minute) and an ETA. client_id None: an operator's view of any client's batch."""
    row = db.one("batch_summary", batch_id=batch_id(public_id), client_id=client_id)
    if row is None:
        raise errors.NotFound("no batch with this id", field="batch_id", code="batch_not_found")
    return document(row)


def document(row: dict) -> dict:
    raw = row["counts"] or {}
    counts = {k: int(raw.get(k, {}).get("n", 0)) for k in COUNT_KEYS}
    amounts = {k: str(Decimal(str(raw.get(k, {}).get("amount", 0))).quantize(Decimal("0.01"))) for k in COUNT_KEYS}
    rate, eta = None, None
    if row["finished_last_minute"] and row["window_start"] is not None:
        span = max((row["now"] - row["window_start"]).total_seconds(), 1.0)
        rate = round(row["finished_last_minute"] / span, 2)
    if rate and row["status"] in ("APPROVED", "RUNNING"):
        eta = round(counts["queued"] / rate, 1)
    return {"batch_id": row["batch_id"], "name": row["name"], "status": row["status"], "client": row["app_id"],
            "rows": row["rows"], "valid_rows": row["valid_rows"], "invalid_rows": row["invalid_rows"],
            "total_amount": str(row["total_amount"]), "counts": counts, "amounts": amounts,
            "uploaded_by": row["uploaded_by"], "approved_by": row["approved_by"],
            "rejected_by": row["rejected_by"], "reject_reason": row["reject_reason"],
            "cancelled_by": row["cancelled_by"], "file_errors": row["file_errors"] or [],
            "created_at": _iso(row["created_at"]), "started_at": _iso(row["started_at"]),
            "finished_at": _iso(row["finished_at"]), "rate_per_s": rate, "eta_s": eta}


def _iso(value):
    return value.isoformat() if value is not None else None


def page(db: Database, client_id: int | None, *, limit: int, after: str | None, status_filter: str | None = None):
    """A keyset page of batches, newest first: (items, next cursor)."""
    if status_filter is not None and status_filter not in STATUSES:
        raise errors.InvalidField(f"must be one of {', '.join(STATUSES)}", field="status")
    after_ts, after_id = validators.cursor(after)
    rows, nxt = reports.keyset_page(db, "batches_page", {"client_id": client_id, "status": status_filter,
                                                         "after_ts": after_ts, "after_id": after_id}, limit)
    return [_item(r) for r in rows], nxt


def _item(row: dict) -> dict:
    return {"batch_id": row["batch_id"], "name": row["name"], "status": row["status"], "client": row["app_id"],
            "rows": row["rows"], "valid_rows": row["valid_rows"], "invalid_rows": row["invalid_rows"],
            "total_amount": str(row["total_amount"]), "uploaded_by": row["uploaded_by"],
            "approved_by": row["approved_by"], "created_at": _iso(row["created_at"]),
            "finished_at": _iso(row["finished_at"])}


def error_rows(db: Database, public_id: str, client_id: int | None) -> Iterator[dict]:
    """The invalid rows (line, field, message, code), then the file's own problems (line null)."""
    summary = status(db, public_id, client_id)  # 404 for another client's batch
    after = 0
    while True:
        rows = db.query("batch_errors", batch_id=public_id, client_id=client_id, after_line=after, limit=PAGE)
        for row in rows:
            for err in row["errors"]:
                yield {"line": row["line_no"], "field": err.get("field"), "message": err.get("message"),
                       "code": err.get("code")}
        if len(rows) < PAGE:
            break
        after = rows[-1]["line_no"]
    for err in summary["file_errors"]:
        yield {"line": None, "field": err.get("field"), "message": err.get("message"), "code": err.get("code")}


def result_rows(db: Database, public_id: str, client_id: int | None) -> Iterator[dict]:
    status(db, public_id, client_id)  # 404 for another client's batch, before the first byte is sent
    after = 0
    while True:
        rows = db.query("batch_results", batch_id=public_id, client_id=client_id, after_line=after, limit=PAGE)
        for row in rows:
            yield {"line": row["line_no"], "f010": row["f010"], "status": row["status"],
                   "transaction_id": row["transaction_id"], "message": row["message"]}
        if len(rows) < PAGE:
            break
        after = rows[-1]["line_no"]


def safe_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: a value starting like a formula gets a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_stream(columns: tuple[str, ...], rows: Iterator[dict]) -> Iterator[bytes]:
    """Rows as CSV bytes, a few hundred rows per chunk (memory stays flat for any batch)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for n, row in enumerate(rows, start=1):
        writer.writerow([safe_cell(row[c]) for c in columns])
        if n % 500 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def decide(db: Database, actor: Actor, who: str, public_id: str, decision: str, *, client_id: int | None,
           reason: str | None = None) -> dict:
    """One decision on a batch by `who` (a typed actor string), audited with the actor; answers the
    status document. A client (client_id set) may pause, resume and cancel its own batches only."""
    if decision not in DECISIONS:
        raise errors.NotFound("unknown batch action")
    if client_id is not None and who.startswith("client:") and decision not in CLIENT_DECISIONS:
        raise errors.Forbidden("a client cannot approve or reject its own batches", code="insufficient_role")
    if decision == "reject":
        reason = validators.text({"reason": reason}, "reason", max_length=500)
    before = status(db, public_id, client_id)
    target, allowed_from = DECISIONS[decision]
    if before["status"] not in allowed_from:
        raise errors.Conflict(f"a {before['status']} batch cannot be {_past(decision)}", code="batch_state")
    if decision == "resume":
        target = "RUNNING" if before["started_at"] else "APPROVED"
    with db.transaction() as tx:
        changed = tx.one("batch_decide", batch_id=public_id, client_id=client_id, status=target, actor=who,
                         reason=reason)
        if decision == "cancel":
            tx.query("batch_cancel_rows", id=changed["id"])
        audit(tx, actor, f"batch.{decision}", "batch", public_id, {"status": before["status"]},
              {"status": target, "by": who, **({"reason": reason} if reason else {})})
    return status(db, public_id, client_id)


def _past(decision: str) -> str:
    return {"approve": "approved", "reject": "rejected", "pause": "paused", "resume": "resumed",
            "cancel": "cancelled"}[decision]


def auto_approve(db: Database, app_id: str) -> dict:
    row = db.one("batch_client", app_id=app_id)
    if row is None:
        raise errors.NotFound("unknown client", field="app_id", code="client_not_found")
    value = row["batch_auto_approve_max"]
    return {"app_id": app_id, "auto_approve_max": None if value is None else str(value)}


def set_auto_approve(db: Database, actor: Actor, app_id: str, value) -> dict:
    """The client's auto-approval threshold (a batch total up to it approves itself); null removes it."""
    if value is not None and value != "":
        value = str(validators.amount(value if isinstance(value, str) else "", "auto_approve_max"))
    else:
        value = None
    before = auto_approve(db, app_id)
    db.query("batch_set_auto_approve", app_id=app_id, max=value)
    after = auto_approve(db, app_id)
    audit(db, actor, "client.batch_auto_approve", "client", app_id, before, after)
    return after


def service_limits(db: Database, service: str) -> dict:
    row = db.one("batch_service_limits", name=service)
    if row is None:
        raise errors.NotFound("unknown service", field="service", code="service_not_found")
    return {"service": row["name"], "max_in_flight": row["max_in_flight"], "max_per_second": row["max_per_second"]}


def _limit(data: dict, key: str, maximum: int) -> int | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 6:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise errors.InvalidField(f"must be a whole number from 1 to {maximum}, or null (no limit)", field=key)
    return value


def set_service_limits(db: Database, actor: Actor, service: str, data: dict) -> dict:
    """How hard batch rows may press a service's provider, across every process (null: no limit)."""
    before = service_limits(db, service)
    db.query("batch_set_service_limits", name=service, max_in_flight=_limit(data, "max_in_flight", 10000),
             max_per_second=_limit(data, "max_per_second", 100000))
    after = service_limits(db, service)
    audit(db, actor, "service.batch_limits", "service", service, before, after)
    return after
