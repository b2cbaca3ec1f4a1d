"""Bad input against every API endpoint over real HTTP: each gets a 4xx JSON error and changes nothing.

"Nothing" is checked with a fingerprint of every state table, the table list and every function body
(security_support.snapshot); api_logs and security_events are expected to record the refusal.
"""

from __future__ import annotations

import json
import secrets
import socket
from urllib.parse import urlsplit

import pytest

from mospay import accounts
from tests.integration.security_support import basic, snapshot

JSON = {"Content-Type": "application/json"}
INJECTION = "x'; DROP TABLE clients; --"
DDL = 'collection"() RETURNS jsonb AS $$ SELECT 1 $$ LANGUAGE sql; DROP TABLE transactions; --'


@pytest.fixture(scope="module")
def client(gateway):
    """A client of this module's own: the control test really changes its limits."""
    return gateway.onboard()


@pytest.fixture(scope="module")
def pw_user(gateway):
    accounts.create_admin(gateway.db, {"username": "pwuser", "password": "pw-password-1", "role": "admin"})
    return basic("pwuser", "pw-password-1")


def endpoints(gateway, client, pw_user):
    """(method, path, auth headers, a valid body) for every endpoint that takes a JSON body."""
    admin = {"Authorization": f"Bearer {gateway.admin_token}"}
    return {
        "payment": ("POST", "/api/v1/payment/process", client.bearer(), client.body()),
        "status": ("POST", "/api/v1/payment/status", client.bearer(), {"f010": "abc"}),
        "admin-password": ("POST", "/api/v1/admin/password", pw_user, {"new_password": "pw-password-2"}),
        "services": ("POST", "/api/v1/admin/services", admin,
                     {"name": "svc" + secrets.token_hex(3), "service_url": "http://127.0.0.1:9"}),
        "clients": ("POST", "/api/v1/admin/clients", admin, {"company_name": "Valid Ltd"}),
        "assign": ("POST", f"/api/v1/admin/clients/{client.app_id}/services", admin,
                   {"service": client.service, "routes": ["collection"]}),
        "limits": ("PUT", f"/api/v1/admin/clients/{client.app_id}/limits", admin, {"rate_limit_per_minute": 100000}),
    }


def check_refused(gateway, resp, status, code=None):
    assert resp.status == status, resp.data[:300]
    assert resp.headers["Content-Type"].startswith("application/json")
    error = resp.json()["error"]
    assert error["message"] and (code is None or error["code"] == code), error
    for leak in ("Traceback", "SELECT", "pg8000", "/mospay/", ".py"):
        assert leak not in resp.data.decode("utf-8", "replace")


