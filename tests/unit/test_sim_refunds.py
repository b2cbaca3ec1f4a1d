"""The simulator's refunds (mospay.sim_refunds): MoMo's refund call and status query, the outcome by the
digits of the amount in minor units, and its count of refund calls per reference and payment."""

from __future__ import annotations

import time
import uuid

import pytest
import urllib3

from mospay.simulator import Simulator
from mospay.sim_refunds import outcome_digits

HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=5))


@pytest.fixture(scope="module")
def sim():
    with Simulator(hang_seconds=0.3, callback_delay=0.2) as s:
        yield s


def refund(sim, amount, payment="pay-1", reference=None):
    reference = reference or str(uuid.uuid4())
    resp = HTTP.request("POST", sim.url + "/v1_0/refund", headers={"X-Reference-Id": reference},
                        json={"amount": amount, "currency": "RWF", "externalId": reference,
                              "referenceIdToRefund": payment})
    return reference, resp


def status(sim, reference):
    resp = HTTP.request("GET", f"{sim.url}/v1_0/refund/{reference}")
    return resp.status, resp.json().get("status")


@pytest.mark.parametrize("amount, digits", [("100.01", "0001"), ("0.02", "0002"), ("1000", "0000"),
                                            ("12.5", "1250"), ("100.04", "0004")])
def test_the_outcome_digits_are_the_last_four_of_the_amount_in_minor_units(amount, digits):
    assert outcome_digits(amount) == digits


def test_success_decline_error_and_hang(sim):
    ok_ref, ok = refund(sim, "100.00")
    assert (ok.status, ok.json()["status"]) == (200, "SUCCESSFUL") and ok.json()["financialTransactionId"]
    no_ref, no = refund(sim, "100.01")
    assert (no.status, no.json()["status"], no.json()["reason"]) == (200, "FAILED", "NOT_ENOUGH_FUNDS")
    err_ref, err = refund(sim, "100.03")
    assert err.status == 500 and status(sim, err_ref) == (200, "SUCCESSFUL")  # the money went back anyway
    started = time.monotonic()
    hung_ref, hung = refund(sim, "100.02")
    assert hung.status == 200 and time.monotonic() - started >= 0.3
    assert status(sim, ok_ref) == (200, "SUCCESSFUL") and status(sim, no_ref) == (200, "FAILED")
    assert status(sim, str(uuid.uuid4()))[0] == 404


@pytest.mark.parametrize("amount, final", [("100.04", "SUCCESSFUL"), ("100.08", "FAILED")])
def test_a_pending_refund_settles_after_the_callback_delay(sim, amount, final):
    reference, resp = refund(sim, amount)
    assert (resp.status, resp.json()["status"]) == (202, "PENDING")
    assert status(sim, reference) == (200, "PENDING")
    deadline = time.monotonic() + 3
    while status(sim, reference)[1] == "PENDING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status(sim, reference) == (200, final)


def test_bad_refund_requests_are_400_and_counted_nowhere(sim):
    before = sim.refund_calls["total"]
    for body in ({"amount": "1.00"}, {"amount": "abc", "referenceIdToRefund": "p"}, {"referenceIdToRefund": "p"}):
        assert HTTP.request("POST", sim.url + "/v1_0/refund", json=body).status == 400
    assert HTTP.request("POST", sim.url + "/v1_0/refund", body=b"not json").status == 400
    assert sim.refund_calls["total"] == before


def test_calls_are_counted_per_reference_and_amounts_per_payment(sim):
    payment = "pay-" + uuid.uuid4().hex
    reference, _ = refund(sim, "10.00", payment)
    refund(sim, "10.00", payment, reference=reference)  # the same refund sent twice: counted twice
    refund(sim, "5.00", payment)
    refund(sim, "100.01", payment)  # declined: no money back
    calls = sim.refund_calls
    assert calls["by_reference"][reference] == 2
    assert calls["refunded_by_payment"][payment] == "15.00"
    assert sim.calls["total"] == 0  # refunds are not payment calls (GET /_sim/calls)
