"""The generated PostgreSQL functions and the payment flow's database contract, on a fresh database per test."""

from __future__ import annotations

import base64
import json

import falcon.testing
import pytest

from mospay import accounts, catalogue, errors, functions
from mospay.app import create_app
from mospay.config import Config
from mospay.db import Database
from mospay.simulator import Simulator

KEYS = {"secret_key": "k" * 40, "jwt_secret_key": "j" * 40}


@pytest.fixture(scope="module")
def sim():
    with Simulator(hang_seconds=2) as simulator:
        yield simulator


@pytest.fixture
def client_creds(db, sim):
    catalogue.create_service(db, {"name": "mtnmomorwa", "service_url": sim.url, "timeout_s": 1})
    creds = accounts.create_client(db, KEYS["secret_key"], {"company_name": "Akaliza", "app_id": "akaliza"})
    catalogue.assign_service(db, "akaliza", {"service": "mtnmomorwa", "routes": ["collection"]})
    return creds


class CountingDatabase(Database):
    """Counts statements sent to PostgreSQL: the payment path's round-trip budget is part of its contract."""
    statements = 0

    def _autocommit(self, sql, params, prepared):  # where run(), query() and one() all send their statement
        CountingDatabase.statements += 1
        return super()._autocommit(sql, params, prepared)


def app_client(db_url, database_cls=Database):
    config = Config(database_url=db_url, **KEYS)
    database = database_cls(db_url, size=4)
    return falcon.testing.TestClient(create_app(config, database)), database


def payment(creds, **overrides):
    body = {"f000": "mtnmomorwa", "f001": "collection", "f002": "collection", "f003": "akaliza",
            "f004": "1000.00", "f005": "+250788123456", "f006": "customer123", "f007": "encrypted",
            "f008": "password123", "f009": "device_abc123", "f010": "txn_xyz789"}
    body.update(overrides)
    raw = base64.b64encode(f"{creds['api_username']}:{creds['api_secret']}".encode()).decode()
    return {"json": body, "headers": {"Authorization": f"Basic {raw}", "App-ID": "akaliza"}}


def call_request_fn(db, data):
    return db.run('SELECT mospay_fn."akaliza_mtnmomorwa_collection"(:u, CAST(:d AS jsonb)) AS r',
                  u="txn_1", d=json.dumps(data))[0]["r"]


def call_response_fn(db, code, output):
    return db.run('SELECT mospay_fn."RESPONSE_akaliza_mtnmomorwa_collection"(:u, CAST(:d AS jsonb), :c, '
                  'CAST(:o AS jsonb)) AS r', u="txn_1", d="{}", c=code, o=json.dumps(output))[0]["r"]


def test_assignment_creates_both_functions_with_seed_names(db, client_creds):
    names = {r["proname"] for r in db.run(
        "SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE nspname = 'mospay_fn'")}
    assert names == {"akaliza_mtnmomorwa_collection", "RESPONSE_akaliza_mtnmomorwa_collection",
                     "akaliza_mtnmomorwa_collectionStatus",
                     # the client's refund functions for the service (tests/integration/test_refund_functions.py)
                     "akaliza_mtnmomorwa_Refund", "RESPONSE_akaliza_mtnmomorwa_Refund",
                     "akaliza_mtnmomorwa_RefundStatus"}


def test_default_request_function_builds_a_momo_collection_call(db, client_creds, sim):
    plan = call_request_fn(db, {"f004": "1000.00", "f005": "+250788123456", "f006": "customer123"})
    assert plan["action"] == "SERVICE" and plan["method"] == "POST"
    assert plan["serviceurl"] == sim.url.rstrip("/") + "/collection"
    assert plan["servicepayload"] == {
        "amount": "1000.00", "currency": "RWF", "externalId": "txn_1",
        "payer": {"partyIdType": "MSISDN", "partyId": "+250788123456"},
        "payerMessage": "Payment txn_1", "payeeNote": "customer123"}


@pytest.mark.parametrize("code, output, status", [
    (200, {"status": "SUCCESSFUL"}, "SUCCESSFUL"),
    (201, {"status": "success"}, "SUCCESSFUL"),
    (202, {}, "PENDING"),
    (200, {"status": "PENDING"}, "PENDING"),
    (200, {"status": "FAILED", "reason": "NOT_ENOUGH_FUNDS"}, "FAILED"),
    (400, {"error": "bad"}, "FAILED"),
    (404, "not json", "FAILED"),
    (408, {}, "UNKNOWN"),
    (409, {}, "UNKNOWN"),
    (500, {"status": "FAILED"}, "UNKNOWN"),
    (503, "Service Unavailable", "UNKNOWN"),
    (200, {"status": "weird"}, "UNKNOWN"),
    (200, [1, 2], "UNKNOWN"),
])
def test_default_response_function_maps_provider_answers(db, client_creds, code, output, status):
    assert call_response_fn(db, code, output)["status"] == status


def test_payment_path_uses_two_database_round_trips(db_url, client_creds):
    client, database = app_client(db_url, CountingDatabase)
    first = client.simulate_post("/api/v1/payment/process", **payment(client_creds, f010="warm_up"))
    assert first.status_code == 200, first.text  # this process now holds the client + service context
    CountingDatabase.statements = 0
    resp = client.simulate_post("/api/v1/payment/process", **payment(client_creds))
    database.close()
    assert resp.status_code == 200, resp.text
    # start_payment (context still current? record, plan) before the provider call; finish_payment after it.
    assert CountingDatabase.statements == 2


