"""What the admin's and the merchant's batch pages show the same way: a batch's progress (both render the
admin/_batch_progress.html partial) with the head of its validation report, and the CSV downloads. Which
batches a caller may see is `client_id`: None for an operator, the merchant's own client otherwise."""

from __future__ import annotations

import itertools

from . import batches
from .portal_web import is_fragment

REPORT_ROWS = 200
ERROR_COLUMNS = ("line", "field", "message", "code")


def progress(req, db, batch_id: str, client_id: int | None, doc: dict) -> dict:
    """The batch page's context for a status document: the first REPORT_ROWS lines of the validation report
    (none for an HTMX poll, which gets the progress partial only), the rows done, of how many, and whether
    the batch still moves (the page polls while it does)."""
    fragment = is_fragment(req)
    report = [] if fragment else list(itertools.islice(batches.error_rows(db, batch_id, client_id), REPORT_ROWS))
    return {"report": report, "done": sum(v for k, v in doc["counts"].items() if k != "queued"),
            "total": max(doc["valid_rows"], 1), "live": doc["status"] in ("APPROVED", "RUNNING")}


def send_csv(resp, db, batch_id: str, client_id: int | None, what: str) -> None:
    """Stream results.csv or errors.csv as a download; a batch the caller may not see is a 404 before the
    first byte."""
    batches.status(db, batch_id, client_id)
    if what == "results":
        rows, columns = batches.result_rows(db, batch_id, client_id), batches.RESULT_COLUMNS
    else:
        rows, columns = batches.error_rows(db, batch_id, client_id), ERROR_COLUMNS
    resp.content_type = "text/csv; charset=utf-8"
    resp.downloadable_as = f"{batch_id}-{what}.csv"
    resp.stream = batches.csv_stream(columns, rows)