GENERIC = [
    ("malformed", b"{not json", JSON, 400, "malformed_json"),
    ("array", b"[1, 2]", JSON, 400, "malformed_json"),
    ("string", b'"a string"', JSON, 400, "malformed_json"),
    ("number", b"42", JSON, 400, "malformed_json"),
    ("null", b"null", JSON, 400, "malformed_json"),
    ("empty", b"", JSON, 400, "malformed_json"),
    ("duplicate-keys", b'{"f010": "a", "f010": "b"}', JSON, 400, "malformed_json"),
    ("NaN", b'{"f004": NaN}', JSON, 400, "malformed_json"),
    ("Infinity", b'{"f004": Infinity}', JSON, 400, "malformed_json"),
    ("-Infinity", b'{"f004": -Infinity}', JSON, 400, "malformed_json"),
    ("non-utf8", b'{"f006": "\xff\xfe\xc3\x28"}', JSON, 400, "malformed_json"),
    ("latin1-declared", '{"f006": "café"}'.encode("latin-1"), {"Content-Type": "application/json; charset=latin-1"},
     400, "malformed_json"),
    ("nul-escaped", b'{"f006": "a\\u0000b"}', JSON, 400, "malformed_json"),
    ("nul-raw", b'{"f006": "a\x00b"}', JSON, 400, "malformed_json"),
    ("nested-10000", b'{"a": ' + b"[" * 10000 + b"]" * 10000 + b"}", JSON, 400, "malformed_json"),
    ("over-limit", b'{"f006": "' + b"x" * 70000 + b'"}', JSON, 413, "payload_too_large"),
    ("1MB-string", b'{"f006": "' + b"x" * 1_000_000 + b'"}', JSON, 413, "payload_too_large"),
    ("no-content-type", b"{}", {}, 415, "unsupported_media_type"),
    ("text-plain", b"{}", {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
    ("form", b"f010=a", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
    ("json-lookalike", b"{}", {"Content-Type": "application/jsonx"}, 415, "unsupported_media_type"),
]
ENDPOINT_IDS = ["payment", "status", "admin-password", "services", "clients", "assign", "limits"]


@pytest.mark.parametrize("endpoint", ENDPOINT_IDS)
@pytest.mark.parametrize("case", GENERIC, ids=[c[0] for c in GENERIC])
def test_malformed_bodies_are_refused_everywhere(gateway, client, pw_user, endpoint, case):
    _, raw, content_type, status, code = case
    method, path, auth, _ = endpoints(gateway, client, pw_user)[endpoint]
    before = snapshot(gateway.db)
    resp = gateway.request(method, path, body=raw, headers={**auth, **content_type})
    check_refused(gateway, resp, status, code)
    assert snapshot(gateway.db) == before


def test_the_valid_bodies_used_above_are_accepted(gateway, client, pw_user):
    # The control: the same endpoints with their valid body succeed, so the refusals above are about the
    # body, and each success shows up in the snapshot, so "unchanged" above means something.
    for name, (method, path, auth, body) in endpoints(gateway, client, pw_user).items():
        if name in ("admin-password", "status"):
            continue  # one would change the password the other cases log in with; the other changes nothing
        if name == "assign":  # re-assigning the same route is (rightly) a no-op: add one
            body = {**body, "routes": ["collection", "r" + secrets.token_hex(3)]}
        before = snapshot(gateway.db)
        resp = gateway.request(method, path, json=body, headers=auth)
        assert resp.status in (200, 201), (name, resp.data)
        assert snapshot(gateway.db) != before, name


FIELD_CASES = [
    # payment fields: nested objects, numbers for strings, amounts, injection into names and keys
    ("payment", {"f004": {"value": "1000"}}, 422, "invalid_type"),
    ("payment", {"f006": ["customer"]}, 422, "invalid_type"),
    ("payment", {"f004": 1000}, 422, "invalid_type"),
    ("payment", {"f004": 1000.5}, 422, "invalid_type"),
    ("payment", {"f005": 250788123456}, 422, "invalid_type"),
    ("payment", {"f010": None}, 422, "invalid_type"),
    ("payment", {"f007": True}, 422, "invalid_type"),
    ("payment", {"f004": "10.005"}, 422, "invalid_field"),
    ("payment", {"f004": "0"}, 422, "invalid_field"),
    ("payment", {"f004": "0.00"}, 422, "invalid_field"),
    ("payment", {"f004": "-5"}, 422, "invalid_field"),
    ("payment", {"f004": "100000000000000000000"}, 422, "invalid_field"),
    ("payment", {"f004": "1e20"}, 422, "invalid_field"),
    ("payment", {"f004": "NaN"}, 422, "invalid_field"),
    ("payment", {"f004": "Infinity"}, 422, "invalid_field"),
    ("payment", {"f004": "1,000"}, 422, "invalid_field"),
    ("payment", {"f004": " 1000"}, 422, "invalid_field"),
    ("payment", {"f004": "١٠٠٠"}, 422, "invalid_field"),  # Arabic-Indic digits: Decimal() would accept them
    ("payment", {"f005": "+250 788 123"}, 422, "invalid_field"),
    ("payment", {"f006": "x" * 60000}, 422, "invalid_field"),
    ("payment", {"f099": "extra"}, 422, "unknown_field"),
    ("payment", {"F004": "1000.00"}, 422, "unknown_field"),
    ("payment", {"f004\u0000": "1"}, 400, "malformed_json"),
    ("payment", {INJECTION: "1"}, 422, "unknown_field"),
    ("payment", {"f000": INJECTION}, 404, "service_not_found"),
    ("payment", {"f000": "MTNMOMORWA"}, 404, "service_not_found"),
    ("payment", {"f002": INJECTION}, 422, "invalid_field"),
    ("payment", {"f002": DDL}, 422, "invalid_field"),
    ("payment", {"f002": "collection\u200b"}, 422, "invalid_field"),
    ("payment", {"f003": INJECTION}, 403, "app_id_mismatch"),
    ("payment", {"f010": INJECTION}, 422, "invalid_field"),
    ("payment", {"f010": "../../etc/passwd"}, 422, "invalid_field"),
    ("payment", {"f010": "a" * 65}, 422, "invalid_field"),
    ("payment", {"f010": "abc\r\nSet-Cookie: x=1"}, 422, "invalid_field"),
    ("status", {"f010": INJECTION}, 422, "invalid_field"),
    ("status", {"f010": 12345}, 422, "invalid_field"),
    ("status", {"f010": {"$ne": None}}, 422, "invalid_field"),
    ("status", {"f010": ""}, 422, "invalid_field"),
    # admin API
    ("admin-password", {"new_password": 12345678}, 422, "invalid_field"),
    ("admin-password", {"new_password": "short"}, 422, "invalid_field"),
    ("admin-password", {"new_password": ["pw-password-2"]}, 422, "invalid_field"),
    ("services", {"name": INJECTION}, 422, None),
    ("services", {"name": "UPPER"}, 422, None),
    ("services", {"name": ["svc"]}, 422, "invalid_type"),
    ("services", {"service_url": "javascript:alert(1)"}, 422, "invalid_field"),
    ("services", {"service_url": "file:///etc/passwd"}, 422, "invalid_field"),
    ("services", {"service_url": "http://a b"}, 422, "invalid_field"),
    ("services", {"timeout_s": "NaN"}, 422, "invalid_field"),
    ("services", {"timeout_s": "thirty"}, 422, "invalid_field"),
    ("services", {"timeout_s": True}, 422, "invalid_type"),
    ("services", {"timeout_s": 1e300}, 422, None),
    ("services", {"timeout_s": -1}, 422, "invalid_field"),
    ("services", {"currency": "rwf"}, 422, "invalid_field"),
    ("services", {"display_name": {"a": 1}}, 422, "invalid_type"),
    ("services", {"display_name": "x" * 5000}, 422, "invalid_field"),
    ("clients", {"company_name": None}, 422, "missing_field"),
    ("clients", {"company_name": 42}, 422, "invalid_type"),
    ("clients", {"company_name": "x" * 5000}, 422, "invalid_field"),
    ("clients", {"app_id": INJECTION}, 422, None),
    ("clients", {"app_id": "a_b_c"}, 422, None),
    ("clients", {"app_id": "ab"}, 422, None),
    ("clients", {"callback_url": "javascript:alert(1)"}, 422, "invalid_field"),
    ("clients", {"contact_email": ["a@b.c"]}, 422, "invalid_type"),
    ("assign", {"routes": "collection"}, 422, "invalid_field"),
    ("assign", {"routes": []}, 422, "invalid_field"),
    ("assign", {"routes": [INJECTION]}, 422, None),
    ("assign", {"routes": [DDL]}, 422, None),
    ("assign", {"routes": [123]}, 422, None),
    ("assign", {"routes": ["r" + str(i) for i in range(21)]}, 422, "invalid_field"),
    ("assign", {"service": INJECTION}, 422, None),
    ("assign", {"service": "nosuchservice"}, 404, "service_not_found"),
    ("limits", {"rate_limit_per_minute": "10"}, 422, "invalid_field"),
    ("limits", {"rate_limit_per_minute": -1}, 422, "invalid_field"),
    ("limits", {"rate_limit_per_minute": 10.5}, 422, "invalid_field"),
    ("limits", {"rate_limit_per_minute": True}, 422, "invalid_field"),
    ("limits", {"max_amount_per_transaction": 1000}, 422, "invalid_type"),
    ("limits", {"max_amount_per_transaction": "0"}, 422, "invalid_field"),
    ("limits", {"max_amount_per_day": "1.001"}, 422, "invalid_field"),
    ("limits", {"max_amount_per_day": "1e9"}, 422, "invalid_field"),
    ("limits", {"surprise": 1}, 422, "unknown_field"),
]


@pytest.mark.parametrize("endpoint, change, status, code", FIELD_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(FIELD_CASES)])
def test_bad_fields_are_refused_and_change_nothing(gateway, client, pw_user, endpoint, change, status, code):
    method, path, auth, body = endpoints(gateway, client, pw_user)[endpoint]
    body = {**body, **change}
    before = snapshot(gateway.db)
    resp = gateway.request(method, path, body=json.dumps(body).encode(), headers={**auth, **JSON})
    check_refused(gateway, resp, status, code)
    assert snapshot(gateway.db) == before


@pytest.mark.parametrize("path, status", [
    ("/api/v1/payment/..%2f..%2fetc%2fpasswd", 404),
    ("/api/v1/payment/../../etc/passwd", 404),
    ("/api/v1/payment/%2e%2e%2f%2e%2e%2fetc%2fpasswd", 404),
    ("/api/v1/payment/%00", 422),
    ("/api/v1/payment/%27%20OR%201%3D1--", 422),
    ("/api/v1/payment/%ff%fe", 422),
    ("/api/v1/payment/" + "a" * 5000, 422),
    ("/api/v1/admin/clients/..%2f..%2fetc%2fpasswd/services", 404),
    ("/api/v1/admin/clients/a%27%3BDROP%20TABLE%20clients--/services", 422),
    ("/api/v1/admin/clients/nosuchclient/limits", 404),
    ("/static/../../etc/passwd", 404),
    ("/api/v1/../../../etc/passwd", 404),
])
def test_path_traversal_and_injection_in_urls(gateway, client, path, status):
    method = "PUT" if path.endswith("/limits") else ("POST" if "/admin/" in path else "GET")
    auth = {"Authorization": f"Bearer {gateway.admin_token}"} if "/admin/" in path else client.bearer()
    body = {"rate_limit_per_minute": 1} if method == "PUT" else {"service": client.service, "routes": ["collection"]}
    before = snapshot(gateway.db)
    resp = gateway.http.request(method, gateway.url + path, body=json.dumps(body).encode() if method != "GET" else None,
                                headers={**auth, **JSON}, retries=False, redirect=False)
    check_refused(gateway, resp, status)
    assert b"root:" not in resp.data
    assert snapshot(gateway.db) == before


def raw_request(gateway, head: bytes) -> tuple[int, dict, bytes]:
    """Bytes a well-behaved client library refuses to send (CR, LF, NUL in headers)."""
    url = urlsplit(gateway.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_part, _, body = data.partition(b"\r\n\r\n")
    lines = head_part.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode()] = value.strip().decode("latin-1")
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("app_id, by_app", [
    (b"abc%0d%0aX-Injected:%201", True),         # encoded CRLF: just an odd App-ID
    (b"ab\xffc\xfe", True),                       # non-UTF-8 header bytes
    (b"a" * 8000, True),
    (b"abc\r\nX-Injected: 1", True),              # a real CRLF only starts another request header
    (b"abc\rX-Injected: 1", False),               # bare CR: waitress refuses the request itself
    (b"abc\nX-Injected: 1", False),               # bare LF: the same
    (b"abc\x00def", False),                       # NUL: the same
])
def test_header_injection_never_reaches_a_response_header(gateway, client, app_id, by_app):
    before = snapshot(gateway.db)
    status, headers, body = raw_request(gateway, (
        b"POST /api/v1/auth/token HTTP/1.1\r\nHost: localhost\r\nApp-ID: " + app_id +
        b"\r\n" + f"Authorization: {client.basic['Authorization']}".encode() +
        b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
    assert 400 <= status < 500
    assert "x-injected" not in headers and "set-cookie" not in headers
    if by_app:  # the app answered: our JSON error
        assert status == 401 and json.loads(body)["error"]["code"] == "unauthorized"
    else:  # the HTTP layer (waitress) answered before the app ran, in our JSON shape: nothing reached MosPay
        assert status == 400 and json.loads(body)["error"]["code"] == "bad_request"
        assert headers["content-type"] == "application/json" and headers["x-content-type-options"] == "nosniff"
    assert snapshot(gateway.db) == before


def test_sql_in_text_fields_is_stored_as_text_and_runs_nothing(gateway, client):
    tables = snapshot(gateway.db)["tables"]
    body = client.body(f006="'); DROP TABLE clients; --", f009="1; DELETE FROM transactions")
    resp = client.pay(body)
    assert resp.status == 200
    row = gateway.db.run("SELECT request FROM transactions WHERE f010 = :f", f=body["f010"])[0]
    assert row["request"]["f006"] == body["f006"] and row["request"]["f009"] == body["f009"]
    assert snapshot(gateway.db)["tables"] == tables


@pytest.mark.parametrize("path", [b"/api/v1/payment/%00", b"/api/v1/payment/%ff%fe", b"/api/v1/payment/%ed%a0%80",
                                  b"/api/v1/%00/x"])
def test_odd_paths_and_user_agents_still_leave_their_api_log_row(gateway, client, path):
    marker = "ua-" + secrets.token_hex(4)
    status, headers, body = raw_request(gateway, (
        b"GET " + path + b" HTTP/1.1\r\nHost: localhost\r\nUser-Agent: " + marker.encode() + b" \xff\xfe\r\n"
        + f"Authorization: {client.basic['Authorization']}".encode() + b"\r\nApp-ID: " + client.app_id.encode()
        + b"\r\nConnection: close\r\n\r\n"))
    assert 400 <= status < 500 and "error" in json.loads(body)
    rows = gateway.db.run("SELECT endpoint, user_agent, status_code FROM api_logs WHERE user_agent LIKE :m",
                          m=marker + "%")
    assert len(rows) == 1 and rows[0]["status_code"] == status and "\x00" not in rows[0]["endpoint"]
