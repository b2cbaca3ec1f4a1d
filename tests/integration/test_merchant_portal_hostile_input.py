"""Hostile input on every merchant-portal form and path: oversized, NUL, invalid UTF-8, JSON instead of a
form, odd ids. Always a 4xx HTML page (never a 500), nothing written; each case has a valid control."""

from __future__ import annotations

import pytest

from tests.integration.merchant_support import MerchantPortal, merchant_client, merchant_portal, merchant_user
from tests.integration.portal_support import PASSWORD, Site

LONG = "x" * 100_000


@pytest.fixture(scope="module")
def site(postgres, portal_template):
    """One database for the module: each case compares the rows before and after itself."""
    name = postgres.create_database(template=portal_template)
    shared = Site(postgres.url_for(name))
    merchant_client(shared, "alpha")
    yield shared
    shared.db.close()
    postgres.drop_database(name)


def rows(site):
    return site.db.run("SELECT id, email, role, active, password_hash, totp_nonce FROM merchant_users ORDER BY id")


@pytest.mark.parametrize("path, data", [
    ("/portal/login", {"email": LONG, "password": LONG}),
    ("/portal/login", {"email": "a\x00@b.example", "password": "p"}),
    ("/portal/login/totp", {"code": LONG}),
    ("/portal/forgot", {"email": LONG}),
    ("/portal/invite/" + "y" * 300, {"new_password": "x" * 20, "confirm_password": "x" * 20}),
    ("/portal/reset/%00%ff", {"new_password": "x" * 20, "confirm_password": "x" * 20}),
])
def test_public_forms_refuse_hostile_input(site, path, data):
    user = merchant_user(site, "alpha")
    assert MerchantPortal(site.app).login(user["email"]).status_code == 303  # control
    before = rows(site)
    answer = MerchantPortal(site.app).post(path, data)
    # 200 only where the answer must not tell a known address from an unknown one (forgotten password).
    assert 300 <= answer.status_code < 500 or (path == "/portal/forgot" and answer.status_code == 200), \
        (path, answer.status_code)
    assert not answer.text or "text/html" in answer.headers["content-type"]
    assert rows(site) == before


@pytest.mark.parametrize("path, data", [
    ("/portal/team", {"email": LONG, "role": "viewer"}),
    ("/portal/team", {"email": "a@b.example", "role": LONG}),
    ("/portal/team", {"email": "ü" * 70 + "@b.example", "role": "viewer"}),
    ("/portal/team/99999999999999999999999/role", {"role": "viewer"}),
    ("/portal/team/-1/active", {"active": "0"}),
    ("/portal/team/abc/invite", {}),
    ("/portal/team/totp", {"require_totp": LONG}),
    ("/portal/settings/password", {"current_password": LONG, "new_password": LONG, "confirm_password": LONG}),
    ("/portal/settings/password", {"current_password": PASSWORD, "new_password": "\x00" * 10,
                                   "confirm_password": "\x00" * 10}),
    ("/portal/settings/totp", {"step": "confirm", "nonce": LONG, "code": LONG}),
    ("/portal/settings/totp", {"step": "confirm", "nonce": "../../", "code": "123456"}),
    ("/portal/settings/totp", {"step": LONG}),
    ("/portal/settings/totp", {"step": "disable", "password": LONG}),
])
def test_signed_in_forms_refuse_hostile_input(site, path, data):
    owner = merchant_portal(site, "alpha", "owner", with_totp=True)
    before = rows(site)
    answer = owner.post(path, data)
    assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text[:300])
    assert "text/html" in answer.headers["content-type"]
    assert rows(site) == before
    assert owner.get("/portal").status_code == 200  # control: still signed in, the portal still works


def test_invalid_utf8_and_json_bodies_are_4xx(site):
    owner = merchant_portal(site, "alpha", "owner")
    bad = owner.client.simulate_post("/portal/team", body=b"email=%ff%fe&role=viewer&csrf_token=" + owner.csrf.encode(),
                                     headers={"Content-Type": "application/x-www-form-urlencoded"},
                                     cookies={"mospay_portal": owner.cookie})
    assert bad.status_code == 400
    as_json = owner.client.simulate_post("/portal/team", json={"email": "a@b.example", "role": "viewer"},
                                         headers={"X-CSRF-Token": owner.csrf}, cookies={"mospay_portal": owner.cookie})
    assert as_json.status_code == 415
    assert owner.post("/portal/team", {"email": f"ok{owner.me['id']}@alpha.example", "role": "viewer"}
                      ).status_code == 201  # control
