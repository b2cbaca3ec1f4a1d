"""The payment path end to end: the app run.py serves (in-process), real PostgreSQL, the simulator process
as provider over real HTTP."""

from __future__ import annotations

import base64
import json

import pytest

from mospay import __version__
from mospay.migrate import SCHEMA_VERSION
from tests.support import free_port, provider_reference


def sim_calls(api, transaction_id):
    """Provider calls for one payment, by the reference MosPay sent (derived from its transaction_id)."""
    resp = api.http.request("GET", api.simulator_url + "/_sim/calls")
    return resp.json()["by_external_id"].get(provider_reference(transaction_id), 0)


def stored(api, f010):
    return api.db.run("SELECT * FROM transactions WHERE f010 = :f010", f010=f010)


def test_health_and_readiness_need_no_auth(api):
    assert api.request("GET", "/healthz").json() == {
        "status": "ok", "version": __version__, "schema_version": SCHEMA_VERSION,
        "expected_schema_version": SCHEMA_VERSION}
    assert api.request("GET", "/readyz").json() == {"status": "ready"}


@pytest.mark.parametrize("header", ["App-ID", "X-App-ID"])
def test_token_for_basic_credentials_with_either_app_id_header(api, client, header):
    raw = base64.b64encode(f"{client.username}:{client.secret}".encode()).decode()
    resp = api.request("POST", "/api/v1/auth/token", headers={"Authorization": f"Basic {raw}", header: client.app_id})
    assert resp.status == 200
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["access_token"].count(".") == 2


def test_token_failures_all_look_the_same(api, client):
    other = api.onboard()
    api.db.run("UPDATE clients SET active = false WHERE app_id = :a", a=other.app_id)

    def basic(user, secret, app_id):
        raw = base64.b64encode(f"{user}:{secret}".encode()).decode()
        return {"Authorization": f"Basic {raw}", "App-ID": app_id}

    attempts = [
        basic(client.username, client.secret + "x", client.app_id),   # wrong secret
        basic(client.username + "x", client.secret, client.app_id),   # wrong username
        basic(client.username, client.secret, "nosuchapp"),           # unknown app
        basic(client.username, client.secret, other.app_id),          # App-ID of someone else
        basic(other.username, other.secret, other.app_id),            # inactive client
    ]
    bodies = set()
    for headers in attempts:
        resp = api.request("POST", "/api/v1/auth/token", headers=headers)
        assert resp.status == 401
        bodies.add(resp.data)
    assert len(bodies) == 1
    assert json.loads(bodies.pop())["error"]["code"] == "unauthorized"


def test_successful_payment_with_bearer_is_recorded(api, client):
    body = client.body()
    resp = client.pay(body)
    assert resp.status == 200, resp.data
    answer = resp.json()
    assert answer["status"] == "SUCCESSFUL" and answer["f010"] == body["f010"]
    assert answer["transaction_id"].startswith("txn_")
    assert answer["result"]["financialTransactionId"]
    row = stored(api, body["f010"])[0]
    assert row["status"] == "SUCCESSFUL" and str(row["amount"]) == "1000.00"
    assert row["request"]["f007"] == "***" and row["request"]["f008"] == "***"
    history = api.db.run("SELECT from_status, to_status FROM transaction_events WHERE transaction_id = :i ORDER BY id",
                             i=row["id"])
    assert [(h["from_status"], h["to_status"]) for h in history] == [(None, "RECEIVED"), ("RECEIVED", "SUCCESSFUL")]


def test_successful_payment_with_basic_auth(api, client):
    resp = client.pay(headers=client.basic)
    assert resp.status == 200 and resp.json()["status"] == "SUCCESSFUL"


