"""A signed-in browser stand-in for Falcon's TestClient: keeps the session cookie and the CSRF token."""

from __future__ import annotations

import functools
import re
import secrets

import bcrypt
import pytest
from falcon import testing

from mospay import accounts
from mospay.app import create_app
from mospay.components import Components
from mospay.config import Config
from mospay.db import Database
from tests.integration.conftest import PORTAL_ADMIN_PASSWORD

KEYS = {"secret_key": "k" * 16 + secrets.token_hex(16), "jwt_secret_key": "j" * 16 + secrets.token_hex(16)}
PASSWORD = "correct-horse-1"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@functools.lru_cache(maxsize=1)
def password_hash() -> str:
    # Sign-in checks any bcrypt hash at the cost it names: the test users' is the cheapest, so each
    # sign-in takes a millisecond, not a quarter of a second. The product's own cost is tested in
    # tests/unit/test_auth.py, and passwords set through the portal are hashed by the product.
    return bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()


class Portal:
    COOKIE = "mospay_session"  # the admin portal's; tests/integration/merchant_support.py names /portal's

    def __init__(self, app):
        self.client = testing.TestClient(app)
        self.cookie = None
        self.csrf = None

    def request(self, method, path, *, data=None, headers=None, csrf=True, **kwargs):
        headers = dict(headers or {})
        body = None
        if data is not None:
            data = dict(data)
            if csrf and self.csrf:
                data.setdefault("csrf_token", self.csrf)
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            from urllib.parse import urlencode
            body = urlencode(data)
        cookies = {self.COOKIE: self.cookie} if self.cookie else None
        result = self.client.simulate_request(method, path, headers=headers, body=body, cookies=cookies,
                                              **kwargs)
        if self.COOKIE in result.cookies:
            self.cookie = result.cookies[self.COOKIE].value or None
        match = _CSRF.search(result.text or "") if "text/html" in (result.headers.get("content-type") or "") else None
        if match:
            self.csrf = match.group(1)
        return result

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, data=None, **kwargs):
        return self.request("POST", path, data=data if data is not None else {}, **kwargs)

    def login(self, username, password=PASSWORD):
        result = self.post("/admin/login", {"username": username, "password": password})
        if result.status_code == 303:
            self.get(result.headers["location"])  # picks up the session's CSRF token
        return result


class Site:
    """The app on a fresh database, with a helper to add users of any role."""

    def __init__(self, db_url):
        self.db = Database(db_url, size=4)
        self.config = Config(**KEYS)
        accounts.ensure_default_admin(self.db, PORTAL_ADMIN_PASSWORD)  # already there when made from portal_template
        self.parts = Components.build(self.config, self.db)  # the app's breakers and metrics, for tests to read
        self.app = create_app(self.config, self.db, parts=self.parts)

    def user(self, username, role="super_admin", must_change=False):
        self.db.one("insert_user", username=username, password_hash=password_hash(), role=role,
                    must_change=must_change)
        return username

    def portal(self, username=None, role="super_admin"):
        portal = Portal(self.app)
        if username:
            self.user(username, role)
            assert portal.login(username).status_code == 303
        return portal


@pytest.fixture
def site(postgres, portal_template):
    name = postgres.create_database(template=portal_template)
    s = Site(postgres.url_for(name))
    yield s
    s.db.close()
    postgres.drop_database(name)
