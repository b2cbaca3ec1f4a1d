"""Merchant-portal sign-in: email and password, the TOTP step, sign-out, the session cookie, CSRF, and
deactivation (of the user or of the client) ending sessions at once."""

from __future__ import annotations

from tests.integration.merchant_support import MerchantPortal, merchant_client, merchant_portal, merchant_user, totp_code
from tests.integration.portal_support import PASSWORD, site  # noqa: F401 (the fixture)


def test_sign_in_sets_a_strict_portal_cookie_and_opens_the_dashboard(site):
    merchant_client(site, "alpha")
    user = merchant_user(site, "alpha", "viewer")
    portal = MerchantPortal(site.app)
    assert portal.get("/portal").status_code == 303  # control: not signed in yet
    result = portal.post("/portal/login", {"email": user["email"].upper(), "password": PASSWORD})
    assert result.status_code == 303 and result.headers["location"] == "/portal"
    cookie = result.cookies["mospay_portal"]
    assert cookie.path == "/portal" and cookie.http_only and cookie.same_site == "Strict"
    page = portal.get("/portal")
    assert page.status_code == 200 and "alpha" in page.text and user["email"] in page.text
    assert "no-store" in page.headers["cache-control"] and "HX-Request" in page.headers["vary"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_wrong_password_and_unknown_email_get_the_same_401(site):
    merchant_client(site, "alpha")
    user = merchant_user(site, "alpha")
    portal = MerchantPortal(site.app)
    wrong = portal.post("/portal/login", {"email": user["email"], "password": "nope-nope-1"})
    unknown = portal.post("/portal/login", {"email": "who@nowhere.example", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong email or password." in wrong.text and "Wrong email or password." in unknown.text
    assert portal.cookie is None


def test_an_admin_cookie_does_not_open_the_portal(site):
    admin = site.portal("ops")
    result = admin.client.simulate_get("/portal", cookies={"mospay_portal": admin.cookie})
    assert result.status_code == 303 and result.headers["location"].startswith("/portal/login")


def test_totp_user_needs_a_code_and_a_code_works_once(site):
    merchant_client(site, "alpha")
    user = merchant_user(site, "alpha", "owner", with_totp=True)
    portal = MerchantPortal(site.app)
    first = portal.login(user["email"])
    assert first.status_code == 303 and first.headers["location"].startswith("/portal/login/totp")
    assert portal.get("/portal").status_code == 303  # the pending session opens nothing
    assert portal.post("/portal/login/totp", {"code": "000000" if totp_code(site, user) != "000000" else "111111"}
                       ).status_code == 401
    code = totp_code(site, user)
    done = portal.post("/portal/login/totp", {"code": code})
    assert done.status_code == 303 and done.headers["location"] == "/portal"
    assert portal.get("/portal").status_code == 200
    again = MerchantPortal(site.app)
    again.login(user["email"])
    assert again.post("/portal/login/totp", {"code": code}).status_code == 401  # the same code twice


def test_logout_ends_the_session(site):
    merchant_client(site, "alpha")
    portal = merchant_portal(site, "alpha", "viewer")
    old = portal.cookie
    assert portal.post("/portal/logout").status_code == 303
    result = portal.client.simulate_get("/portal", cookies={"mospay_portal": old})
    assert result.status_code == 303


def test_writes_need_the_csrf_token_and_a_same_origin(site):
    merchant_client(site, "alpha")
    portal = merchant_portal(site, "alpha", "viewer")
    assert portal.post("/portal/logout", {"csrf_token": "forged"}).status_code == 403
    assert portal.post("/portal/logout", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert portal.get("/portal").status_code == 200  # still signed in
    assert portal.post("/portal/logout").status_code == 303  # control: the real token works


def test_deactivating_the_client_ends_sessions_and_refuses_sign_in(site):
    merchant_client(site, "alpha")
    portal = merchant_portal(site, "alpha", "owner")
    assert portal.get("/portal").status_code == 200
    site.db.run("UPDATE clients SET active = false WHERE app_id = 'alpha'")
    assert portal.get("/portal").status_code == 303
    again = MerchantPortal(site.app)
    assert again.login(portal.me["email"]).status_code == 401
    site.db.run("UPDATE clients SET active = true WHERE app_id = 'alpha'")
    assert again.login(portal.me["email"]).status_code == 303  # control


def test_deactivating_the_user_ends_sessions_and_refuses_sign_in(site):
    merchant_client(site, "alpha")
    portal = merchant_portal(site, "alpha", "developer")
    site.db.run("UPDATE merchant_users SET active = false WHERE id = :id", id=portal.me["id"])
    assert portal.get("/portal").status_code == 303
    assert MerchantPortal(site.app).login(portal.me["email"]).status_code == 401


def test_login_next_is_only_a_local_portal_path(site):
    merchant_client(site, "alpha")
    user = merchant_user(site, "alpha")
    for target, expected in (("/portal/settings", "/portal/settings"), ("https://evil.example/", "/portal"),
                             ("//evil.example", "/portal"), ("/admin", "/portal")):
        portal = MerchantPortal(site.app)
        result = portal.post("/portal/login", {"email": user["email"], "password": PASSWORD, "next": target})
        assert result.headers["location"] == expected, target


def test_unknown_portal_page_is_an_html_404(site):
    result = MerchantPortal(site.app).get("/portal/invite/" + "x" * 30)
    assert result.status_code == 404 and "text/html" in result.headers["content-type"]
