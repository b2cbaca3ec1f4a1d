"""The shared input rules: amounts, field codes and keyset cursors, each with a passing control."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from mospay import errors, validators


@pytest.mark.parametrize("value", ["1", "1000.00", "0.01", "999999999999999.99"])
def test_amounts_accepted(value):
    assert validators.amount(value, "f004") == Decimal(value)


@pytest.mark.parametrize("value, message", [
    ("0", "greater than zero"), ("0.00", "greater than zero"), ("-1", "positive decimal"),
    ("1.234", "positive decimal"), ("1e3", "positive decimal"), ("1" * 16, "positive decimal"),
    (" 1", "positive decimal"), ("١٢", "positive decimal"), (1000, "positive decimal"),
])
def test_amounts_refused_with_the_field_named(value, message):
    with pytest.raises(errors.InvalidField, match=message) as caught:
        validators.amount(value, "max_amount_per_day")
    assert caught.value.field == "max_amount_per_day"


def test_field_codes():
    assert validators.field_code("f011") == "f011" and validators.is_field_code("f000")
    for value in ("f1", "F011", "f0111", "x011", "f０11", None, 11):
        assert not validators.is_field_code(value)
        with pytest.raises(errors.InvalidField, match="f followed by three digits"):
            validators.field_code(value)


def test_a_cursor_round_trips_and_a_bad_one_is_one_message():
    row = {"created_at": dt.datetime(2026, 1, 31, 12, 0, 1, 5, tzinfo=dt.timezone.utc), "id": 42}
    assert validators.cursor(validators.cursor_text(row)) == (row["created_at"], 42)
    assert validators.cursor(None) == validators.cursor("") == (None, None)
    for bad in ("garbage", "2026-13-45T99:00:00+00:00_1", "2026-01-31T12:00:00+00:00_", "2026-01-31T12:00:00_1"):
        with pytest.raises(errors.InvalidField, match="is not a valid page cursor"):
            validators.cursor(bad)