@pytest.mark.parametrize("msisdn, http_status, status", [
    ("+250788120001", 402, "FAILED"),     # provider declines
    ("+250788120004", 202, "PENDING"),    # awaiting payer approval
    ("+250788120003", 202, "UNKNOWN"),    # provider 500: money may have moved
    ("+250788120002", 202, "UNKNOWN"),    # provider hangs past the service timeout
])
def test_provider_outcomes_map_to_states(api, msisdn, http_status, status):
    client = api.onboard(service="slowmomo", timeout_s=1)
    body = client.body(msisdn=msisdn)
    resp = client.pay(body)
    assert (resp.status, resp.json()["status"]) == (http_status, status), resp.data
    assert stored(api, body["f010"])[0]["status"] == status
    assert sim_calls(api, resp.json()["transaction_id"]) == 1


def test_unreachable_provider_is_unknown_not_failed(api):
    client = api.onboard(service="deadmomo", service_url=f"http://127.0.0.1:{free_port()}")
    body = client.body()
    resp = client.pay(body)
    assert resp.status == 202 and resp.json()["status"] == "UNKNOWN"
    assert stored(api, body["f010"])[0]["status"] == "UNKNOWN"


def test_replay_with_same_f010_returns_first_result_without_calling_provider(api, client):
    body = client.body()
    first = client.pay(body)
    again = client.pay(dict(body))
    assert (again.status, again.json()) == (first.status, first.json())
    assert sim_calls(api, first.json()["transaction_id"]) == 1
    assert len(stored(api, body["f010"])) == 1


def test_same_f010_with_different_body_is_a_conflict(api, client):
    body = client.body()
    first = client.pay(body)
    assert first.status == 200
    resp = client.pay({**body, "f004": "2000.00"})
    assert resp.status == 409 and resp.json()["error"]["code"] == "idempotency_conflict"
    assert sim_calls(api, first.json()["transaction_id"]) == 1


def test_status_lookup_by_get_and_post(api, client):
    body = client.body()
    paid = client.pay(body).json()
    got = api.request("GET", f"/api/v1/payment/{body['f010']}", headers=client.bearer())
    assert got.status == 200
    assert got.json()["transaction_id"] == paid["transaction_id"] and got.json()["status"] == "SUCCESSFUL"
    posted = api.request("POST", "/api/v1/payment/status", json={"f010": body["f010"]}, headers=client.basic)
    assert posted.status == 200 and posted.json()["transaction_id"] == paid["transaction_id"]


def test_a_client_cannot_see_another_clients_transaction(api, client):
    body = client.body()
    client.pay(body)
    other = api.onboard()
    resp = api.request("GET", f"/api/v1/payment/{body['f010']}", headers=other.bearer())
    assert resp.status == 404


def _bad(client, **overrides):
    return client.body(**overrides)


