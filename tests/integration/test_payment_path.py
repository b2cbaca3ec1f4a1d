"""The payment path's contract with PostgreSQL: one rule for the client's answer, the cached context and
its invalidation, the Status function's name, provider metrics for status queries, the API log row."""

from __future__ import annotations

import base64

import falcon.testing
import pytest

from mospay import accounts, catalogue, reconciler
from mospay.app import create_app
from mospay.components import Components
from mospay.config import Config
from mospay.db import Database
from mospay.provider import Provider
from mospay.simulator import Simulator

KEYS = {"secret_key": "k" * 40, "jwt_secret_key": "j" * 40}
# Valid but unlike the seed's names: upper case and digits in the app id, a service and a route
# that start with digits. A name rebuilt any other way than functions.py builds it finds no function.
APP_ID, SERVICE, ROUTE = "Shop9X", "9pay", "r2d2"


@pytest.fixture(scope="module")
def sim():
    with Simulator(hang_seconds=2, callback_delay=60) as simulator:  # payers never decide here
        yield simulator


class Gateway:
    """One MosPay app with its own pool and its own in-process caches: what one process would be."""

    def __init__(self, db_url: str, creds: dict):
        self.db = Database(db_url, size=2)
        config = Config(database_url=db_url, **KEYS)
        self.parts = Components.build(config, self.db, Provider())  # shared by the app and its reconciler
        self.client = falcon.testing.TestClient(create_app(config, self.db, parts=self.parts))
        raw = base64.b64encode(f"{creds['api_username']}:{creds['api_secret']}".encode()).decode()
        self.headers = {"Authorization": f"Basic {raw}", "App-ID": APP_ID}

    def pay(self, f010: str, msisdn: str = "+250788120009", **fields):
        body = {"f000": SERVICE, "f001": "collection", "f002": ROUTE, "f003": APP_ID, "f004": "500.00",
                "f005": msisdn, "f006": "customer1", "f007": "e", "f008": "p", "f009": "d", "f010": f010, **fields}
        return self.client.simulate_post("/api/v1/payment/process", json=body, headers=self.headers)


@pytest.fixture
def gateways(db, db_url, sim):
    catalogue.create_service(db, {"name": SERVICE, "service_url": sim.url, "timeout_s": 1})
    creds = accounts.create_client(db, KEYS["secret_key"], {"company_name": "Shop", "app_id": APP_ID})
    catalogue.assign_service(db, APP_ID, {"service": SERVICE, "routes": [ROUTE]})
    made = []

    def make():
        made.append(Gateway(db_url, creds))
        return made[-1]
    yield make
    for gateway in made:
        gateway.db.close()


@pytest.mark.parametrize("status, code", [("SUCCESSFUL", 200), ("FAILED", 402), ("PENDING", 202),
                                          ("UNKNOWN", 202), ("RECEIVED", 202)])
def test_one_sql_rule_maps_a_status_to_the_http_code(db, status, code):
    assert db.run("SELECT mospay.http_status_for(:s) AS c", s=status)[0]["c"] == code


@pytest.mark.parametrize("msisdn, status, code", [("+250788120009", "SUCCESSFUL", 200),
                                                  ("+250788120001", "FAILED", 402),
                                                  ("+250788120004", "PENDING", 202),
                                                  ("+250788120003", "UNKNOWN", 202)])
def test_the_payment_answer_has_one_shape_and_code_from_every_writer(db, gateways, msisdn, status, code):
    resp = gateways().pay("shape" + status, msisdn)
    assert resp.status_code == code
    assert set(resp.json) == {"transaction_id", "f010", "status", "result"} and resp.json["status"] == status
    stored = db.run("SELECT response_code, response_body FROM transactions WHERE f010 = :f", f="shape" + status)[0]
    assert (stored["response_code"], stored["response_body"]) == (code, resp.json)


def test_an_operator_resolution_answers_in_the_same_shape(db, gateways):
    db.run("SELECT o_id FROM mospay.record_payment((SELECT id FROM clients), (SELECT id FROM services), :r, "
           "'op1', 5, NULL, '{}', 'h', :fn, '{}', 10)", r=ROUTE, fn=f"{APP_ID}_{SERVICE}_{ROUTE}")  # a crash before any answer was stored
    db.run("UPDATE transactions SET status = 'UNKNOWN', stuck = true")
    user = db.run("INSERT INTO users (username, password_hash) VALUES ('op', 'x') RETURNING id")[0]["id"]
    reconciler.resolve(db, db.run("SELECT public_id FROM transactions")[0]["public_id"], "FAILED", user, "bank says no")
    stored = db.run("SELECT public_id, response_code, response_body FROM transactions")[0]
    assert stored["response_code"] == 402
    assert stored["response_body"] == {"transaction_id": stored["public_id"], "f010": "op1", "status": "FAILED",
                                       "result": {"status": "FAILED", "message": "resolved by an operator"}}


