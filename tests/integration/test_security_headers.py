"""Security headers on every response, CORS (off by default, exact origins when on), and forwarding
headers believed only from MOSPAY_TRUSTED_PROXIES."""

from __future__ import annotations

import pytest

from tests.integration.inprocess import in_process

ORIGIN = "https://shop.example.com"


@pytest.fixture(scope="module")
def proxied(postgres, template_db, simulator, tmp_path_factory):
    env = {"MOSPAY_TRUSTED_PROXIES": "127.0.0.1, 10.9.0.0/16", "MOSPAY_CORS_ORIGINS": ORIGIN}
    with in_process(postgres, template_db, simulator, tmp_path_factory.mktemp("data"), env) as gw:
        yield gw


def answers(api, client):
    """One response of each kind the API gives: success, 401, 404, 405, 400, 413, 415, health."""
    json_type = {"Content-Type": "application/json"}
    return {
        "200 payment": client.pay(),
        "200 token": api.request("POST", "/api/v1/auth/token", headers=client.basic),
        "200 health": api.request("GET", "/healthz"),
        "401": api.request("POST", "/api/v1/payment/process", json={}),
        "404": api.request("GET", "/nothing/here"),
        "405": api.request("DELETE", "/api/v1/payment/process"),
        "400": api.request("POST", "/api/v1/payment/process", body=b"{", headers={**client.bearer(), **json_type}),
        "413": api.request("POST", "/api/v1/payment/process", body=b'{"a": "' + b"x" * 70000 + b'"}',
                               headers={**client.bearer(), **json_type}),
        "415": api.request("POST", "/api/v1/payment/process", body=b"{}", headers=client.bearer()),
    }


def test_every_api_response_carries_the_security_headers(api, client):
    for kind, resp in answers(api, client).items():
        h = resp.headers
        assert h["X-Content-Type-Options"] == "nosniff", kind
        assert h["Cache-Control"] == "no-store", kind
        assert h["Referrer-Policy"] == "no-referrer", kind
        assert h["X-Frame-Options"] == "DENY", kind
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"], kind
        assert h["Content-Type"].startswith("application/json"), kind
        assert "Strict-Transport-Security" not in h, kind  # plain http: HSTS would be meaningless
        assert "Access-Control-Allow-Origin" not in h, kind
        assert h["X-Request-ID"], kind


def test_cors_is_off_by_default(api, client):
    resp = api.request("OPTIONS", "/api/v1/payment/process",
                           headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert resp.status == 403 and "Access-Control-Allow-Origin" not in resp.headers
    resp = client.pay(headers={**client.bearer(), "Origin": ORIGIN})
    assert resp.status == 200 and "Access-Control-Allow-Origin" not in resp.headers


def test_cors_preflight_for_a_configured_origin(proxied):
    resp = proxied.request("OPTIONS", "/api/v1/payment/process",
                           headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                                    "Access-Control-Request-Headers": "authorization, content-type"})
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in resp.headers
    assert "Origin" in resp.headers["Vary"]


def test_cors_preflight_allows_every_method_the_api_serves(proxied):
    """The admin API changes with PATCH and deletes with DELETE: a console on an allowed origin can too."""
    for method, path in (("PATCH", "/api/v1/admin/alert-rules/1"), ("DELETE", "/api/v1/admin/alert-rules/1")):
        resp = proxied.request("OPTIONS", path, headers={"Origin": ORIGIN, "Access-Control-Request-Method": method})
        assert resp.status == 204 and method in resp.headers["Access-Control-Allow-Methods"], method


@pytest.mark.parametrize("origin, method", [
    ("https://evil.example.com", "POST"),
    ("https://shop.example.com.evil.com", "POST"),
    ("http://shop.example.com", "POST"),
    ("null", "POST"),
    (ORIGIN, "TRACE"),
    (ORIGIN, "CONNECT"),
])
def test_cors_preflight_refused_for_other_origins_and_methods(proxied, origin, method):
    resp = proxied.request("OPTIONS", "/api/v1/payment/process",
                           headers={"Origin": origin, "Access-Control-Request-Method": method})
    assert resp.status == 403 and resp.json()["error"]["code"] == "cors_not_allowed"
    assert "Access-Control-Allow-Origin" not in resp.headers


def test_cors_actual_request_gets_allow_origin_only_for_the_configured_origin(proxied):
    client = proxied.onboard()
    ok = client.pay(headers={**client.bearer(), "Origin": ORIGIN})
    assert ok.status == 200 and ok.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "X-Request-ID" in ok.headers["Access-Control-Expose-Headers"]
    other = client.pay(headers={**client.bearer(), "Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in other.headers


def logged_ip(api, resp):
    return api.db.run("SELECT ip FROM api_logs WHERE request_id = :r", r=resp.headers["X-Request-ID"])[0]["ip"]


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(api):
    resp = api.request("POST", "/api/v1/auth/token",
                           headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    assert resp.status == 401
    assert logged_ip(api, resp) == "127.0.0.1"
    assert "Strict-Transport-Security" not in resp.headers


@pytest.mark.parametrize("forwarded_for, expected", [
    ("203.0.113.9", "203.0.113.9"),
    ("1.1.1.1, 203.0.113.9", "203.0.113.9"),          # the client cannot choose its address by prepending
    ("203.0.113.9, 10.9.1.1", "203.0.113.9"),         # a trusted proxy in the chain is skipped
    ("not-an-ip, 203.0.113.9", "203.0.113.9"),
    ("203.0.113.9, not-an-ip", "127.0.0.1"),         # garbage from the last hop: believe nothing
])
def test_forwarded_for_from_a_trusted_proxy_gives_the_client_address(proxied, forwarded_for, expected):
    resp = proxied.request("POST", "/api/v1/auth/token", headers={"X-Forwarded-For": forwarded_for})
    assert logged_ip(proxied, resp) == expected


def test_forwarded_proto_https_from_a_trusted_proxy_turns_on_hsts(proxied):
    resp = proxied.request("GET", "/healthz", headers={"X-Forwarded-Proto": "https"})
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
