"""Portal sign-in, sessions, forced password change, throttling, CSRF and security headers."""

from __future__ import annotations

from tests.integration.portal_support import PASSWORD, site  # noqa: F401  (fixture)


def test_anonymous_visitors_are_sent_to_the_login_form(site):
    portal = site.portal()
    assert portal.get("/").headers["location"] == "/admin"
    result = portal.get("/admin")
    assert result.status_code == 303 and result.headers["location"] == "/admin/login"
    result = portal.get("/admin/clients?q=x")
    assert result.headers["location"].startswith("/admin/login?next=")
    page = portal.get("/admin/login")
    assert page.status_code == 200 and 'name="username"' in page.text and 'name="password"' in page.text


def test_admin_pages_carry_security_headers_and_vary(site):
    page = site.portal().get("/admin/login")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "same-origin"
    assert "HX-Request" in page.headers["vary"]
    assert "<script>" not in page.text  # no inline script anywhere: only /static files


def test_default_admin_must_change_password_before_anything_else(site):
    portal = site.portal()
    result = portal.login("admin", "admin123")
    assert result.headers["location"] == "/admin/password"
    for path in ("/admin", "/admin/clients", "/admin/users"):
        assert portal.get(path).headers["location"] == "/admin/password"
    assert portal.post("/admin/clients", {"company_name": "X"}).headers["location"] == "/admin/password"
    bad = portal.post("/admin/password", {"current_password": "admin123", "new_password": "admin123",
                                          "confirm_password": "admin123"})
    assert bad.status_code == 422 and "must differ" in bad.text
    ok = portal.post("/admin/password", {"current_password": "admin123", "new_password": "a-new-password-1",
                                         "confirm_password": "a-new-password-1"})
    assert ok.status_code == 303 and ok.headers["location"] == "/admin"
    assert portal.get("/admin").status_code == 200
    assert site.portal().login("admin", "admin123").status_code == 401
    audit = site.db.run("SELECT action FROM audit_log")
    assert [a["action"] for a in audit] == ["user.change_password"]


def test_session_cookie_is_httponly_strict_and_signed(site):
    portal = site.portal()
    site.user("ops")
    result = portal.login("ops")
    cookie = result.cookies["mospay_session"]
    assert cookie.http_only and cookie.same_site == "Strict" and cookie.path == "/admin"
    assert not cookie.secure  # plain http in tests; https requests get Secure
    session_id = cookie.value.split(".")[0]
    assert site.db.run("SELECT count(*) AS n FROM admin_sessions WHERE id_hash LIKE :s", s=session_id + "%")[0]["n"] == 0
    portal.cookie = cookie.value[:-1] + ("0" if cookie.value[-1] != "0" else "1")
    assert portal.get("/admin").status_code == 303


def test_logout_ends_the_session_on_the_server(site):
    portal = site.portal("ops")
    cookie = portal.cookie
    assert portal.post("/admin/logout").headers["location"] == "/admin/login"
    portal.cookie = cookie  # replaying the old cookie does not bring the session back
    assert portal.get("/admin").status_code == 303


def test_idle_and_absolute_expiry(site):
    portal = site.portal("ops")
    assert portal.get("/admin").status_code == 200
    site.db.run("UPDATE admin_sessions SET last_seen_at = now() - interval '31 minutes'")
    assert portal.get("/admin").status_code == 303
    portal = site.portal("ops2")
    site.db.run("UPDATE admin_sessions SET created_at = now() - interval '13 hours'")
    assert portal.get("/admin").status_code == 303


def test_polling_does_not_postpone_idle_expiry(site):
    portal = site.portal("ops")
    site.db.run("UPDATE admin_sessions SET last_seen_at = now() - interval '29 minutes'")
    assert portal.get("/admin", headers={"HX-Request": "true", "X-Poll": "1"}).status_code == 200
    site.db.run("UPDATE admin_sessions SET last_seen_at = last_seen_at - interval '2 minutes'")
    expired = portal.get("/admin", headers={"HX-Request": "true", "X-Poll": "1"})
    assert expired.status_code == 303 and expired.headers["HX-Redirect"].startswith("/admin/login")


def test_failed_logins_are_throttled_per_account_at_that_address(site):
    site.user("ops")
    portal = site.portal()
    for _ in range(site.config.auth_failure_limit):  # the admin API's limit: one throttle for both
        assert portal.login("ops", "wrong-password").status_code == 401
    locked = portal.login("ops", PASSWORD)
    assert locked.status_code == 429 and "too many" in locked.text.lower()


def test_failed_logins_are_throttled_per_ip(site):
    site.user("ops")
    portal = site.portal()
    # Falcon's TestClient calls from 127.0.0.1: that address's failures on other accounts used up its limit.
    site.db.run("INSERT INTO auth_throttle (key, window_start, failures) VALUES ('ip:127.0.0.1', now(), :n)",
                n=site.config.auth_address_failure_limit)
    assert portal.login("ops", PASSWORD).status_code == 429


def test_csrf_token_is_required_for_every_change(site):
    portal = site.portal("ops")
    assert portal.post("/admin/services", {"name": "svc", "service_url": "http://x.test"}, csrf=False).status_code == 403
    wrong = portal.post("/admin/services", {"name": "svc", "service_url": "http://x.test", "csrf_token": "nope"},
                        csrf=False)
    assert wrong.status_code == 403 and "csrf" in wrong.text
    unicode = portal.post("/admin/services", {"name": "svc", "csrf_token": "é"}, csrf=False)
    assert unicode.status_code == 403
    header = portal.post("/admin/services", {"name": "svc", "service_url": "http://x.test"}, csrf=False,
                         headers={"X-CSRF-Token": portal.csrf})
    assert header.status_code == 303


def test_cross_site_requests_are_refused_even_with_the_token(site):
    portal = site.portal("ops")
    evil = portal.post("/admin/services", {"name": "svc", "service_url": "http://x.test"},
                       headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403
    fetch = portal.post("/admin/services", {"name": "svc", "service_url": "http://x.test"},
                        headers={"Sec-Fetch-Site": "cross-site"})
    assert fetch.status_code == 403
    login = site.portal().post("/admin/login", {"username": "ops", "password": PASSWORD},
                               headers={"Sec-Fetch-Site": "cross-site"})
    assert login.status_code == 403 and "mospay_session" not in login.cookies
    same = portal.post("/admin/services", {"name": "svc", "service_url": "http://x.test"},
                       headers={"Origin": "http://falconframework.org", "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 303


def test_login_redirects_back_to_a_local_page_only(site):
    site.user("ops")
    portal = site.portal()
    ok = portal.post("/admin/login", {"username": "ops", "password": PASSWORD, "next": "/admin/clients"})
    assert ok.headers["location"] == "/admin/clients"
    other = site.portal().post("/admin/login", {"username": "ops", "password": PASSWORD,
                                                "next": "//evil.example/admin"})
    assert other.headers["location"] == "/admin"