def test_a_status_query_finds_the_routes_status_function_and_is_counted_in_provider_metrics(db, gateways, sim):
    gateway = gateways()
    assert gateway.pay("odd1", "+250788120004").json["status"] == "PENDING"
    db.run("UPDATE transactions SET next_check_at = now()")
    before = gateway.parts.metrics.provider_seconds.count(SERVICE)
    assert gateway.parts.reconciler().run_once() == {"checked": 1, "settled": 0, "stuck": 0}
    # The Status function planned the GET (a wrong name plans an ERROR and asks nobody) ...
    assert gateway.parts.metrics.provider_seconds.count(SERVICE) == before + 1
    row = db.run("SELECT status, check_attempts FROM transactions WHERE f010 = 'odd1'")[0]
    assert row == {"status": "PENDING", "check_attempts": 1}
    # ... and the status call is on /metrics next to the payment's own call.
    text = gateway.client.simulate_get("/metrics").text
    assert f'mospay_provider_call_duration_seconds_count{{service="{SERVICE}"}} {before + 1}' in text


def test_a_status_function_name_that_cannot_exist_is_rescheduled_not_a_crash(db, gateways):
    gateway = gateways()
    assert gateway.pay("odd2", "+250788120004").json["status"] == "PENDING"
    db.run("UPDATE transactions SET next_check_at = now(), route = 'Not-A-Route'")
    assert reconciler.Reconciler(db, Provider()).run_once() == {"checked": 1, "settled": 0, "stuck": 0}
    assert db.run("SELECT check_attempts FROM transactions")[0]["check_attempts"] == 1


class Counting(Database):
    statements = 0

    def _autocommit(self, sql, params, prepared):  # where run(), query() and one() all send their statement
        Counting.statements += 1
        return super()._autocommit(sql, params, prepared)


def test_a_field_changed_by_another_process_is_validated_on_the_next_payment(db, gateways):
    gateway = gateways()
    assert gateway.pay("f1").status_code == 200  # the cache now holds the service's fields
    assert gateway.pay("f2", f006="customer2").status_code == 200  # control: the same shape passes
    # Another process (here: another connection) changes a field definition.
    other = gateways()
    other.db.run("UPDATE service_fields SET pattern = '[0-9]+' WHERE code = 'f006'")
    resp = gateway.pay("f3", f006="customer3")
    assert resp.status_code == 422 and resp.json["error"]["field"] == "f006"
    assert db.run("SELECT count(*) AS n FROM transactions WHERE f010 = 'f3'")[0]["n"] == 0
    assert gateway.pay("f4", f006="12345").status_code == 200
    # A field added elsewhere (required, no default) is required at once too.
    other.db.run("INSERT INTO service_fields (service_id, code, label) SELECT id, 'f011', 'Extra' FROM services")
    resp = gateway.pay("f5", f006="12345")
    assert resp.status_code == 422 and resp.json["error"] == {
        "code": "missing_field", "message": "is required", "field": "f011"}
    assert gateway.pay("f6", f006="12345", f011="x").status_code == 200


def test_fields_version_moves_with_every_kind_of_field_change(db, gateways):
    def version():
        return db.run("SELECT fields_version AS v FROM services")[0]["v"]
    first = version()
    db.run("UPDATE service_fields SET label = 'Payer' WHERE code = 'f005'")
    assert version() == first + 1
    db.run("DELETE FROM service_fields WHERE code = 'f009'")
    assert version() == first + 2
    db.run("UPDATE service_fields SET label = label WHERE false")  # nothing changed, nothing bumped
    assert version() == first + 2


def test_a_context_changed_elsewhere_costs_one_more_round_trip_not_a_wrong_decision(db, db_url, gateways):
    gateway = gateways()
    database = Counting(db_url, size=2)
    gateway.client = falcon.testing.TestClient(create_app(Config(database_url=db_url, **KEYS), database, Provider()))
    try:
        Counting.statements = 0
        assert gateway.pay("rt1").status_code == 200  # cold: read the context, start, finish
        assert Counting.statements == 3
        db.run("UPDATE client_services SET routes = routes || '{other}'::text[]")  # the context changed
        Counting.statements = 0
        assert gateway.pay("rt2").status_code == 200  # start answers the new context, start again, finish
        assert Counting.statements == 3
        Counting.statements = 0
        assert gateway.pay("rt3").status_code == 200
        assert Counting.statements == 2
    finally:
        database.close()


