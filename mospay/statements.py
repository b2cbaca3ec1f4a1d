"""Provider statements: parse the provider's CSV (streamed, flat memory), store its lines in batches, match
them against transactions in SQL (mospay.match_statement), and work the exception queue. No HTTP here."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import tempfile
from decimal import Decimal, InvalidOperation

from . import actions, errors, validators
from .audit import Actor, audit
from .db import Database

FIELDS = ("reference", "amount", "currency", "status", "date")
REQUIRED = ("amount", "date")  # a line without a reference is matched by amount and time
DEFAULT_COLUMNS = {field: field for field in FIELDS}
KINDS = ("missing_in_gateway", "missing_at_provider", "amount_mismatch", "status_mismatch",
         "currency_mismatch", "duplicate")
BATCH = 5000
CHUNK = 64 * 1024
# Providers name outcomes their own way; anything else is kept (upper case) and compared as it is.
STATUS_WORDS = {"SUCCESSFUL": "SUCCESSFUL", "SUCCESS": "SUCCESSFUL", "SUCCEEDED": "SUCCESSFUL",
                "COMPLETED": "SUCCESSFUL", "OK": "SUCCESSFUL", "FAILED": "FAILED", "FAILURE": "FAILED",
                "REJECTED": "FAILED", "DECLINED": "FAILED", "PENDING": "PENDING"}
OPEN = ("RECEIVED", "PENDING", "UNKNOWN")


def _service_id(db: Database, service: str) -> int:
    return actions.service(db, service)["id"]  # 404 service_not_found for an unknown name


def statement_format(db: Database, service: str) -> dict:
    row = db.one("statement_format", service_id=_service_id(db, service))
    return {"service": service, "columns": row["columns"] if row else dict(DEFAULT_COLUMNS)}


def set_statement_format(db: Database, actor: Actor, service: str, data: dict) -> dict:
    """`columns`: logical field -> the header the provider's file uses for it (unnamed fields keep theirs)."""
    before = statement_format(db, service)
    columns = data.get("columns")
    unknown = set(data) - {"columns"}
    if unknown:
        raise errors.InvalidField("unknown field", field=sorted(unknown)[0], code="unknown_field")
    if not isinstance(columns, dict) or not columns:
        raise errors.InvalidField("must be an object: field -> column header", field="columns")
    merged = dict(DEFAULT_COLUMNS)
    for field, header in columns.items():
        if field not in FIELDS:
            raise errors.InvalidField(f"unknown statement field (one of {', '.join(FIELDS)})",
                                      field=f"columns.{field}", code="unknown_field")
        if not isinstance(header, str) or not 1 <= len(header.strip()) <= 100:
            raise errors.InvalidField("must be a column header of 1-100 characters", field=f"columns.{field}")
        merged[field] = header.strip()
    if len({h.lower() for h in merged.values()}) != len(merged):
        raise errors.InvalidField("two fields name the same column", field="columns")
    db.query("statement_format_save", service_id=_service_id(db, service), columns=json.dumps(merged))
    audit(db, actor, "statement.format", "service", service, before["columns"], merged)
    return {"service": service, "columns": merged}


def _spool(stream, max_bytes: int):
    """The upload copied to a temporary file (memory past 1 MB stays flat) and its sha256."""
    spool = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            spool.close()
            raise errors.PayloadTooLarge(f"the statement is larger than {max_bytes} bytes",
                                         code="statement_too_large")
        digest.update(chunk)
        spool.write(chunk)
    if size == 0:
        spool.close()
        raise errors.BadRequest("the statement is empty", code="bad_statement")
    spool.seek(0)
    return spool, digest.hexdigest()


def _bad(message: str, line: int | None = None) -> errors.BadRequest:
    return errors.BadRequest(message if line is None else f"line {line}: {message}", code="bad_statement")


def _amount(value: str, line: int) -> str:
    try:
        amount = Decimal(value.strip().replace(" ", ""))
    except InvalidOperation:
        raise _bad(f"amount {value[:40]!r} is not a number", line) from None
    if not amount.is_finite() or abs(amount) >= Decimal("1e16") or amount != amount.quantize(Decimal("0.01")):
        raise _bad(f"amount {value[:40]!r} is not an amount with at most 2 decimals", line)
    return str(amount)


