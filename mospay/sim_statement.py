"""The provider simulator's statement: what it actually did, as the CSV a provider's portal would export
(MosPay's default statement columns), so tests and the demo can reconcile against a real counterpart."""

from __future__ import annotations

import csv
import datetime as dt
import io

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
