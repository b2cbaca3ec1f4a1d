"""The client roster as CSV: every client exported, and new clients imported from a CSV (validated first,
all or nothing, each new client's credentials returned once). Shared by the portal and the admin API."""

from __future__ import annotations

import csv
import io
from typing import Iterator

from . import accounts, errors, functions, validators
from .audit import Actor, audit
from .batches import csv_stream
from .db import Database

EXPORT_COLUMNS = ("app_id", "company_name", "contact_email", "callback_url", "active", "rate_limit_per_minute",
                  "max_amount_per_transaction", "max_amount_per_day", "batch_auto_approve_max", "created_at")
IMPORT_COLUMNS = ("app_id", "company_name", "contact_email", "callback_url")
CREDENTIAL_COLUMNS = ("app_id", "company_name", "api_username", "api_secret", "webhook_secret")
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_ROWS = 5000
PAGE = 1000


def export_rows(db: Database) -> Iterator[dict]:
    after = ""
    while True:
        rows = db.query("clients_export", after=after, limit=PAGE)
        for row in rows:
            yield {k: row[k] for k in EXPORT_COLUMNS}
        if len(rows) < PAGE:
            return
        after = rows[-1]["app_id"]


def export_csv(db: Database) -> Iterator[bytes]:
    return csv_stream(EXPORT_COLUMNS, export_rows(db))


def _parse(raw: bytes) -> list[tuple[int, dict]]:
    if len(raw) > MAX_IMPORT_BYTES:
        raise errors.PayloadTooLarge(f"the file is larger than {MAX_IMPORT_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise errors.BadRequest("the file is not UTF-8 text", code="bad_import") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        unknown = [h for h in header if h not in IMPORT_COLUMNS]
        if not header or "company_name" not in header or unknown or len(set(header)) != len(header):
            raise errors.BadRequest(f"the header must name company_name and only {', '.join(IMPORT_COLUMNS)}",
                                    code="bad_import")
        rows = []
        for row in reader:
            if not row or all(not c.strip() for c in row):
                continue
            line = reader.line_num
            if len(row) != len(header):
                rows.append((line, {"_error": f"{len(row)} values where the header has {len(header)}"}))
            else:
                rows.append((line, dict(zip(header, row))))
            if len(rows) > MAX_IMPORT_ROWS:
                raise errors.BadRequest(f"at most {MAX_IMPORT_ROWS} clients per file", code="bad_import")
    except csv.Error as exc:
        raise errors.BadRequest(f"unreadable CSV ({exc})", code="bad_import") from None
    if not rows:
        raise errors.BadRequest("the file has no clients", code="bad_import")
    return rows


def _check(db: Database, rows: list[tuple[int, dict]]) -> list[dict]:
    """Every problem of every row (line, field, message); nothing is written."""
    problems, seen = [], {}
    for line, data in rows:
        if "_error" in data:
            problems.append({"line": line, "field": None, "message": data["_error"]})
            continue
        try:
            validators.text(data, "company_name")
            validators.text(data, "contact_email", required=False, max_length=254)
            validators.url(data, "callback_url", required=False)
            app_id = (data.get("app_id") or "").strip()
            if app_id:
                functions.check_app_id(app_id)
                if app_id in seen:
                    raise errors.InvalidField(f"repeats line {seen[app_id]}", field="app_id")
                seen[app_id] = line
                if db.one("client_by_app_id", app_id=app_id) is not None:
                    raise errors.InvalidField("a client with this app_id already exists", field="app_id")
        except errors.MosPayError as exc:
            problems.append({"line": line, "field": exc.field, "message": exc.message})
    return problems


def import_csv(db: Database, actor: Actor, secret_key: str, raw: bytes) -> list[dict]:
    """New clients from a CSV: every row checked first; one bad row and nothing is created (422 with
    every problem in `exc.problems`). Returns each new client's credentials, shown this once."""
    rows = _parse(raw)
    problems = _check(db, rows)
    if problems:
        exc = errors.InvalidField(f"{len(problems)} problem(s): nothing was imported", field="file",
                                  code="import_invalid")
        exc.problems = problems
        raise exc
    created = []
    with db.transaction() as tx:  # all or nothing, a concurrent creation of the same app_id included
        for _line, data in rows:
            creds = accounts.create_client(tx, secret_key, {k: (v.strip() or None) for k, v in data.items()})
            created.append({k: creds[k] for k in CREDENTIAL_COLUMNS})
        audit(tx, actor, "client.import", "client", None, None,
              {"count": len(created), "app_ids": [c["app_id"] for c in created][:1000]})
    return created


def credentials_csv(created: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CREDENTIAL_COLUMNS)
    for row in created:
        writer.writerow([row[c] for c in CREDENTIAL_COLUMNS])
    return buffer.getvalue()
