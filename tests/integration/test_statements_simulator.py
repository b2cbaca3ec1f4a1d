"""The simulator's own statement (GET /_sim/statement.csv) reconciled for real: payments through MosPay
to the simulator, its statement uploaded, every line matched; a payer deciding later shows up as a status
mismatch that an operator settles from the statement."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from mospay.simulator import Simulator
from tests.integration.admin_api_support import AdminStack

SERVICE = "credpay"


@pytest.fixture
def world(db_url):
    with Simulator(hang_seconds=1, callback_delay=60) as sim:
        stack = AdminStack.__new__(AdminStack)
        AdminStack.__init__(stack, db_url)
        stack.sim_url = sim.url
        try:
            stack.onboard()
            yield stack, sim
        finally:
            stack.close()


def sim_statement(sim, query: str = "") -> bytes:
    with urllib.request.urlopen(f"{sim.url}/_sim/statement.csv{query}", timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/csv")
        return resp.read()


def upload(stack, body: bytes):
    return stack.client.simulate_post(f"/api/v1/admin/services/{SERVICE}/statements", body=body,
                                      headers={**stack.admin_headers(), "Content-Type": "text/csv"})


def test_the_simulators_statement_reconciles_and_a_late_decision_is_settled_from_it(world):
    stack, sim = world
    refs = {}
    for name, msisdn in (("paid1", "+250788120009"), ("paid2", "+250788121234"), ("declined", "+250788120001"),
                         ("refused", "+250788120503"), ("pending", "+250788120004")):
        refs[name], resp = stack.pay(msisdn=msisdn)
        assert resp.status_code < 600
    text = sim_statement(sim).decode()
    assert text.splitlines()[0] == "reference,amount,currency,status,date"
    assert refs["refused"] not in text  # refused before processing: no money moved, no line
    first = upload(stack, text.encode())
    assert first.status_code == 201, first.text
    assert {k: v for k, v in first.json.items() if k != "statement_id"} == {
        "lines": 4, "matched": 4, "missing_in_gateway": 0, "missing_at_provider": 0, "amount_mismatch": 0,
        "status_mismatch": 0, "currency_mismatch": 0, "duplicate": 0}
    sim.server.ledger.settle(refs["pending"], "SUCCESSFUL")  # the payer approved; MosPay has not heard yet
    second = upload(stack, sim_statement(sim))
    assert (second.status_code, second.json["status_mismatch"], second.json["matched"]) == (201, 1, 3)
    queue = stack.api("GET", f"/api/v1/admin/statement-exceptions?statement_id={second.json['statement_id']}")
    [mismatch] = queue.json["items"]
    settled = stack.api("POST", f"/api/v1/admin/statement-exceptions/{mismatch['id']}/settle",
                        {"reason": "the provider's statement shows it paid"})
    assert settled.status_code == 200, settled.text
    status = stack.db.run("SELECT status FROM transactions WHERE public_id = :p", p=mismatch["transaction_id"])
    assert status[0]["status"] == "SUCCESSFUL"
    again = upload(stack, sim_statement(sim))  # the same file: the same statement, as it was matched
    assert (again.status_code, again.json) == (200, second.json)
    assert sim_statement(sim, "?from=2000-01-01&to=2000-01-02").decode().count("\r\n") == 1  # header only
    with pytest.raises(urllib.error.HTTPError) as bad:
        sim_statement(sim, "?from=yesterday")
    assert bad.value.code == 400
