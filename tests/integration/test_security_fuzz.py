"""Property-based tests (hypothesis) over the payment, status and token endpoints of the app run.py serves
(in-process; the provider a real process): random bodies and headers never give a 5xx, the server stays
healthy, and the database invariants hold.

Bounded: 150 examples per endpoint, no example database on disk, no deadline (the provider is real).
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.integration.security_support import full_dump

pytestmark = pytest.mark.fuzz
FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
CODES = [f"f{i:03d}" for i in range(12)]
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=80)
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                        st.text(max_size=40))
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3) |
                          st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
secret_value = st.uuids().map(lambda u: "fuzzsecret" + u.hex)


def secret_fields():
    return st.fixed_dictionaries({"f007": secret_value, "f008": secret_value})


@st.composite
def payment_bodies(draw, client):
    """Mostly near-valid bodies (one or more fields replaced or added), sometimes anything at all."""
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "object", "raw"]))
    if kind == "raw":
        return draw(st.binary(max_size=300))
    if kind == "object":
        body = draw(st.dictionaries(st.sampled_from(CODES) | st.text(max_size=10), json_value, max_size=12))
    else:
        body = client.body()
        for code in draw(st.lists(st.sampled_from(CODES), max_size=3)):
            body[code] = draw(json_value | st.from_regex(r"-?[0-9]{0,22}(\.[0-9]{0,4})?", fullmatch=True))
        if draw(st.booleans()):
            del body[draw(st.sampled_from(sorted(body)))]
    body.update(draw(secret_fields()))
    return json.dumps(body).encode()


@st.composite
def client_headers(draw, client, token):
    auth = draw(st.sampled_from(["bearer", "basic", "garbage-bearer", "garbage-basic", "text", "none"]))
    headers = {}
    if auth == "bearer":
        headers["Authorization"] = f"Bearer {token}"
    elif auth == "basic":
        headers.update(client.basic)
    elif auth == "garbage-bearer":
        headers["Authorization"] = "Bearer " + draw(header_text)
    elif auth == "garbage-basic":
        raw = draw(st.binary(max_size=60))
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    elif auth == "text":
        headers["Authorization"] = draw(header_text)
    if draw(st.booleans()):
        headers[draw(st.sampled_from(["App-ID", "X-App-ID"]))] = draw(header_text | st.just(client.app_id))
    content_type = draw(st.sampled_from(["application/json", "application/json", "application/json; charset=utf-8",
                                         "text/plain", None]) | header_text)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return headers


def check_answer(resp):
    assert resp.status < 500, resp.data[:300]
    assert resp.headers["Content-Type"].startswith("application/json")
    json.loads(resp.data)


def check_invariants(api, secrets_used):
    assert api.request("GET", "/healthz").status == 200
    assert api.request("GET", "/readyz").status == 200
    db = api.db
    assert db.run("SELECT count(*) AS n FROM transactions t LEFT JOIN clients c ON c.id = t.client_id "
                  "WHERE c.id IS NULL")[0]["n"] == 0
    # A transaction belongs to the client named in it, and its secrets are masked.
    assert db.run("SELECT count(*) AS n FROM transactions t JOIN clients c ON c.id = t.client_id "
                  "WHERE t.request ->> 'f003' IS DISTINCT FROM c.app_id")[0]["n"] == 0
    assert db.run("SELECT count(*) AS n FROM transactions WHERE request ->> 'f007' <> '***' "
                  "OR request ->> 'f008' <> '***'")[0]["n"] == 0
    dump = full_dump(db)
    leaked = [s for s in secrets_used if s in dump]
    assert not leaked, leaked[:3]


def test_random_payment_requests_never_give_a_5xx(api, client):
    token = client.token()
    secrets_used = {client.secret, token}
    outcomes = set()

    @FUZZ
    @given(body=payment_bodies(client), headers=client_headers(client, token))
    def one(body, headers):
        secrets_used.update(part for part in body.decode("utf-8", "replace").split('"')
                            if part.startswith("fuzzsecret"))
        resp = api.request("POST", "/api/v1/payment/process", body=body, headers=headers)
        check_answer(resp)
        outcomes.add(resp.status)

    one()
    assert 200 in outcomes and 401 in outcomes and 422 in outcomes, outcomes  # the fuzz went deep enough
    check_invariants(api, secrets_used)


def test_random_status_lookups_never_give_a_5xx(api, client):
    token = client.token()

    @FUZZ
    @given(f010=st.text(min_size=1, max_size=100), body=st.one_of(st.binary(max_size=100),
           st.dictionaries(st.text(max_size=8), json_value, max_size=3).map(lambda d: json.dumps(d).encode())))
    def one(f010, body):
        auth = {"Authorization": f"Bearer {token}"}
        check_answer(api.request("GET", "/api/v1/payment/" + quote(f010, safe=""), headers=auth))
        check_answer(api.request("POST", "/api/v1/payment/status", body=body,
                                     headers={**auth, "Content-Type": "application/json"}))

    one()
    check_invariants(api, {token})


def test_random_token_requests_never_give_a_5xx_and_only_the_right_secret_works(api, client):
    issued, tried = set(), set()

    @FUZZ
    @given(headers=client_headers(client, "not-a-token"), secret=st.one_of(st.just(client.secret), secret_value))
    def one(headers, secret):
        if headers.get("Authorization", "").startswith("Basic ") and secret != client.secret:
            tried.add(secret)
            raw = base64.b64encode(f"{client.username}:{secret}".encode()).decode()
            headers["Authorization"] = "Basic " + raw
        resp = api.request("POST", "/api/v1/auth/token", headers=headers)
        check_answer(resp)
        if resp.status == 200:
            assert headers["Authorization"] == client.basic["Authorization"]
            issued.add(resp.json()["access_token"])
        else:
            assert resp.status == 401

    one()
    check_invariants(api, issued | tried | {client.secret})
