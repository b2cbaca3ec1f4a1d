"""Provider faults over real HTTP: each maps to UNKNOWN (never FAILED), within the service's time budget."""

from __future__ import annotations

import time

import pytest

from mospay.breaker import Breaker, HALF_OPEN, OPEN
from mospay import errors
from tests.support import free_port, provider_reference


def sim_calls(gateway, transaction_id):
    """Provider calls for one payment, by the reference MosPay sent (derived from its transaction_id)."""
    calls = gateway.http.request("GET", gateway.simulator_url + "/_sim/calls").json()["by_external_id"]
    return calls.get(provider_reference(transaction_id), 0)


@pytest.fixture(scope="module")
def fragile(gateway):
    """A service with a 0.5 s connect and 1 s read budget: any fault must be decided within ~1.5 s."""
    client = gateway.onboard(service="fragile", timeout_s=1)
    gateway.db.run("UPDATE services SET connect_timeout_s = 0.5 WHERE name = 'fragile'")
    return client


@pytest.mark.parametrize("msisdn, fault", [
    ("+250788120002", "timeout: no answer within the read timeout"),
    ("+250788120003", "HTTP 500"),
    ("+250788120005", "malformed JSON"),
    ("+250788120006", "slow trickle: bytes keep coming, slower than the deadline"),
    ("+250788120007", "huge body (3 MiB)"),
])
def test_provider_fault_is_unknown_within_the_time_budget(gateway, fragile, msisdn, fault):
    body = fragile.body(msisdn=msisdn)
    headers = fragile.bearer()
    started = time.monotonic()
    resp = fragile.pay(body, headers=headers)
    elapsed = time.monotonic() - started
    assert (resp.status, resp.json()["status"]) == (202, "UNKNOWN"), (fault, resp.data)
    assert elapsed < 4.0, f"{fault}: took {elapsed:.1f}s"  # budget 1.5 s; slack for a loaded CI machine
    row = gateway.db.run("SELECT status, next_check_at FROM transactions WHERE f010 = :f", f=body["f010"])[0]
    assert row["status"] == "UNKNOWN" and row["next_check_at"] is not None  # the reconciler will ask
    assert sim_calls(gateway, resp.json()["transaction_id"]) == 1
    # MosPay is still healthy afterwards (a half-read connection was not reused).
    assert fragile.pay(headers=headers).json()["status"] == "SUCCESSFUL"


def test_connection_refused_is_unknown_and_fast(gateway):
    client = gateway.onboard(service="refused", service_url=f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    resp = client.pay()
    assert (resp.status, resp.json()["status"]) == (202, "UNKNOWN")
    assert time.monotonic() - started < 2.0


def test_breaker_opens_after_consecutive_transport_failures_and_fails_fast(gateway):
    """The run.py under test uses the default threshold (5 failures in a row)."""
    client = gateway.onboard(service="downmomo", service_url=f"http://127.0.0.1:{free_port()}")
    headers = client.bearer()
    for _ in range(5):
        assert client.pay(headers=headers).json()["status"] == "UNKNOWN"
    before = gateway.db.run("SELECT count(*) AS n FROM transactions")[0]["n"]
    resp = client.pay(headers=headers)
    assert resp.status == 503 and resp.json()["error"]["code"] == "service_unavailable"
    assert int(resp.headers["Retry-After"]) >= 1
    assert gateway.db.run("SELECT count(*) AS n FROM transactions")[0]["n"] == before  # nothing recorded
    # Other services are not affected.
    assert gateway.onboard().pay().json()["status"] == "SUCCESSFUL"


def test_breaker_half_open_lets_one_trial_through_and_closes_on_success():
    now = [0.0]
    breaker = Breaker("momo", failures=2, cooldown_s=10, clock=lambda: now[0])
    breaker.record(transport_failure=True)
    breaker.allow()  # one failure: still closed
    breaker.record(transport_failure=True)
    assert breaker.state() == OPEN
    with pytest.raises(errors.ServiceUnavailable):
        breaker.allow()
    now[0] = 10.5
    assert breaker.state() == HALF_OPEN
    breaker.allow()  # the trial
    with pytest.raises(errors.ServiceUnavailable):
        breaker.allow()  # everyone else waits for the trial
    breaker.record(transport_failure=True)  # trial failed: open again for a full cool-down
    assert breaker.state() == OPEN and breaker.snapshot()["retry_in_s"] == 10.0
    now[0] = 21
    breaker.allow()
    breaker.record(transport_failure=False)
    assert breaker.snapshot() == {"state": "closed", "consecutive_failures": 0, "threshold": 2,
                                  "cooldown_s": 10, "retry_in_s": 0.0}