def _date(value: str, line: int) -> str:
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise _bad(f"date {value[:40]!r} is not an ISO 8601 date or date-time", line) from None
    if when.tzinfo is None:  # a provider's local-less date is taken as UTC
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.isoformat()


def _lines(spool, columns: dict):
    """Parsed lines as dicts, one at a time; a 400 naming the line for anything unreadable."""
    text = io.TextIOWrapper(spool, encoding="utf-8-sig", errors="strict", newline="")
    line = 1
    try:
        header_line = text.readline()
        # The separator is the one that makes the header name every required column.
        wanted = [columns[f].lower() for f in REQUIRED]
        for delimiter in (",", ";", "\t", "|"):
            header = [h.strip().lower() for h in next(csv.reader([header_line], delimiter=delimiter), [])]
            if all(w in header for w in wanted):
                break
        else:
            missing = [columns[f] for f in REQUIRED]
            raise _bad(f"the header must name the columns {', '.join(missing)} (separated by ',', ';', tab or "
                       f"'|'); it reads {header_line.strip()[:200]!r}")
        index = {f: header.index(columns[f].lower()) for f in FIELDS if columns[f].lower() in header}
        width = len(header)
        for row in csv.reader(text, delimiter=delimiter):
            line += 1
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != width:
                raise _bad(f"{len(row)} fields where the header has {width}", line)
            get = {f: row[i].strip() for f, i in index.items()}
            currency = get.get("currency") or None
            if currency is not None:
                currency = currency.upper()
                if not re.fullmatch(r"[A-Z]{3}", currency):
                    raise _bad(f"currency {currency[:20]!r} is not a 3-letter code", line)
            status = (get.get("status") or "").upper() or None
            reference = get.get("reference") or None
            if reference is not None and len(reference) > 200:
                raise _bad("the reference is longer than 200 characters", line)
            if status is not None and len(status) > 40:
                raise _bad("the status is longer than 40 characters", line)
            yield {"line_no": line, "reference": reference, "amount": _amount(get["amount"], line),
                   "currency": currency, "status": STATUS_WORDS.get(status, status),
                   "occurred_at": _date(get["date"], line)}
    except UnicodeDecodeError:
        raise _bad("the statement is not UTF-8 text", line + 1) from None
    except csv.Error as exc:
        raise _bad(f"unreadable CSV ({exc})", line) from None
    finally:
        text.detach()


def _answer(statement_id: int, counts: dict) -> dict:
    return {"statement_id": statement_id, "lines": counts.get("lines", 0), "matched": counts.get("matched", 0),
            **{kind: counts.get(kind, 0) for kind in KINDS}}


def upload(db: Database, actor: Actor, service: str, stream, filename: str | None, *, max_bytes: int,
           tolerance, window_s: int) -> tuple[dict, bool]:
    """Store and match a statement; (answer, created). The same file again is the same statement."""
    service_id = _service_id(db, service)
    columns = statement_format(db, service)["columns"]
    spool, sha256 = _spool(stream, max_bytes)
    try:
        existing = db.one("statement_by_hash", service_id=service_id, sha256=sha256)
        if existing is not None:
            return _answer(existing["id"], existing["counts"]), False
        try:
            return _store(db, actor, service, service_id, spool, sha256, filename, columns, tolerance, window_s), True
        except errors.Conflict:  # the same file, uploaded at the same moment by someone else: theirs
            existing = db.one("statement_by_hash", service_id=service_id, sha256=sha256)
            if existing is None:
                raise
            return _answer(existing["id"], existing["counts"]), False
    finally:
        spool.close()


def _store(db: Database, actor: Actor, service: str, service_id: int, spool, sha256: str, filename, columns,
           tolerance, window_s) -> dict:
    with db.transaction() as tx:  # a bad line anywhere leaves nothing behind
        statement_id = tx.query("statement_insert", service_id=service_id, sha256=sha256,
                                filename=(filename or "")[:200] or None, uploaded_by=actor.username)[0]["id"]
        batch = []
        for parsed in _lines(spool, columns):
            batch.append(parsed)
            if len(batch) == BATCH:
                tx.query("statement_lines_insert", statement_id=statement_id, rows=json.dumps(batch))
                batch = []
        if batch:
            tx.query("statement_lines_insert", statement_id=statement_id, rows=json.dumps(batch))
        counts = tx.query("statement_match", statement_id=statement_id, tolerance=str(tolerance),
                          window_s=float(window_s))[0]["counts"]
        answer = _answer(statement_id, counts)
        audit(tx, actor, "statement.upload", "statement", statement_id, None,
              {"service": service, "sha256": sha256, "filename": filename, **answer})
    return answer