@pytest.mark.parametrize("make_request, status, code", [
    (lambda c: dict(body=b"{not json", headers={"Content-Type": "application/json"}), 400, "malformed_json"),
    (lambda c: dict(body=b"[1, 2]", headers={"Content-Type": "application/json"}), 400, "malformed_json"),
    (lambda c: dict(body=b'{"f000": "a", "f000": "b"}', headers={"Content-Type": "application/json"}), 400, "malformed_json"),
    (lambda c: dict(body=json.dumps(c.body()).encode(), headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type"),
    (lambda c: dict(body=json.dumps(c.body(f006="x" * 70000)).encode(), headers={"Content-Type": "application/json"}), 413, "payload_too_large"),
    (lambda c: dict(json=_bad(c, f004="10.005")), 422, "invalid_field"),
    (lambda c: dict(json=_bad(c, f004="-5")), 422, "invalid_field"),
    (lambda c: dict(json=_bad(c, f004="100000000000000000000")), 422, "invalid_field"),
    (lambda c: dict(json=_bad(c, f005="not-a-phone")), 422, "invalid_field"),
    (lambda c: dict(json=_bad(c, f004=1000)), 422, "invalid_type"),
    (lambda c: dict(json=_bad(c, f099="extra")), 422, "unknown_field"),
    (lambda c: dict(json=_bad(c, unexpected="extra")), 422, "unknown_field"),
    (lambda c: dict(json={k: v for k, v in c.body().items() if k != "f006"}), 422, "missing_field"),
    (lambda c: dict(json=_bad(c, f003="someoneelse")), 403, "app_id_mismatch"),
    (lambda c: dict(json=_bad(c, f000="nosuchservice")), 404, "service_not_found"),
    (lambda c: dict(json=_bad(c, f002="disbursement")), 403, "route_not_assigned"),
    (lambda c: dict(json=_bad(c, f000="x'; DROP TABLE clients; --")), 404, "service_not_found"),
    (lambda c: dict(json=_bad(c, f002="collection$$; DROP TABLE clients")), 422, "invalid_field"),
])
def test_bad_payment_requests_get_a_clear_4xx_and_change_nothing(api, client, make_request, status, code):
    kwargs = make_request(client)
    headers = {**client.bearer(), **kwargs.pop("headers", {})}
    before = api.db.run("SELECT count(*) AS n FROM transactions")[0]["n"]
    resp = api.request("POST", "/api/v1/payment/process", headers=headers, **kwargs)
    assert resp.status == status, resp.data
    assert resp.json()["error"]["code"] == code
    assert api.db.run("SELECT count(*) AS n FROM transactions")[0]["n"] == before


def test_service_not_assigned_is_403(api, client):
    api.onboard(service="airtelrw")  # exists, but assigned to someone else
    resp = client.pay(f000="airtelrw")
    assert resp.status == 403 and resp.json()["error"]["code"] == "service_not_assigned"


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer not.a.token"},
    {"Authorization": "Basic !!!notbase64", "App-ID": "abc"},
    {"Authorization": "Digest abc"},
])
def test_payment_without_valid_credentials_is_401(api, client, headers):
    resp = api.request("POST", "/api/v1/payment/process", json=client.body(), headers=headers)
    assert resp.status == 401 and resp.json()["error"]["code"] == "unauthorized"


def test_every_api_call_gets_one_log_row(api, client):
    ok = client.pay()
    bad = api.request("POST", "/api/v1/payment/process", body=b"{", headers={**client.bearer(), "Content-Type": "application/json"})
    for resp in (ok, bad):
        rows = api.db.run("SELECT * FROM api_logs WHERE request_id = :r", r=resp.headers["X-Request-ID"])
        assert len(rows) == 1
        assert rows[0]["status_code"] == resp.status and rows[0]["endpoint"] == "/api/v1/payment/process"
    row = api.db.run("SELECT * FROM api_logs WHERE request_id = :r", r=ok.headers["X-Request-ID"])[0]
    assert row["client_id"] is not None and row["request_body"]["f008"] == "***"
    assert row["response_body"]["status"] == "SUCCESSFUL"


def test_no_secret_reaches_the_database_in_clear_text(api):
    client = api.onboard()
    body = client.body()
    token = client.token()
    client.pay(body, headers={"Authorization": f"Bearer {token}"})
    client.pay(client.body(msisdn="+250788120003"), headers=client.basic)
    dump = []
    for table in ("users", "clients", "services", "service_fields", "client_services", "transactions",
                  "transaction_events", "api_logs"):
        dump += [r["j"] for r in api.db.run(f"SELECT row_to_json(t)::text AS j FROM {table} t")]
    text = "\n".join(dump)
    for secret in (body["f007"], body["f008"], client.secret, token, "ops-password-1"):
        assert secret not in text


def test_unknown_route_and_method_are_json_errors(api):
    resp = api.request("GET", "/api/v1/nothing-here")
    assert resp.status == 404 and resp.json()["error"]["code"] == "not_found"
    resp = api.request("DELETE", "/api/v1/payment/process")
    assert resp.status == 405 and resp.json()["error"]["code"] == "method_not_allowed"


def test_api_log_names_the_app_id_of_a_bearer_caller(api, client):
    resp = client.pay()  # Bearer: no App-ID header at all
    row = api.db.run("SELECT app_id FROM api_logs WHERE request_id = :r", r=resp.headers["X-Request-ID"])[0]
    assert row["app_id"] == client.app_id
