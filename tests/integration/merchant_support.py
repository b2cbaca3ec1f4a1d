"""Merchant-portal test helpers, shared by every /portal test file: a client, its merchant users of any
role, and a signed-in browser stand-in (MerchantPortal: keeps the /portal cookie and the CSRF token).

Use with the `site` fixture of tests/integration/portal_support.py (import it into the test module):

    from tests.integration.portal_support import site  # noqa: F401 (the fixture)
    from tests.integration.merchant_support import merchant_client, merchant_portal

    def test_x(site):
        alpha = merchant_client(site, "alpha")              # {"app_id", "client_id", "api_username", ...}
        owner = merchant_portal(site, "alpha", "owner")     # signed in; owner.me = the user row
        assert owner.get("/portal").status_code == 200

Users are inserted with a cheap bcrypt hash of portal_support.PASSWORD (sign-in takes a millisecond);
`with_totp=True` enrols TOTP and `totp_code(site, user)` gives the current code.
"""

from __future__ import annotations

import itertools
import time

from mospay import accounts, merchant_mfa, totp
from tests.integration.portal_support import PASSWORD, Portal, password_hash

ROLES = ("owner", "developer", "finance", "viewer")
_serial = itertools.count(1)


class MerchantPortal(Portal):
    """Portal, with the merchant portal's cookie and sign-in form (email, password, then a TOTP code)."""
    COOKIE = "mospay_portal"
    me: dict | None = None

    def login(self, email, password=PASSWORD, code=None):
        result = self.post("/portal/login", {"email": email, "password": password})
        if result.status_code == 303 and result.headers["location"].startswith("/portal/login/totp"):
            if code is None:
                return result
            result = self.post("/portal/login/totp", {"code": code})
        if result.status_code == 303:
            self.get(result.headers["location"])  # picks up the session's CSRF token
        return result


def merchant_client(site, app_id: str, company: str | None = None) -> dict:
    """A client made as an operator would (accounts.create_client); adds its database id as client_id."""
    created = accounts.create_client(site.db, site.config.secret_key,
                                     {"app_id": app_id, "company_name": company or f"{app_id} Ltd"})
    created["client_id"] = site.db.run("SELECT id FROM clients WHERE app_id = :a", a=app_id)[0]["id"]
    return created


def merchant_user(site, app_id: str, role: str = "owner", email: str | None = None, *,
                  with_totp: bool = False, active: bool = True) -> dict:
    """A merchant user of the client with password PASSWORD (no invite); with_totp enrols TOTP."""
    client_id = site.db.run("SELECT id FROM clients WHERE app_id = :a", a=app_id)[0]["id"]
    email = email or f"{role}{next(_serial)}@{app_id.lower()}.example"
    row = site.db.one("merchant_user_insert", client_id=client_id, email=email, role=role, created_by="test")
    site.db.run("UPDATE merchant_users SET password_hash = :h, active = :a WHERE id = :id",
                h=password_hash(), a=active, id=row["id"])
    if with_totp:
        site.db.run("UPDATE merchant_users SET totp_nonce = 'testnonce' WHERE id = :id", id=row["id"])
    return {**row, "app_id": app_id, "password": PASSWORD, "totp_nonce": "testnonce" if with_totp else None}


def totp_code(site, user: dict, at: float | None = None) -> str:
    """The code the user's authenticator app would show now (or at `at`)."""
    key = merchant_mfa.key(site.config.secret_key, user["id"], user["totp_nonce"])
    return totp.code(key, time.time() if at is None else at)


def merchant_portal(site, app_id: str, role: str = "owner", email: str | None = None, **kwargs) -> MerchantPortal:
    """A MerchantPortal signed in as a new user of the client with this role (`.me` is the user row)."""
    user = merchant_user(site, app_id, role, email, **kwargs)
    portal = MerchantPortal(site.app)
    code = totp_code(site, user) if user["totp_nonce"] else None
    result = portal.login(user["email"], code=code)
    assert result.status_code == 303 and not result.headers["location"].startswith("/portal/login"), result.text
    portal.me = user
    return portal
