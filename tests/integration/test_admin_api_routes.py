"""Every admin API operation, found by walking the real route table (so endpoints added later are covered
without editing this file): a viewer (API key or token) is refused every change with 403 and may read
(never 401 or 5xx on a GET); a merchant client's bearer token opens none of them (401)."""

from __future__ import annotations

import base64
import re

import falcon.testing
import pytest

from mospay import accounts
from mospay.app import create_app
from mospay.config import Config
from mospay.db import Database
from tests.integration.portal_support import KEYS, PASSWORD, password_hash

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PREFIX = "/api/v1/admin/"
# These two take Basic username and password by design: they are how a person gets a token (or gets out
# of must-change-password), so no bearer credential has a role there to check. A client token still gets
# 401 from them, which the client test checks; only the viewer's 403 rule does not apply.
BASIC_ONLY = ("/api/v1/admin/token", "/api/v1/admin/password")
# Plausible values for path parameters; anything else gets DUMMY. Roles are checked before the value is.
DUMMIES = {"app_id": "DummyApp1", "service": "dummysvc", "name": "dummy_name", "username": "dummyuser",
           "transaction_id": "tx0000000000000000000001", "route": "collection", "code": "f011"}
DUMMY = "1"


class _NoDb:
    """create_app only stores the database: enough to read the route table at collection time."""
    in_use = 0
    size = 1


def operations(keep) -> list[tuple[str, str]]:
    """(uri template, METHOD) of every responder a resource really defines on a route whose template
    `keep` accepts (suffixed responders included; Falcon's default OPTIONS and 405 responders excluded)."""
    app = create_app(Config(secret_key="s" * 40, jwt_secret_key="j" * 40), _NoDb())
    found = set()

    def walk(nodes):
        for node in nodes:
            if node.resource is not None and keep(node.uri_template):
                for method, responder in node.method_map.items():
                    if method in HTTP_METHODS and getattr(responder, "__self__", None) is node.resource:
                        found.add((node.uri_template, method))
            walk(node.children)

    walk(app._router._roots)
    return sorted(found)


def admin_operations() -> list[tuple[str, str]]:
    """Every operation under /api/v1/admin/."""
    return operations(lambda template: template.startswith(PREFIX))


OPERATIONS = admin_operations()


def concrete(template: str) -> str:
    def value(match):
        name, converter = match.group(1), match.group(2) or ""
        return DUMMY if converter.startswith(":int") else DUMMIES.get(name, DUMMY)
    return re.sub(r"{(\w+)(:[^}]*)?}", value, template)


def test_the_walk_sees_the_admin_api():
    """A control: the route walk finds the admin endpoints, several methods and the path parameters."""
    found = set(OPERATIONS)
    assert {("/api/v1/admin/api-keys", "POST"), ("/api/v1/admin/api-keys", "GET"),
            ("/api/v1/admin/api-keys/{key_id}", "DELETE"), ("/api/v1/admin/users/{username}", "PATCH"),
            ("/api/v1/admin/clients", "POST"), ("/api/v1/admin/clients/{app_id}/limits", "PUT"),
            ("/api/v1/admin/services/{service}/credentials", "GET")} <= found
    assert concrete("/api/v1/admin/clients/{app_id}/services") == "/api/v1/admin/clients/DummyApp1/services"
    assert concrete("/x/{n:int}/{other}") == "/x/1/1"


class Callers:
    """One app on one database for the whole module: a viewer's key and token, and a client's token."""

    def __init__(self, url: str):
        self.db = Database(url, size=4)
        # Every client-token call below is a failed authentication from one address: no throttling here.
        config = Config(database_url=url, **KEYS, auth_failure_limit=100000, auth_address_failure_limit=1000000)
        self.client = falcon.testing.TestClient(create_app(config, self.db))
        for username, role in (("root", "super_admin"), ("watcher", "viewer")):
            self.db.one("insert_user", username=username, password_hash=password_hash(), role=role,
                        must_change=False)
        root = self._token("/api/v1/admin/token", _basic("root", PASSWORD))
        made = self.client.simulate_post("/api/v1/admin/api-keys", json={"name": "viewer-bot", "role": "viewer"},
                                         headers={"Authorization": f"Bearer {root}"})
        assert made.status_code == 201, made.text
        self.viewer = {"key": made.json["key"], "token": self._token("/api/v1/admin/token",
                                                                   _basic("watcher", PASSWORD))}
        creds = accounts.create_client(self.db, KEYS["secret_key"], {"company_name": "Merchant"})
        self.merchant = self._token("/api/v1/auth/token", {**_basic(creds["api_username"], creds["api_secret"]),
                                                           "App-ID": creds["app_id"]})

    def _token(self, path, headers) -> str:
        resp = self.client.simulate_post(path, headers=headers)
        assert resp.status_code == 200, resp.text
        return resp.json["access_token"]

    def call(self, method, template, bearer):
        return self.client.simulate_request(method, concrete(template), json=None if method == "GET" else {},
                                            headers={"Authorization": f"Bearer {bearer}"})


def _basic(username, password) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


@pytest.fixture(scope="module")
def callers(postgres, template_db):
    name = postgres.create_database(template=template_db)
    made = Callers(postgres.url_for(name))
    yield made
    made.db.close()
    postgres.drop_database(name)


@pytest.mark.parametrize("credential", ["key", "token"])
@pytest.mark.parametrize("template, method", [op for op in OPERATIONS if op[0] not in BASIC_ONLY])
def test_a_viewer_reads_but_changes_nothing(callers, template, method, credential):
    resp = callers.call(method, template, callers.viewer[credential])
    if method == "GET":
        assert resp.status_code != 401 and resp.status_code < 500, (resp.status_code, resp.text)
    else:
        assert resp.status_code == 403, (resp.status_code, resp.text)
        assert resp.json["error"]["code"] == "insufficient_role"


@pytest.mark.parametrize("template, method", OPERATIONS)
def test_a_client_token_opens_no_admin_operation(callers, template, method):
    resp = callers.call(method, template, callers.merchant)
    assert resp.status_code == 401, (resp.status_code, resp.text)
