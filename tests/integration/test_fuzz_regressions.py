"""Server bugs the schemathesis run (test_schemathesis.py) found, each pinned by one exact request."""

from __future__ import annotations

import base64

import pytest

from mospay import accounts

ADMIN_JSON = {"Content-Type": "application/json"}


def _admin(api):
    return {**ADMIN_JSON, "Authorization": f"Bearer {api.admin_token}"}


@pytest.mark.parametrize("path, raw", [
    ("/api/v1/admin/clients", rb'{"company_name": "\ud83d"}'),
    ("/api/v1/admin/services", rb'{"name": "surrogate", "service_url": "http://127.0.0.1:9/\udc00"}'),
    ("/api/v1/payment/status", rb'{"f010": "\ud800"}'),
    ("/api/v1/payment/process", rb'{"f001": "\udfff"}'),
])
def test_a_lone_surrogate_escape_is_400_and_does_not_poison_a_database_connection(api, client, path, raw):
    # Was: pg8000 failed to encode the value half-way through sending it, the 500's connection went back
    # to the pool out of step, and the next requests read the previous statement's rows (admin 401s).
    headers = _admin(api) if "/admin/" in path else {**ADMIN_JSON, **client.bearer()}
    resp = api.request("POST", path, body=raw, headers=headers)
    assert resp.status == 400, resp.data
    assert resp.json()["error"]["code"] == "malformed_json"
    for _ in range(6):  # more than the pool's connections: each must answer its own query
        after = api.admin("/api/v1/admin/clients", {"company_name": "After Surrogate"})
        assert after.status == 201, after.data


def test_a_connection_whose_parameter_cannot_be_sent_is_discarded(db):
    with pytest.raises(UnicodeEncodeError):
        db.run("SELECT :v AS v", v="\ud800")
    for value in range(6):  # the same pool: every query must get its own answer
        assert db.run("SELECT :n::int AS n", n=value) == [{"n": value}]


def test_an_admin_password_over_72_bytes_is_refused_not_a_500(api):
    user = "longpw"
    accounts.create_admin(api.db, {"username": user, "password": "first-password", "role": "admin"})
    basic = base64.b64encode(f"{user}:first-password".encode()).decode()
    headers = {**ADMIN_JSON, "Authorization": f"Basic {basic}"}
    for new in ("x" * 73, "é" * 37):  # 73 characters; 37 characters but 74 bytes
        resp = api.request("POST", "/api/v1/admin/password", json={"new_password": new}, headers=headers)
        assert resp.status == 422, resp.data  # was 500: bcrypt 5 raises past 72 bytes
        assert resp.json()["error"]["field"] == "new_password"
    resp = api.request("POST", "/api/v1/admin/password", json={"new_password": "é" * 36}, headers=headers)
    assert resp.status == 204, resp.data  # 72 bytes is bcrypt's limit, and allowed
    with pytest.raises(Exception, match="72 bytes"):
        accounts.create_admin(api.db, {"username": "longpw2", "password": "y" * 80})
