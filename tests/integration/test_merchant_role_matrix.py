"""The role matrix on the real routes: every /portal operation (found by walking the route table, so pages
added later are covered) for each of the four roles. A role whose mospay.merchant_roles grants lack the
operation's action gets the 403 HTML page and nothing changes; a role that has it is let through."""

from __future__ import annotations

import re

import pytest

from mospay.app import create_app
from mospay.config import Config
from mospay.merchant_roles import ROLES, allowed
from tests.integration.merchant_support import MerchantPortal, merchant_client, merchant_user
from tests.integration.portal_support import Site
from tests.integration.test_admin_api_routes import _NoDb

SAFE = ("GET", "HEAD", "OPTIONS")


def portal_resources() -> list[tuple[str, str, str]]:
    """(template, METHOD, action) of every responder under /portal that needs a session."""
    app = create_app(Config(secret_key="s" * 40, jwt_secret_key="j" * 40), _NoDb())
    found = []

    def walk(nodes):
        for node in nodes:
            template, resource = node.uri_template, node.resource
            if resource is not None and (template == "/portal" or template.startswith("/portal/")) \
                    and not getattr(resource, "public", False):
                for method, responder in node.method_map.items():
                    if method in ("GET", "POST", "PUT", "PATCH", "DELETE") and \
                            getattr(responder, "__self__", None) is resource:
                        actions = getattr(resource, "actions", {})
                        found.append((template, method, actions.get(method, "read" if method in SAFE else None)))
            walk(node.children)

    walk(app._router._roots)
    return sorted(found)


OPERATIONS = portal_resources()
CASES = [(t, m, a, r) for t, m, a in OPERATIONS for r in ROLES]


@pytest.fixture(scope="module")
def matrix_site(postgres, portal_template):
    name = postgres.create_database(template=portal_template)
    site = Site(postgres.url_for(name))
    merchant_client(site, "matrix")
    merchant_user(site, "matrix", "owner", "keeper@matrix.example")  # the team always keeps an owner
    yield site
    site.db.close()
    postgres.drop_database(name)


def test_every_change_names_its_action():
    assert OPERATIONS and all(action is not None for _, method, action in OPERATIONS), \
        [op for op in OPERATIONS if op[2] is None]
    assert ("/portal/team", "POST", "team") in OPERATIONS and ("/portal", "GET", "read") in OPERATIONS


@pytest.mark.parametrize("template, method, action, role", CASES)
def test_role_gets_exactly_what_its_grants_allow(matrix_site, template, method, action, role):
    site = matrix_site
    user = merchant_user(site, "matrix", role)
    portal = MerchantPortal(site.app)
    assert portal.login(user["email"]).status_code == 303
    path = re.sub(r"{(\w+)(:[^}]*)?}", lambda m: str(user["id"]) if m.group(1) == "user_id" else "1", template)
    before = site.db.run("SELECT id, role, active FROM merchant_users ORDER BY id")
    data = {"role": role, "active": "1", "step": "unknown"} if method not in SAFE else None
    answer = portal.request(method, path, data=data)
    if allowed(role, action):
        assert answer.status_code != 403, (method, path, role, answer.text[:300])
    else:
        assert answer.status_code == 403 and "text/html" in answer.headers["content-type"], (method, path, role)
        assert "insufficient role" in answer.text
        assert site.db.run("SELECT id, role, active FROM merchant_users ORDER BY id") == before
