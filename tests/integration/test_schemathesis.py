"""schemathesis against MosPay's own OpenAPI document, calling the app run.py serves in-process (its WSGI
transport; the provider simulator is a real process): no input gives a 5xx, and every answer has a
documented status code, content type and body shape.

Bounded: a fixed number of examples per operation (the bcrypt-backed admin Basic endpoints get few:
each valid call costs one to three bcrypt rounds), no example database on disk, no shrinking.

Repeatable: the suite's run is derandomized (the same examples every run, as Hypothesis advises for CI),
so a red run is a regression to fix, not a roll of the dice. To look for new faults, explore with random
examples and more of them (200 per operation here; a failure prints the request as a curl command and a
@reproduce_failure blob; --hypothesis-seed=N repeats a whole run):

    MOSPAY_FUZZ_EXPLORE=200 pytest -n 0 tests/integration/test_schemathesis.py
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, ignored_auth, negative_data_rejection,
                                               response_headers_conformance, response_schema_conformance,
                                               status_code_conformance)

from mospay import accounts
from mospay.api import openapi
from tests.integration.inprocess import in_process
from tests.integration.security_support import ADMIN_PASSWORD, full_dump

pytestmark = pytest.mark.fuzz

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, negative_data_rejection, ignored_auth]
BCRYPT_PATHS = ("/api/v1/admin/token", "/api/v1/admin/password")
# positive_data_acceptance is left out on purpose: a schema-valid body may still name a service, route
# or amount the server refuses (404/403/422); the document cannot express those cross-field rules.
CONFIG = {"generation": {"with-security-parameters": False, "database": "none", "no-shrink": True}}
EXPLORE = int(os.environ.get("MOSPAY_FUZZ_EXPLORE") or 0)  # examples per operation; 0: the repeatable run
COMMON = dict(deadline=None, database=None, derandomize=not EXPLORE, print_blob=bool(EXPLORE),
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.data_too_large])


@dataclass
class Target:
    """The server under test and every credential and secret the fuzz run handed to it."""

    gw: object
    client: object
    other_app_id: str
    service: str
    known_f010: str
    client_token: str
    admin_password_user: str
    admin_password: str
    secrets_used: set = field(default_factory=set)
    new_passwords: set = field(default_factory=set)  # unique markers set as admin passwords
    statuses: dict = field(default_factory=dict)

    def auth_headers(self, case) -> dict:
        """Valid credentials for the operation (explicit, so schemathesis's ignored_auth check probes
        the same call without them and with wrong ones)."""
        path = case.operation.path
        if path == "/api/v1/admin/token":
            return _basic("ops", ADMIN_PASSWORD)
        if path == "/api/v1/admin/password":
            return _basic(self.admin_password_user, self.admin_password)
        if path.startswith("/api/v1/admin/"):
            return {"Authorization": f"Bearer {self.gw.admin_token}"}
        if path == "/api/v1/auth/token":
            return self.client.basic
        if path.startswith("/api/v1/payment/"):
            # Both client schemes, chosen from the case itself so a replayed example sends the same.
            return self.client.basic if _pick(case, 2) else {"Authorization": f"Bearer {self.client_token}"}
        return {}


def _basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _pick(case, n: int) -> int:
    """A number in [0, n) derived from the generated data: deterministic for hypothesis."""
    raw = json.dumps([case.path_parameters, case.body if isinstance(case.body, (dict, list, str)) else None],
                     sort_keys=True, default=str)
    return int(hashlib.sha256(raw.encode()).hexdigest()[:8], 16) % n


@pytest.fixture(scope="module")
def target(postgres, template_db, simulator, tmp_path_factory):
    env = {"MOSPAY_AUTH_FAILURE_LIMIT": "100000",  # the fuzz run's own 401s must not block 127.0.0.1
           "MOSPAY_ACCESS_LOG": "off", "MOSPAY_LOG_FORMAT": "json"}
    with in_process(postgres, template_db, simulator, tmp_path_factory.mktemp("data"), env) as gw:
        client = gw.onboard(service="fuzzpay", routes=("collection",), timeout_s=1)
        other = gw.onboard(service="fuzzpay", routes=("collection",))
        paid = client.pay()
        assert paid.status == 200, paid.data
        pw_user = "pwfuzz"
        password = "pw-" + secrets.token_hex(8)
        accounts.create_admin(gw.db, {"username": pw_user, "password": password, "role": "admin"})
        # The schema below is built from the same dict; this is the document the server really serves.
        assert gw.request("GET", "/api/v1/openapi.json").json() == openapi.document()
        state = Target(gw, client, other.app_id, "fuzzpay", paid.json()["f010"], client.token(),
                       pw_user, password)
        state.secrets_used |= {client.secret, other.secret, state.client_token, gw.admin_token, password,
                               ADMIN_PASSWORD}
        yield state


def _steer(state: Target, case) -> None:
    """Most positive cases get real names (service, route, app id, a known f010), so the fuzzing
    reaches the payment flow, the simulator and the admin writes instead of stopping at a 404. The choice
    comes from the case itself, so hypothesis replaying an example sends the same request."""
    path = case.operation.path
    positive = case.meta is None or case.meta.generation.mode.is_positive
    body = case.body if isinstance(case.body, dict) else None
    if body is not None and path == "/api/v1/payment/process":
        for code in ("f007", "f008"):  # secrets we can look for afterwards: unique, never short
            if isinstance(body.get(code), str):
                body[code] = "fzs" + hashlib.sha256((code + body[code]).encode()).hexdigest()[:24]
                state.secrets_used.add(body[code])
        if positive and _pick(case, 4):
            body.update(f000=state.service, f001="collection", f002="collection", f003=state.client.app_id)
    elif positive and _pick(case, 2):
        if body is not None and path == "/api/v1/admin/password" and isinstance(body.get("new_password"), str):
            # A password we can look for in the dump (the other half stays as generated: lengths, bytes).
            raw = body["new_password"].encode("utf-8", "replace")
            body["new_password"] = "pwz" + hashlib.sha256(raw).hexdigest()[:20]
            state.new_passwords.add(body["new_password"])
        elif body is not None and path == "/api/v1/payment/status":
            body["f010"] = state.known_f010
        elif path == "/api/v1/payment/{f010}":
            case.path_parameters["f010"] = state.known_f010
        elif path.startswith("/api/v1/admin/clients/{app_id}"):
            # The other client: the paying one keeps its routes and limits.
            case.path_parameters["app_id"] = state.other_app_id
            if body is not None and path.endswith("/services"):
                body["service"] = state.service


# Built from the dict the server serves (the fixture checks they are equal): loading it from the app
# (schemathesis.openapi.from_wsgi) would need the app, and so a database, when this module is imported;
# schemathesis.pytest.from_fixture's lazy loader breaks on pytest 9.2 (it sets the removed Node._nodeid).
schema = schemathesis.openapi.from_dict(openapi.document(), config=schemathesis.Config.from_dict(CONFIG))


def _call(target: Target, case) -> None:
    _steer(target, case)
    # What from_wsgi sets: the case and the requests the checks send themselves (ignored_auth's probes
    # take the schema's transport, not the call's) all go to the app through schemathesis's WSGI transport.
    case.operation.schema.app = target.gw.app
    response = case.call_and_validate(app=target.gw.app, headers=target.auth_headers(case), checks=CHECKS,
                                      timeout=30)
    key = f"{case.operation.method.upper()} {case.operation.path}"
    target.statuses.setdefault(key, set()).add(response.status_code)
    if response.status_code == 201 and case.operation.path == "/api/v1/admin/clients":
        target.secrets_used.add(response.json()["api_secret"])
    if response.status_code == 204 and case.operation.path == "/api/v1/admin/password":
        target.admin_password = case.body["new_password"]  # the next example must still get in


@schema.exclude(path=list(BCRYPT_PATHS)).parametrize()
@settings(max_examples=EXPLORE or 40, **COMMON)
def test_every_operation_answers_as_documented_and_never_5xx(case, target):
    _call(target, case)


@schema.include(path=list(BCRYPT_PATHS)).parametrize()
@settings(max_examples=max(6, EXPLORE // 10), **COMMON)
def test_admin_basic_endpoints_answer_as_documented_and_never_5xx(case, target):
    _call(target, case)


def test_after_fuzzing_the_server_is_ready_and_the_database_is_consistent(target):
    gw = target.gw
    # The fuzz run above really ran, and went past authentication on the payment path.
    payments = target.statuses.get("POST /api/v1/payment/process", set())
    assert {200, 422} <= payments, target.statuses
    assert gw.request("GET", "/readyz").status == 200
    db = gw.db
    assert db.run("SELECT count(*) AS n FROM transactions t LEFT JOIN clients c ON c.id = t.client_id "
                  "WHERE c.id IS NULL")[0]["n"] == 0
    assert db.run("SELECT count(*) AS n FROM transactions WHERE request ->> 'f007' <> '***' "
                  "OR request ->> 'f008' <> '***'")[0]["n"] == 0
    dump = full_dump(db)
    leaked = sorted(s for s in target.secrets_used | target.new_passwords if s in dump)
    assert not leaked, leaked[:3]
    assert len(target.secrets_used) > 10, target.secrets_used  # the check above had something to find
