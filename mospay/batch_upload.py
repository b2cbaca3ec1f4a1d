"""A batch upload: read a CSV (streamed, flat memory) or JSON rows, validate every row with the payment
path's own rules, store the rows in chunks, then hand the batch to approval. No HTTP here."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import tempfile
from decimal import Decimal
from typing import Iterator

from . import errors, payments, sealed, validators
from .audit import Actor, audit
from .db import Database

CHUNK_ROWS = 2000
READ_CHUNK = 64 * 1024
MAX_ROWS = 1_000_000
MAX_CELL = 4096  # longer than any field a service may define (service_fields.max_length <= 4096)
SEPARATORS = (",", ";", "\t")
SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


def _bad(message: str, line: int | None = None) -> errors.BadRequest:
    return errors.BadRequest(message if line is None else f"line {line}: {message}", code="bad_batch")


def spool(stream, max_bytes: int):
    """The body copied to a temporary file (memory past 1 MB stays flat) and its sha256."""
    spooled = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)
    digest, size = hashlib.sha256(), 0
    try:
        while chunk := stream.read(READ_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise errors.PayloadTooLarge(f"the batch is larger than {max_bytes} bytes", code="batch_too_large")
            digest.update(chunk)
            spooled.write(chunk)
    except BaseException:
        spooled.close()
        raise
    if size == 0:
        spooled.close()
        raise _bad("the batch is empty")
    spooled.seek(0)
    return spooled, digest.hexdigest()


def csv_rows(spooled) -> Iterator[tuple[int, dict]]:
    """(line number, {f-code: value}) per CSV row. The header names f-codes only, separated by commas,
    semicolons or tabs (the one that splits it into f-codes); anything unreadable is a 400 naming the line."""
    text = io.TextIOWrapper(spooled, encoding="utf-8-sig", errors="strict", newline="")
    line = 1
    try:
        header_line = text.readline()
        header = None
        for sep in SEPARATORS:
            cells = [c.strip().lower() for c in next(csv.reader([header_line], delimiter=sep), [])]
            if cells and all(validators.is_field_code(c) for c in cells) and (len(cells) > 1 or sep == ","):
                header, delimiter = cells, sep
                break
        if header is None:
            raise _bad("the first line must be a header of field codes (f000, f002, f004, f010, ...) separated "
                       f"by commas, semicolons or tabs; it reads {header_line.strip()[:120]!r}", 1)
        if len(set(header)) != len(header):
            raise _bad("a field code appears twice in the header", 1)
        width = len(header)
        reader = csv.reader(text, delimiter=delimiter, strict=True)
        for row in reader:
            line = reader.line_num + 1
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != width:
                yield line, {"_error": (None, f"{len(row)} {SEPARATOR_NAMES[delimiter]}-separated values where "
                                              f"the header has {width}", "bad_row")}
                continue
            yield line, {code: value for code, value in zip(header, row)}
    except UnicodeDecodeError:
        raise _bad("the batch is not UTF-8 text (save the CSV as UTF-8)", line + 1) from None
    except csv.Error as exc:
        raise _bad(f"unreadable CSV ({exc})", line + 1) from None
    finally:
        text.detach()


def json_rows(body: dict) -> Iterator[tuple[int, dict]]:
    """(row number, row) for a parsed {"rows": [...], "name"?}; every value a string, as in a payment body."""
    unknown = sorted(set(body) - {"rows", "name"})
    if unknown:
        raise errors.InvalidField("is not a batch field (rows, name)", field=unknown[0][:40], code="unknown_field")
    rows = body.get("rows")
    if not isinstance(rows, list):
        raise errors.InvalidField("must be a list of payment bodies", field="rows")
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            yield number, {"_error": (None, "must be an object of f-codes", "invalid_type")}
        else:
            yield number, row


def json_sha256(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


class RowValidator:
    """One client's rules for one row: the payment path's check_shape and authorise (field types,
    patterns, assigned service and route) against the context the payment path itself reads, plus the
    client's per-transaction limit. Contexts are read once per service per upload."""

    def __init__(self, gateway, client: dict):
        self._gateway = gateway
        self._client = client
        self._contexts: dict[str, dict | None] = {}

    def check(self, raw: dict) -> tuple[dict, dict | None]:
        """(body, None) for a payable row, ({}, error) otherwise; error = {"field", "message", "code"}."""
        if "_error" in raw:
            field, message, code = raw["_error"]
            return {}, {"field": field, "message": message, "code": code}
        body = {k: v for k, v in raw.items() if not (isinstance(v, str) and v == "")}
        body.setdefault("f003", self._client["app_id"])
        try:
            for key, value in body.items():
                if isinstance(value, str) and (len(value) > MAX_CELL or "\x00" in value):
                    raise errors.InvalidField(f"must be at most {MAX_CELL} characters, with no NUL", field=key[:40])
            payments.check_shape(body)
            service = body["f000"]
            if service not in self._contexts:
                self._contexts[service] = self._gateway.context(self._client["app_id"], service)
            ctx = self._contexts[service]
            if ctx is None:
                raise errors.Unauthorized("the client is unknown")
            fields = payments.authorise(ctx, body)
            if not body.get("f004"):
                raise errors.InvalidField("is required in a batch row", field="f004", code="missing_field")
            amount = validators.amount(body["f004"], "f004")
            limit = self._client["max_amount_per_transaction"]
            if limit is not None and amount > limit:
                raise errors.InvalidField("the amount is over your per-transaction limit", field="f004",
                                          code="amount_limit_exceeded")
        except errors.ServiceUnavailable:
            raise  # the database, not the row: the whole upload is a 503 and nothing is kept
        except errors.MosPayError as exc:
            return {}, {"field": exc.field, "message": exc.message, "code": exc.code}
        return {"body": body, "fields": fields, "amount": amount}, None


