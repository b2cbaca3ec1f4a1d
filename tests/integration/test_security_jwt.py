"""Every way a bearer token must be refused, proved against the app run.py serves (in-process)."""

from __future__ import annotations

import base64
import json
import time

import pytest

from mospay import accounts
from tests.integration.conftest import TEST_KEYS
from tests.integration.security_support import basic, forge

CLIENT_ROUTE = ("POST", "/api/v1/payment/process")
ADMIN_ROUTE = ("POST", "/api/v1/admin/clients")


def claims(kind, subject, version=1, **overrides):
    now = int(time.time())
    base = {"iss": "mospay", "aud": {"client": "mospay-api", "admin": "mospay-admin"}[kind], "typ": kind,
            "sub": subject, "cv": version, "iat": now, "exp": now + 600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def pay_with(api, client, token):
    return api.request(*CLIENT_ROUTE, json=client.body(), headers={"Authorization": f"Bearer {token}"})


def admin_with(api, token):
    return api.request(*ADMIN_ROUTE, json={"company_name": "Nope Ltd"},
                           headers={"Authorization": f"Bearer {token}"})


def admin_token(api, username, password):
    resp = api.request("POST", "/api/v1/admin/token", headers=basic(username, password))
    assert resp.status == 200, resp.data
    return resp.json()["access_token"]


def assert_refused(resp):
    assert resp.status == 401, resp.data
    assert resp.json() == {"error": {"code": "unauthorized", "message": "invalid credentials"}}


def test_a_hand_forged_token_with_the_right_key_is_accepted(api, client):
    # The control for every test below: the forging helper itself produces a token the server takes.
    assert pay_with(api, client, forge(claims("client", client.app_id))).status == 200


@pytest.mark.parametrize("make_token", [
    pytest.param(lambda c: b64({"alg": "none", "typ": "JWT"}) + "." + b64(claims("client", c.app_id)) + ".",
                 id="alg-none"),
    pytest.param(lambda c: forge(claims("client", c.app_id), key="another-key-of-at-least-32-bytes!!"),
                 id="other-key"),
    pytest.param(lambda c: forge(claims("client", c.app_id), algorithm="HS512"), id="alg-HS512-same-key",
                 marks=pytest.mark.filterwarnings("ignore:The HMAC key")),
    pytest.param(lambda c: forge(claims("client", c.app_id, exp=int(time.time()) - 5)), id="expired"),
    pytest.param(lambda c: forge(claims("client", c.app_id, iss="someone-else")), id="wrong-issuer"),
    pytest.param(lambda c: forge(claims("client", c.app_id, aud="mospay-admin")), id="admin-audience"),
    pytest.param(lambda c: forge(claims("client", c.app_id, typ="admin")), id="admin-typ"),
    pytest.param(lambda c: forge(claims("client", c.app_id, cv=None)), id="no-credential-version"),
    pytest.param(lambda c: forge(claims("client", c.app_id, cv=2)), id="future-credential-version"),
    pytest.param(lambda c: forge(claims("client", c.app_id, exp=None)), id="no-expiry"),
    pytest.param(lambda c: forge(claims("client", "nosuchapp")), id="unknown-client"),
    pytest.param(lambda c: forge(claims("admin", "ops")), id="admin-token-on-client-route"),
    pytest.param(lambda c: c.token()[:-3] + ("AAA" if not c.token().endswith("AAA") else "BBB"),
                 id="tampered-signature"),
])
def test_client_route_refuses(api, client, make_token):
    before = api.db.run("SELECT count(*) AS n FROM transactions")[0]["n"]
    assert_refused(pay_with(api, client, make_token(client)))
    assert api.db.run("SELECT count(*) AS n FROM transactions")[0]["n"] == before


def test_client_token_on_admin_route_is_refused(api, client):
    assert_refused(admin_with(api, client.token()))
    assert_refused(admin_with(api, forge(claims("client", "ops"))))


def test_admin_route_refuses_forged_and_expired_admin_tokens(api):
    assert admin_with(api, forge(claims("admin", "ops"))).status == 201  # control
    assert_refused(admin_with(api, forge(claims("admin", "ops", exp=int(time.time()) - 5))))
    assert_refused(admin_with(api, forge(claims("admin", "ops"), key="x" * 40)))
    assert_refused(admin_with(api, forge(claims("admin", "nosuchadmin"))))


def test_token_of_a_deactivated_client_is_refused_at_once(api):
    client = api.onboard()
    token = client.token()
    assert pay_with(api, client, token).status == 200
    api.db.run("UPDATE clients SET active = false WHERE app_id = :a", a=client.app_id)
    assert_refused(pay_with(api, client, token))
    assert_refused(api.request("GET", "/api/v1/payment/x1", headers={"Authorization": f"Bearer {token}"}))


def test_rotated_credentials_revoke_old_tokens_and_the_old_secret_at_once(api):
    client = api.onboard()
    token = client.token()
    rotated = accounts.rotate_credentials(api.db, TEST_KEYS["SECRET_KEY"], client.app_id)
    assert_refused(pay_with(api, client, token))
    assert_refused(api.request("POST", "/api/v1/auth/token", headers=client.basic))
    fresh = api.request("POST", "/api/v1/auth/token",
                            headers=basic(rotated["api_username"], rotated["api_secret"], client.app_id))
    assert fresh.status == 200
    assert pay_with(api, client, fresh.json()["access_token"]).status == 200


def test_admin_password_change_and_deactivation_revoke_admin_tokens(api):
    accounts.create_admin(api.db, {"username": "temp1", "password": "temp-password-1", "role": "admin"})
    token = admin_token(api, "temp1", "temp-password-1")
    assert admin_with(api, token).status == 201
    changed = api.request("POST", "/api/v1/admin/password", json={"new_password": "temp-password-2"},
                              headers=basic("temp1", "temp-password-1"))
    assert changed.status == 204
    assert_refused(admin_with(api, token))
    token = admin_token(api, "temp1", "temp-password-2")
    api.db.run("UPDATE users SET active = false WHERE username = 'temp1'")
    assert_refused(admin_with(api, token))


def test_viewer_role_cannot_change_anything_through_the_admin_api(api, client):
    accounts.create_admin(api.db, {"username": "viewer1", "password": "viewer-password", "role": "viewer"})
    token = admin_token(api, "viewer1", "viewer-password")
    auth = {"Authorization": f"Bearer {token}"}
    for method, path, body in [
        ("POST", "/api/v1/admin/services", {"name": "viewersvc", "service_url": "http://127.0.0.1:9"}),
        ("POST", "/api/v1/admin/clients", {"company_name": "Viewer Ltd"}),
        ("POST", f"/api/v1/admin/clients/{client.app_id}/services", {"service": client.service, "routes": ["x"]}),
        ("PUT", f"/api/v1/admin/clients/{client.app_id}/limits", {"rate_limit_per_minute": 1}),
    ]:
        resp = api.request(method, path, json=body, headers=auth)
        assert resp.status == 403 and resp.json()["error"]["code"] == "insufficient_role", (path, resp.data)
    assert api.db.run("SELECT rate_limit_per_minute FROM clients WHERE app_id = :a",
                          a=client.app_id)[0]["rate_limit_per_minute"] is None


def test_credentials_in_cookies_are_ignored_and_no_response_sets_a_cookie(api, client):
    token = client.token()
    cookie = {"Cookie": f"token={token}; access_token={token}"}
    resp = api.request(*CLIENT_ROUTE, json=client.body(), headers=cookie)
    assert resp.status == 401
    for r in (resp, api.request("POST", "/api/v1/auth/token", headers=client.basic), client.pay()):
        assert "Set-Cookie" not in r.headers