def test_a_cached_context_never_outlives_a_deactivation_or_an_assignment(db, gateways):
    gateway = gateways()
    assert gateway.pay("d1").status_code == 200
    db.run("UPDATE client_services SET routes = '{}'")
    resp = gateway.pay("d2")
    assert resp.status_code == 403 and resp.json["error"]["code"] == "route_not_assigned"
    db.run("UPDATE client_services SET routes = :r", r=[ROUTE])
    assert gateway.pay("d3").status_code == 200  # a refusal taken on a cached context is checked again
    db.run("UPDATE clients SET active = false")
    assert gateway.pay("d4").status_code == 401
    db.run("UPDATE clients SET active = true")
    assert gateway.pay("d5").status_code == 200
    assert {r["f010"] for r in db.run("SELECT f010 FROM transactions")} == {"d1", "d3", "d5"}


def test_api_log_rows_come_from_the_payments_facts(db, gateways):
    gateway = gateways()
    ok = gateway.pay("log1")
    replay = gateway.pay("log1")
    refused = gateway.pay("log2", f002="nosuchroute")
    rows = {r["request_id"]: r for r in db.run("SELECT * FROM api_logs")}
    client_id = db.run("SELECT id FROM clients")[0]["id"]
    for resp in (ok, replay, refused):
        row = rows[resp.headers["X-Request-ID"]]
        assert row["client_id"] == client_id and row["status_code"] == resp.status_code
        assert row["app_id"] == APP_ID and row["endpoint"] == "/api/v1/payment/process"
    assert rows[ok.headers["X-Request-ID"]]["request_body"]["f008"] == "***"
    assert rows[replay.headers["X-Request-ID"]]["request_body"]["f008"] == "***"
    assert rows[refused.headers["X-Request-ID"]]["status_code"] == 403
    assert len(rows) == 3


def test_one_clients_cached_context_never_decides_another_clients_payment(db, gateways):
    """The context cache is per (app id, service) in one process. With the first client's context warm,
    a second client on the same service and route gets its own transactions (the same f010 included),
    and the second client's credentials presented under the first client's App ID are refused."""
    gateway = gateways()
    assert gateway.pay("shared-1").status_code == 200  # warms Shop9X's context in this process
    other = accounts.create_client(db, KEYS["secret_key"], {"company_name": "Other", "app_id": "Other7"})
    catalogue.assign_service(db, "Other7", {"service": SERVICE, "routes": [ROUTE]})
    raw = base64.b64encode(f"{other['api_username']}:{other['api_secret']}".encode()).decode()
    body = {"f000": SERVICE, "f001": "collection", "f002": ROUTE, "f004": "700.00", "f005": "+250788120009",
            "f006": "customer2", "f007": "e", "f008": "p", "f009": "d", "f010": "shared-1"}

    # Control: the other client pays with the same f010 under its own App ID: a new transaction, not a replay.
    own = gateway.client.simulate_post("/api/v1/payment/process", json={**body, "f003": "Other7"},
                                       headers={"Authorization": f"Basic {raw}", "App-ID": "Other7"})
    assert own.status_code == 200 and own.json["transaction_id"] != gateway.pay("shared-1").json["transaction_id"]

    # Its credentials under the first client's App ID, against that client's warm context: 401.
    posed = gateway.client.simulate_post("/api/v1/payment/process", json={**body, "f003": APP_ID, "f010": "posed-1"},
                                         headers={"Authorization": f"Basic {raw}", "App-ID": APP_ID})
    assert posed.status_code == 401
    # Its own App ID but the first client's f003: 403, nothing recorded.
    mixed = gateway.client.simulate_post("/api/v1/payment/process", json={**body, "f003": APP_ID, "f010": "mixed-1"},
                                         headers={"Authorization": f"Basic {raw}", "App-ID": "Other7"})
    assert mixed.status_code == 403 and mixed.json["error"]["code"] == "app_id_mismatch"
    rows = db.run("SELECT c.app_id, t.f010, t.amount FROM transactions t JOIN clients c ON c.id = t.client_id "
                  "ORDER BY c.app_id, t.f010")
    assert [(r["app_id"], r["f010"], str(r["amount"])) for r in rows] == [
        ("Other7", "shared-1", "700.00"), ("Shop9X", "shared-1", "500.00")]
    assert gateway.pay("shared-2").status_code == 200  # the first client is still served as before
