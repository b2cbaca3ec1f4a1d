"""Admin-set field patterns cannot stall a worker: the catastrophic ones are refused before they run."""

import time

import pytest

from mospay import errors, patterns, payments

KEYS = ("code", "label", "type", "required", "max_length", "pattern", "secret")
CATASTROPHIC = [r"(a+)+", r"(a|aa)+", r"(a|a?)+", r"(.*a){20}", r"\d*\d*\d*x", r"(a)\1+"]
HOSTILE = "a" * 25 + "!"


def fields_with(pattern):
    return [dict(zip(KEYS, ("f006", "Username", "string", True, None, pattern, False)))]


@pytest.mark.parametrize("pattern", [r"[a-z0-9]+", r"[A-Za-z0-9_.:-]{1,64}", r"(a|b)+", r"^\+?\d{9,15}$",
                                     r"[^@]+@[^@]+\.[a-z]{2,24}", r"(abc)+x", r"[A-Z]{2}-\d{6}"])
def test_ordinary_patterns_are_accepted_and_checked(pattern):
    assert patterns.check(pattern) == pattern  # the control: the rule is not "refuse everything"


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_patterns_are_refused_when_saved(pattern):
    with pytest.raises(errors.InvalidField) as exc:
        patterns.check(pattern)
    assert exc.value.code == "unsafe_pattern" and exc.value.field == "pattern"


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_a_catastrophic_pattern_already_saved_refuses_the_field_quickly_at_payment_time(pattern):
    started = time.perf_counter()
    with pytest.raises(errors.InvalidField) as exc:
        payments.validate_fields({"f006": HOSTILE}, fields_with(pattern))
    assert exc.value.code == "unsafe_pattern" and exc.value.field == "f006"
    assert time.perf_counter() - started < 0.5


def test_values_checked_against_a_pattern_are_bounded_in_length():
    started = time.perf_counter()
    with pytest.raises(errors.InvalidField) as exc:
        payments.validate_fields({"f006": "1" * 5000}, fields_with(r"\d*\d*x"))
    assert exc.value.field == "f006" and time.perf_counter() - started < 0.5
    payments.validate_fields({"f006": "1" * 1000 + "x"}, fields_with(r"\d*\d*x"))  # within the bound: checked


def test_the_worst_allowed_pattern_answers_fast_on_the_longest_value():
    for pattern in (r".*.*[a-z]{2,24}x", r"\d*\d*x", r"[^@]+@[^@]+\.[a-z]{2,24}"):
        started = time.perf_counter()
        with pytest.raises(errors.InvalidField):
            payments.validate_fields({"f006": "1" * patterns.MAX_VALUE}, fields_with(pattern))
        assert time.perf_counter() - started < 0.5, pattern
