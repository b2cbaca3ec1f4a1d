"""Merchant sign-in is throttled exactly as the admin portal's (mospay/security.py AuthThrottle, the same
limits): per (address, email), per address, and on the TOTP step; each failure is a security event."""

from __future__ import annotations

from tests.integration.merchant_support import MerchantPortal, merchant_client, merchant_user, totp_code
from tests.integration.portal_support import PASSWORD, site  # noqa: F401 (the fixture)


def test_failed_sign_ins_lock_the_email_at_that_address(site):
    merchant_client(site, "alpha")
    user = merchant_user(site, "alpha")
    other = merchant_user(site, "alpha", "viewer")
    portal = MerchantPortal(site.app)
    for _ in range(site.config.auth_failure_limit):
        assert portal.login(user["email"], "wrong-password").status_code == 401
    locked = portal.login(user["email"], PASSWORD)
    assert locked.status_code == 429 and "too many" in locked.text.lower() and locked.headers["retry-after"]
    assert portal.login(other["email"], PASSWORD).status_code == 303  # another email from there still works
    kinds = {r["kind"] for r in site.db.run("SELECT kind FROM security_events")}
    assert {"merchant_login_failure", "auth_blocked"} <= kinds


def test_an_address_over_its_limit_is_refused(site):
    merchant_client(site, "alpha")
    user = merchant_user(site, "alpha")
    site.db.run("INSERT INTO auth_throttle (key, window_start, failures) VALUES ('ip:127.0.0.1', now(), :n)",
                n=site.config.auth_address_failure_limit)
    assert MerchantPortal(site.app).login(user["email"], PASSWORD).status_code == 429


def test_wrong_totp_codes_are_throttled_too(site):
    merchant_client(site, "alpha")
    user = merchant_user(site, "alpha", with_totp=True)
    portal = MerchantPortal(site.app)
    portal.login(user["email"])
    wrong = "000000" if totp_code(site, user) != "000000" else "111111"
    for _ in range(site.config.auth_failure_limit):
        assert portal.post("/portal/login/totp", {"code": wrong}).status_code == 401
    assert portal.post("/portal/login/totp", {"code": totp_code(site, user)}).status_code == 429
