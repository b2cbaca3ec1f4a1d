"""/portal/team: owners invite (link shown once), change roles and remove teammates, never leaving the
team without an owner; everyone else only reads the list. The team-wide TOTP rule sends users without
TOTP to enrolment before anything else."""

from __future__ import annotations

import re

import pytest

from tests.integration.merchant_support import MerchantPortal, merchant_client, merchant_portal, merchant_user
from tests.integration.portal_support import site  # noqa: F401 (the fixture)


@pytest.fixture
def alpha(site):
    merchant_client(site, "alpha")
    return merchant_portal(site, "alpha", "owner", with_totp=True)


def test_owner_invites_and_the_link_is_shown_once(site, alpha):
    page = alpha.post("/portal/team", {"email": "new@alpha.example", "role": "developer"})
    assert page.status_code == 201, page.text
    url = re.search(r'id="invite-url" class="secret">([^<]+)<', page.text).group(1)
    token = url.rsplit("/", 1)[1]
    listing = alpha.get("/portal/team")
    assert "new@alpha.example" in listing.text and "invited" in listing.text and token not in listing.text
    invitee = MerchantPortal(site.app)
    assert invitee.post(f"/portal/invite/{token}", {"new_password": "dev-password-1",
                                                    "confirm_password": "dev-password-1"}).status_code == 303
    assert invitee.login("new@alpha.example", "dev-password-1").status_code == 303
    assert site.db.run("SELECT action, username, client_app_id FROM audit_log WHERE action = 'merchant_user.invite'"
                       ) == [{"action": "merchant_user.invite", "username": f"merchant:{alpha.me['email']}",
                              "client_app_id": "alpha"}]


def test_invite_refuses_a_taken_email_and_a_bad_role(site, alpha):
    taken = merchant_user(site, "alpha", "viewer")["email"]
    assert alpha.post("/portal/team", {"email": taken, "role": "viewer"}).status_code == 422
    assert alpha.post("/portal/team", {"email": "x@alpha.example", "role": "admin"}).status_code == 422
    assert alpha.post("/portal/team", {"email": "x@alpha.example", "role": "viewer"}).status_code == 201  # control


def test_owner_changes_roles_and_removes_but_keeps_an_owner(site, alpha):
    mate = merchant_portal(site, "alpha", "viewer")
    mate_id = mate.me["id"]
    assert alpha.post(f"/portal/team/{mate_id}/role", {"role": "finance"}).status_code == 303
    assert site.db.run("SELECT role FROM merchant_users WHERE id = :i", i=mate_id)[0]["role"] == "finance"
    assert alpha.post(f"/portal/team/{alpha.me['id']}/role", {"role": "viewer"}).status_code == 409
    assert alpha.post(f"/portal/team/{alpha.me['id']}/active", {"active": "0"}).status_code == 409
    assert mate.get("/portal").status_code == 200
    assert alpha.post(f"/portal/team/{mate_id}/active", {"active": "0"}).status_code == 303
    assert mate.get("/portal").status_code == 303  # removed: signed out at once
    assert alpha.post(f"/portal/team/{mate_id}/active", {"active": "1"}).status_code == 303
    assert MerchantPortal(site.app).login(mate.me["email"]).status_code == 303


def test_only_owners_manage_the_team(site, alpha):
    for role in ("developer", "finance", "viewer"):
        other = merchant_portal(site, "alpha", role)
        assert other.get("/portal/team").status_code == 200
        assert "Invite a teammate" not in other.get("/portal/team").text
        assert other.post("/portal/team", {"email": f"{role}x@alpha.example", "role": "owner"}).status_code == 403
        assert other.post(f"/portal/team/{other.me['id']}/role", {"role": "owner"}).status_code == 403
    assert site.db.run("SELECT count(*) AS n FROM merchant_users WHERE role = 'owner'")[0]["n"] == 1


def test_require_totp_sends_teammates_to_enrolment_first(site, alpha):
    mate = merchant_portal(site, "alpha", "developer")
    no_totp_owner = merchant_portal(site, "alpha", "owner")
    assert no_totp_owner.post("/portal/team/totp", {"require_totp": "1"}).status_code == 422  # own TOTP first
    assert alpha.post("/portal/team/totp", {"require_totp": "1"}).status_code == 303
    sent = mate.get("/portal")
    assert sent.status_code == 303 and sent.headers["location"] == "/portal/settings/totp"
    assert mate.get("/portal/settings/totp").status_code == 200
    assert mate.get("/portal").headers["location"] == "/portal/settings/totp"
    assert alpha.get("/portal").status_code == 200  # has TOTP: not affected
    assert alpha.post("/portal/team/totp", {"require_totp": "0"}).status_code == 303
    assert mate.get("/portal").status_code == 200


def test_owner_renews_an_invite_and_the_old_link_stops_working(site, alpha):
    first = alpha.post("/portal/team", {"email": "late@alpha.example", "role": "viewer"})
    old = re.search(r'id="invite-url" class="secret">([^<]+)<', first.text).group(1).rsplit("/", 1)[1]
    user_id = site.db.run("SELECT id FROM merchant_users WHERE email = 'late@alpha.example'")[0]["id"]
    renewed = alpha.post(f"/portal/team/{user_id}/invite")
    new = re.search(r'id="invite-url" class="secret">([^<]+)<', renewed.text).group(1).rsplit("/", 1)[1]
    assert renewed.status_code == 200 and new != old
    browser = MerchantPortal(site.app)
    assert browser.get(f"/portal/invite/{old}").status_code == 404
    assert browser.get(f"/portal/invite/{new}").status_code == 200
    joined = merchant_user(site, "alpha", "viewer")
    assert alpha.post(f"/portal/team/{joined['id']}/invite").status_code == 409  # already joined
