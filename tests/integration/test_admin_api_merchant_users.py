"""A client's merchant-portal users over the admin API: invite (201, a one-time link shown once and stored
only as a hash), list, role and deactivation (sessions end, the last owner stays), operator reset; roles,
audit, and hostile bodies."""

from __future__ import annotations

import pytest

from tests.integration.merchant_support import MerchantPortal, merchant_client, merchant_portal
from tests.integration.portal_support import site  # noqa: F401  (fixture)
from tests.integration.test_admin_api_records import BASE, Api


@pytest.fixture
def ops(site):
    merchant_client(site, "alpha")
    merchant_client(site, "bravo")
    return Api(site, "ops", "admin")


def patch(api, path, json):
    return api.client.simulate_patch(BASE + path, json=json, headers=api.headers)


def test_invite_answers_a_one_time_link_that_lets_the_person_sign_in(site, ops):
    made = ops.post("/clients/alpha/users", {"email": "Ana@Alpha.example", "role": "owner"})
    assert made.status_code == 201, made.text
    assert made.json["email"] == "Ana@Alpha.example" and made.json["role"] == "owner"
    assert made.headers["cache-control"] == "no-store"
    url = made.json["invite_url"]
    token = url.rsplit("/", 1)[1]
    assert url.startswith("http") and "/portal/invite/" in url
    dump = str(site.db.run("SELECT * FROM merchant_tokens")) + str(site.db.run("SELECT * FROM audit_log"))
    assert token not in dump  # only a hash is kept, and the audit row does not carry it
    browser = MerchantPortal(site.app)
    page = browser.get(f"/portal/invite/{token}")
    assert page.status_code == 200 and "Ana@Alpha.example" in page.text
    done = browser.post(f"/portal/invite/{token}", {"new_password": "a-good-password", "confirm_password": "a-good-password"})
    assert done.status_code == 303
    assert browser.get(f"/portal/invite/{token}").status_code == 404  # used up
    assert browser.login("ana@alpha.example", "a-good-password").status_code == 303
    listed = ops.get("/clients/alpha/users").json["items"]
    assert [(u["email"], u["has_password"], u["active"]) for u in listed] == [("Ana@Alpha.example", True, True)]
    audit = site.db.run("SELECT username, action, client_app_id FROM audit_log WHERE action LIKE 'merchant_user.%' "
                        "ORDER BY id")
    assert audit == [{"username": "ops", "action": "merchant_user.invite", "client_app_id": "alpha"},
                     {"username": "merchant:Ana@Alpha.example", "action": "merchant_user.accept_invite",
                      "client_app_id": "alpha"}]


def test_email_is_unique_across_clients(ops):
    assert ops.post("/clients/alpha/users", {"email": "x@y.example", "role": "viewer"}).status_code == 201
    again = ops.post("/clients/bravo/users", {"email": "X@Y.example", "role": "viewer"})
    assert again.status_code == 409 and again.json["error"]["field"] == "email"


@pytest.mark.parametrize("body, field", [
    ({"email": "not-an-email", "role": "owner"}, "email"),
    ({"email": "a@b.example", "role": "admin"}, "role"),
    ({"email": "a@b.example"}, "role"),
    ({"email": ["a@b.example"], "role": "owner"}, "email"),
    ({"email": "a@b.example", "role": "owner", "password": "x"}, "password"),
    ({"email": "a b@b.example", "role": "owner"}, "email"),
    ({"email": "a" * 300 + "@b.example", "role": "owner"}, "email"),
])
def test_bad_bodies_are_422_and_write_nothing(site, ops, body, field):
    assert ops.post("/clients/alpha/users", {"email": "ok@alpha.example", "role": "viewer"}).status_code == 201
    answer = ops.post("/clients/alpha/users", body)
    assert answer.status_code == 422 and answer.json["error"]["field"] == field, answer.text
    assert site.db.run("SELECT count(*) AS n FROM merchant_users")[0]["n"] == 1


def test_unknown_client_and_other_clients_user_are_404(site, ops):
    assert ops.post("/clients/nobody/users", {"email": "a@b.example", "role": "owner"}).status_code == 404
    ops.post("/clients/alpha/users", {"email": "a@alpha.example", "role": "owner"})
    assert ops.get("/clients/bravo/users/a@alpha.example").status_code == 404
    assert patch(ops, "/clients/bravo/users/a@alpha.example", {"active": False}).status_code == 404
    assert ops.post("/clients/bravo/users/a@alpha.example/reset-password").status_code == 404
    assert ops.get("/clients/alpha/users/a@alpha.example").json["active"] is True


def test_a_viewer_reads_but_cannot_invite(site, ops):
    viewer = Api(site, "watcher", "viewer")
    assert viewer.get("/clients/alpha/users").status_code == 200
    assert viewer.post("/clients/alpha/users", {"email": "a@b.example", "role": "owner"}).status_code == 403


def test_deactivation_ends_sessions_and_the_last_owner_stays(site, ops):
    owner = merchant_portal(site, "alpha", "owner")
    email = owner.me["email"]
    assert patch(ops, f"/clients/alpha/users/{email}", {"role": "viewer"}).status_code == 409
    assert patch(ops, f"/clients/alpha/users/{email}", {"active": False}).status_code == 409
    second = merchant_portal(site, "alpha", "owner")
    assert owner.get("/portal").status_code == 200
    done = patch(ops, f"/clients/alpha/users/{email}", {"active": False})
    assert done.status_code == 200 and done.json["active"] is False
    assert owner.get("/portal").status_code == 303  # signed out at once
    assert second.get("/portal").status_code == 200
    assert patch(ops, f"/clients/alpha/users/{email}", {"active": "no"}).status_code == 422


def test_operator_reset_stops_the_old_password_and_gives_a_link(site, ops):
    user = merchant_portal(site, "alpha", "finance", with_totp=True)
    email = user.me["email"]
    reset = ops.post(f"/clients/alpha/users/{email}/reset-password")
    assert reset.status_code == 200 and "/portal/reset/" in reset.json["reset_url"]
    assert ops.get(f"/clients/alpha/users/{email}").json["totp_enabled"] is False  # a lost phone, too
    assert user.get("/portal").status_code == 303
    assert MerchantPortal(site.app).login(email).status_code == 401
    token = reset.json["reset_url"].rsplit("/", 1)[1]
    browser = MerchantPortal(site.app)
    assert browser.post(f"/portal/reset/{token}", {"new_password": "short", "confirm_password": "short"}
                        ).status_code == 422
    assert browser.post(f"/portal/reset/{token}", {"new_password": "brand-new-pass", "confirm_password":
                                                   "brand-new-pass"}).status_code == 303
    assert browser.login(email, "brand-new-pass").headers["location"] == "/portal"  # no code asked


def test_one_time_links_never_reach_the_api_log(site, ops):
    made = ops.post("/clients/alpha/users", {"email": "logged@alpha.example", "role": "owner"})
    reset = ops.post("/clients/alpha/users/logged@alpha.example/reset-password")
    assert made.status_code == 201 and reset.status_code == 200
    tokens = [made.json["invite_url"].rsplit("/", 1)[1], reset.json["reset_url"].rsplit("/", 1)[1]]
    logged = str(site.db.run("SELECT * FROM api_logs WHERE endpoint LIKE '%/users%'"))
    assert "logged@alpha.example" in logged  # control: the rows are there
    assert not [t for t in tokens if t in logged]