def test_final_state_cannot_be_overwritten_even_by_sql(db, db_url, client_creds):
    client, database = app_client(db_url)
    assert client.simulate_post("/api/v1/payment/process", **payment(client_creds)).status_code == 200
    database.close()
    with pytest.raises(errors.Conflict):
        db.run("UPDATE transactions SET status = 'FAILED' WHERE f010 = 'txn_xyz789'")
    assert db.run("SELECT status FROM transactions")[0]["status"] == "SUCCESSFUL"


def test_missing_function_is_an_error_and_leaves_no_transaction(db, db_url, client_creds):
    db.run('DROP FUNCTION mospay_fn."akaliza_mtnmomorwa_collection"(text, jsonb)')
    client, database = app_client(db_url)
    resp = client.simulate_post("/api/v1/payment/process", **payment(client_creds))
    database.close()
    assert resp.status_code == 502 and resp.json["error"]["code"] == "function_missing"
    assert db.run("SELECT count(*) AS n FROM transactions")[0]["n"] == 0


def _replace_request_fn(db, body_sql):
    db.run('CREATE OR REPLACE FUNCTION mospay_fn."akaliza_mtnmomorwa_collection"(unique_id text, data_input jsonb) '
           f"RETURNS jsonb LANGUAGE plpgsql AS $f$ BEGIN {body_sql} END $f$")
    db.run("SELECT mospay.seal_functions()")  # as MosPay's own saves do: it runs as mospay_function


def test_request_function_can_refuse_with_a_message_for_the_client(db, db_url, client_creds):
    _replace_request_fn(db, "RAISE EXCEPTION 'daily limit reached';")
    client, database = app_client(db_url)
    resp = client.simulate_post("/api/v1/payment/process", **payment(client_creds))
    database.close()
    assert resp.status_code == 422 and resp.json["error"]["message"] == "daily limit reached"
    assert db.run("SELECT count(*) AS n FROM transactions")[0]["n"] == 0


@pytest.mark.parametrize("plan, http_status, status", [
    ({"action": "OUTPUT", "status": "SUCCESSFUL", "message": "answered by the function"}, 200, "SUCCESSFUL"),
    ({"action": "ERROR", "message": "not allowed for this customer"}, 402, "FAILED"),
    ({"action": "SERVICE", "serviceurl": "ftp://nowhere"}, 402, "FAILED"),
])
def test_request_function_actions_other_than_service(db, db_url, client_creds, sim, plan, http_status, status):
    _replace_request_fn(db, f"RETURN '{json.dumps(plan)}'::jsonb;")
    client, database = app_client(db_url)
    sim.reset()
    resp = client.simulate_post("/api/v1/payment/process", **payment(client_creds))
    database.close()
    assert (resp.status_code, resp.json["status"]) == (http_status, status)
    assert sim.calls["total"] == 0


def test_a_failing_response_function_leaves_the_payment_unknown(db, db_url, client_creds, sim):
    db.run('CREATE OR REPLACE FUNCTION mospay_fn."RESPONSE_akaliza_mtnmomorwa_collection"'
           "(unique_id text, data_input jsonb, code integer, data_output jsonb) RETURNS jsonb "
           "LANGUAGE plpgsql AS $f$ BEGIN RETURN 1/0; END $f$")
    db.run("SELECT mospay.seal_functions()")
    client, database = app_client(db_url)
    resp = client.simulate_post("/api/v1/payment/process", **payment(client_creds))
    database.close()
    assert resp.status_code == 202 and resp.json["status"] == "UNKNOWN"
    row = db.run("SELECT status, status_reason FROM transactions")[0]
    assert row["status"] == "UNKNOWN" and "division by zero" in row["status_reason"]


HOSTILE_NAMES = ["x'; DROP TABLE clients; --", 'a"b', "a$$b", "ab;c", "ÄÖÜ", "ｍｔｎ", "a b", "a\x00b",
                 "collection)--", "x" * 300, "", "UPPER"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_service_or_route_names_never_reach_sql(db, client_creds, name):
    with pytest.raises(errors.InvalidField):
        catalogue.assign_service(db, "akaliza", {"service": "mtnmomorwa", "routes": [name]})
    with pytest.raises(errors.InvalidField):
        catalogue.assign_service(db, "akaliza", {"service": name, "routes": ["collection"]})
    with pytest.raises(errors.InvalidField):
        catalogue.create_service(db, {"name": name, "service_url": "http://127.0.0.1:1"})
    assert db.run("SELECT count(*) AS n FROM clients")[0]["n"] == 1


@pytest.mark.parametrize("app_id", ["ab", "a_b", "a-b", "ab'c", "x" * 25, "ąbc"])
def test_hostile_app_ids_are_rejected(db, app_id):
    with pytest.raises(errors.InvalidField):
        accounts.create_client(db, KEYS["secret_key"], {"company_name": "X", "app_id": app_id})


def test_longest_allowed_parts_fit_postgres_identifier_limit_or_are_refused(db, sim):
    catalogue.create_service(db, {"name": "s" * 24, "service_url": sim.url})
    accounts.create_client(db, KEYS["secret_key"], {"company_name": "Long", "app_id": "A" * 24})
    with pytest.raises(errors.InvalidField) as info:
        catalogue.assign_service(db, "A" * 24, {"service": "s" * 24, "routes": ["r" * 24]})
    assert "63-byte" in info.value.message
    fits = "r" * (63 - len("RESPONSE_" + "A" * 24 + "_" + "s" * 24 + "_"))
    catalogue.assign_service(db, "A" * 24, {"service": "s" * 24, "routes": [fits]})
    name = functions.response_function_name_unchecked(functions.request_function_name("A" * 24, "s" * 24, fits))
    assert len(name) == 63
    assert db.run("SELECT count(*) AS n FROM pg_proc WHERE proname = :n", n=name)[0]["n"] == 1
