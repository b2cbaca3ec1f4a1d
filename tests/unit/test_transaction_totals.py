"""The merchant's totals and the transaction list select the same rows: the totals' named query repeats
the page's FROM and WHERE (for an index-only scan), and this test keeps the two texts identical."""

from __future__ import annotations

from mospay.sql import QUERIES


def _from_where(text: str, end: str) -> str:
    return text[text.index("  FROM transactions t"):text.index(end)]


def test_the_totals_filter_exactly_as_the_page_does_without_the_cursor():
    page = _from_where(QUERIES["transactions_page"].text, "   AND (CAST(:after_at")
    totals = _from_where(QUERIES["transaction_totals"].text, " GROUP BY")
    assert "client_id" in page and "CAST(:status" in page  # the control: the cut found the filters
    assert totals == page
    assert ":after_at" not in QUERIES["transaction_totals"].text