def statement(db: Database, statement_id) -> dict:
    key = validators.row_id(statement_id)
    row = db.one("statement_detail", id=key) if key is not None else None
    if row is None:
        raise errors.NotFound("no such statement", code="statement_not_found")
    return row


def statements_page(db: Database, before_at, before_id, limit: int) -> list[dict]:
    return db.query("statements_page", before_at=before_at, before_id=before_id, limit=limit)


def exceptions_page(db: Database, *, statement_id=None, kind=None, include_resolved=False, after=None,
                    limit: int = 50) -> list[dict]:
    if kind is not None and kind not in KINDS:
        raise errors.InvalidField(f"must be one of {', '.join(KINDS)}", field="kind")
    if statement_id is not None and validators.row_id(statement_id) is None:
        raise errors.InvalidField("must be a statement id", field="statement_id")
    if after is not None and validators.row_id(after) is None:
        raise errors.InvalidField("is not a valid page cursor", field="after")
    return db.query("statement_exceptions_page", all=bool(include_resolved),
                    statement_id=None if statement_id is None else validators.row_id(statement_id), kind=kind,
                    after=validators.row_id(after) if after is not None else 0, limit=limit)


def exception(db: Database, exception_id) -> dict:
    row = db.one("statement_exception", id=validators.row_id(exception_id)) if validators.row_id(exception_id) is not None else None
    if row is None:
        raise errors.NotFound("no such statement exception", code="exception_not_found")
    return row


def _reason(reason) -> str:
    if not isinstance(reason, str) or not 3 <= len(reason.strip()) <= 500:
        raise errors.InvalidField("a reason of 3-500 characters is required", field="reason")
    return reason.strip()


def _close(db: Database, actor: Actor, row: dict, resolution: str, action: str, after: dict) -> dict:
    if not db.query("statement_exception_resolve", id=row["id"], resolved_by=actor.username, resolution=resolution):
        raise errors.Conflict("this exception is already resolved", code="already_resolved")
    audit(db, actor, action, "statement_exception", row["id"], {"resolved": False}, after)
    return exception(db, row["id"])


def resolve_exception(db: Database, actor: Actor, exception_id, reason) -> dict:
    """Close an exception with the operator's reason (nothing else changes; the audit row keeps why)."""
    row = exception(db, exception_id)
    if row["resolved_at"] is not None:
        raise errors.Conflict("this exception is already resolved", code="already_resolved")
    text = _reason(reason)
    return _close(db, actor, row, text, "statement_exception.resolve", {"resolved": True, "reason": text})


def settle_from_statement(db: Database, actor: Actor, exception_id, reason) -> dict:
    """A status mismatch on a transaction MosPay still holds open: settle it to the provider's status,
    through the same operator path as the stuck queue (state machine, trigger, webhook), the statement
    line named as the evidence."""
    row = exception(db, exception_id)
    if row["resolved_at"] is not None:
        raise errors.Conflict("this exception is already resolved", code="already_resolved")
    status = (row["detail"].get("provider") or {}).get("status")
    if row["kind"] != "status_mismatch" or row["transaction_status"] not in OPEN \
            or status not in ("SUCCESSFUL", "FAILED"):
        raise errors.Conflict("only a status mismatch on an open transaction, with a final provider status, "
                              "can be settled from a statement", code="not_settleable")
    evidence = f"provider statement {row['statement_id']} line {row['line_no']}: {_reason(reason)}"[:500]
    actions.resolve_transaction(db, actor, row["transaction_id"], status, evidence)
    return _close(db, actor, row, evidence, "statement_exception.settle",
                  {"resolved": True, "transaction_id": row["transaction_id"], "status": status,
                   "reason": evidence})
