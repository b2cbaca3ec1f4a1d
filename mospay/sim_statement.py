"""The provider simulator's statement: what it actually did, as the CSV a provider's portal would export
(MosPay's default statement columns), so tests and the demo can reconcile against a real counterpart."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from urllib.parse import parse_qs, urlsplit

COLUMNS = ("reference", "amount", "currency", "status", "date")


def bound(text: str | None, end: bool = False) -> float | None:
    """A ?from= / ?to= value (ISO date or date-time, UTC if no offset) as a POSIX time; a date `to` covers
    its whole day. ValueError for anything else."""
    if not text:
        return None
    when = dt.datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    if end and len(text) == 10:
        when += dt.timedelta(days=1) - dt.timedelta(microseconds=1)
    return when.timestamp()


def render(moves: list[dict], start: float | None, end: float | None) -> str:
    """moves: {reference, amount, currency, status, at (POSIX time)}, in the order they happened."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for move in moves:
        if (start is not None and move["at"] < start) or (end is not None and move["at"] > end):
            continue
        when = dt.datetime.fromtimestamp(move["at"], dt.timezone.utc).isoformat(timespec="seconds")
        writer.writerow((move["reference"], move["amount"] or "", move["currency"] or "", move["status"], when))
    return out.getvalue()


def serve(handler, moves: list[dict]) -> None:
    """Answer GET /_sim/statement.csv?from=&to= on the simulator's request handler."""
    query = parse_qs(urlsplit(handler.path).query)
    try:
        start = bound(query.get("from", [None])[0])
        end = bound(query.get("to", [None])[0], end=True)
    except ValueError:
        body, code, kind = json.dumps({"error": "from/to must be ISO 8601 dates or date-times"}).encode(), 400, \
            "application/json"
    else:
        body, code, kind = render(moves, start, end).encode(), 200, "text/csv; charset=utf-8"
    handler.send_response(code)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