def _stored(line: int, checked: dict, error: dict | None) -> dict:
    """What batch_rows keeps of a row: non-secret fields (secrets masked) and, apart, the secret ones."""
    if error is not None:
        return {"line_no": line, "service": None, "f010": None, "amount": None, "fields": {}, "secrets": None,
                "errors": [error]}
    body, fields = checked["body"], checked["fields"]
    secret_codes = {f["code"] for f in fields if f["secret"]}
    secrets = {k: v for k, v in body.items() if k in secret_codes and v}
    return {"line_no": line, "service": body["f000"], "f010": body["f010"], "amount": str(checked["amount"]),
            "fields": payments.masked_request(body, fields), "secrets": secrets or None, "errors": None}


def upload(db: Database, gateway, actor: Actor, client: dict, rows: Iterator[tuple[int, dict]], sha256: str, *,
           name: str | None, key: str | None, store_key: str, uploaded_by: str | None = None) -> tuple[dict, bool]:
    """Store and validate one upload; (answer, created). With an Idempotency-Key, the same key again
    answers the first batch (200), and the same key with another body is a 409. `uploaded_by`: the typed
    actor the four-eyes rule compares (default actor.username, e.g. client:<app_id>)."""
    if key is not None:
        existing = db.one("batch_by_key", client_id=client["id"], key=key)
        if existing is not None:
            if existing["upload_sha256"] != sha256:
                raise errors.Conflict("this Idempotency-Key was used for another upload", code="idempotency_conflict")
            return _answer(db, client["id"], existing["public_id"]), False
    validator = RowValidator(gateway, client)
    try:
        with db.transaction() as tx:  # a file that cannot be read leaves nothing behind
            created = tx.one("batch_insert", client_id=client["id"], name=name, key=key, sha256=sha256,
                             uploaded_by=uploaded_by or actor.username)
            chunk, count = [], 0
            for line, raw in rows:
                count += 1
                if count > MAX_ROWS:
                    raise _bad(f"a batch has at most {MAX_ROWS} rows")
                checked, error = validator.check(raw)
                chunk.append(_stored(line, checked, error))
                if len(chunk) == CHUNK_ROWS:
                    _insert(tx, created["id"], chunk, store_key)
                    chunk = []
            if chunk:
                _insert(tx, created["id"], chunk, store_key)
            if count == 0:
                raise _bad("the batch has no rows")
            tx.query("batch_mark_duplicates", batch_id=created["id"], client_id=client["id"])
            closed = tx.one("batch_close_upload", batch_id=created["id"], client_id=client["id"])
            submitted = tx.query("batch_submit", batch_id=created["id"], client_id=client["id"])
            audit(tx, actor, "batch.upload", "batch", created["public_id"], None,
                  {"name": name, "sha256": sha256, "rows": closed["rows"], "valid_rows": closed["valid_rows"],
                   "invalid_rows": closed["invalid_rows"], "total_amount": closed["total_amount"],
                   "status": submitted[0]["status"] if submitted else "VALIDATED"})
    except errors.Conflict as exc:
        if key is None or getattr(exc, "constraint", None) != "batches_idempotency":
            raise
        existing = db.one("batch_by_key", client_id=client["id"], key=key)  # the same key, at the same moment
        if existing is None or existing["upload_sha256"] != sha256:
            raise errors.Conflict("this Idempotency-Key was used for another upload",
                                  code="idempotency_conflict") from None
        return _answer(db, client["id"], existing["public_id"]), False
    return _answer(db, client["id"], created["public_id"]), True


def _insert(tx, batch_id: int, chunk: list[dict], store_key: str) -> None:
    # Secret fields leave Python only sealed, bound to their row (batch id, line): mospay/sealed.py.
    stored = [{**{k: v for k, v in row.items() if k != "secrets"},
               "sealed": None if not row["secrets"] else base64.b64encode(sealed.seal(
                   store_key, json.dumps(row["secrets"]).encode(),
                   sealed.batch_row_context(batch_id, row["line_no"]))).decode()} for row in chunk]
    tx.query("batch_rows_insert", batch_id=batch_id, rows=json.dumps(stored))


def _answer(db: Database, client_id: int, public_id: str) -> dict:
    row = db.one("batch_summary", batch_id=public_id, client_id=client_id)
    return {"batch_id": row["batch_id"], "name": row["name"], "status": row["status"], "rows": row["rows"],
            "valid_rows": row["valid_rows"], "invalid_rows": row["invalid_rows"],
            "total_amount": str(Decimal(row["total_amount"]))}
