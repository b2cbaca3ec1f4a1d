"""mospay.refunds without a database: the body rules, the idempotency hash, and the answer when the outcome
could not be recorded."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from mospay import errors, refunds


def test_a_valid_body_is_normalised():
    assert refunds.check_body({"refund_id": "r-1.a:b_c", "amount": "10.5", "reason": "  why  "}) == {
        "refund_id": "r-1.a:b_c", "amount": Decimal("10.50"), "reason": "why"}
    assert refunds.check_body({"refund_id": "r", "amount": Decimal("7"), "reason": "   "}) == {
        "refund_id": "r", "amount": Decimal("7.00"), "reason": None}
    assert refunds.check_body({"refund_id": "r", "amount": None})["amount"] is None


@pytest.mark.parametrize("body", [{"refund_id": "r", "amount": 1.5}, {"refund_id": "r", "amount": [1]},
                                  {"refund_id": "r", "amount": "1,00"}, {"refund_id": "r", "amount": "9" * 16}])
def test_other_amounts_are_refused(body):
    with pytest.raises(errors.InvalidField) as refused:
        refunds.check_body(body)
    assert refused.value.field == "amount"


def test_the_hash_covers_payment_amount_and_reason_but_not_the_amounts_spelling():
    base = refunds.check_body({"refund_id": "r", "amount": "10", "reason": "x"})
    same = refunds.check_body({"refund_id": "r", "amount": "10.00", "reason": "x"})
    assert refunds.request_hash("f", base) == refunds.request_hash("f", same)
    for f010, body in (("g", base), ("f", {**base, "amount": Decimal("11.00")}), ("f", {**base, "reason": None}),
                       ("f", {**base, "amount": None})):
        assert refunds.request_hash(f010, body) != refunds.request_hash("f", base)


class _DownDb:
    def one(self, *args, **kwargs):
        raise errors.ServiceUnavailable("the database is unavailable")


def test_an_unrecorded_outcome_is_unknown_and_still_names_the_refund():
    refund_uuid = uuid.uuid4()
    answer = refunds.unrecorded_answer(_DownDb(), refund_uuid)
    assert answer["id"] == "rfd_" + refund_uuid.hex and answer["status"] == answer["result"]["status"] == "UNKNOWN"
