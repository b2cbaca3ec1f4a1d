"""/portal/settings: own password, TOTP enrolment (QR code as SVG, the key as text, recovery codes once,
each usable once), turning TOTP off, and the sessions list with sign-out everywhere."""

from __future__ import annotations

import re
import time

from mospay import merchant_mfa, totp
from tests.integration.merchant_support import MerchantPortal, merchant_client, merchant_portal
from tests.integration.portal_support import PASSWORD, site  # noqa: F401 (the fixture)


def test_change_password_ends_other_sessions(site):
    merchant_client(site, "alpha")
    me = merchant_portal(site, "alpha", "viewer")
    other = MerchantPortal(site.app)
    assert other.login(me.me["email"]).status_code == 303
    wrong = me.post("/portal/settings/password", {"current_password": "nope-nope-1", "new_password": "next-pass-12",
                                                  "confirm_password": "next-pass-12"})
    assert wrong.status_code == 422 and "current password is wrong" in wrong.text
    assert me.post("/portal/settings/password", {"current_password": PASSWORD, "new_password": "short",
                                                 "confirm_password": "short"}).status_code == 422
    done = me.post("/portal/settings/password", {"current_password": PASSWORD, "new_password": "next-pass-12",
                                                 "confirm_password": "next-pass-12"})
    assert done.status_code == 303
    assert me.get("/portal").status_code == 200 and other.get("/portal").status_code == 303
    assert MerchantPortal(site.app).login(me.me["email"], "next-pass-12").status_code == 303


def test_totp_enrolment_qr_recovery_codes_and_sign_in(site):
    merchant_client(site, "alpha")
    me = merchant_portal(site, "alpha", "finance")
    page = me.post("/portal/settings/totp", {"step": "start"})
    assert page.status_code == 200 and "<svg" in page.text and "<script" not in page.text.split("<svg")[1]
    secret = re.search(r'id="totp-secret" class="secret">([A-Z2-7]+)<', page.text).group(1)
    nonce = re.search(r'name="nonce" value="([0-9a-f]+)"', page.text).group(1)
    assert secret not in str(site.db.run("SELECT * FROM merchant_users"))  # only the nonce is stored
    key = merchant_mfa.key(site.config.secret_key, me.me["id"], nonce)
    assert totp.b32(key) == secret
    bad = me.post("/portal/settings/totp", {"step": "confirm", "nonce": nonce, "code": "12345x"})
    assert bad.status_code == 422 and "<svg" in bad.text
    done = me.post("/portal/settings/totp", {"step": "confirm", "nonce": nonce, "code": totp.code(key)})
    codes = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", done.text)
    assert done.status_code == 200 and len(codes) == 10
    assert codes[0] not in str(site.db.run("SELECT * FROM merchant_recovery_codes"))
    assert "9 recovery codes left" not in me.get("/portal/settings").text
    # Sign in again: a recovery code works once, then a TOTP code of a later step.
    again = MerchantPortal(site.app)
    assert again.login(me.me["email"]).headers["location"].startswith("/portal/login/totp")
    assert again.post("/portal/login/totp", {"code": codes[0]}).status_code == 303
    assert "9 recovery codes left" in again.get("/portal/settings").text
    third = MerchantPortal(site.app)
    third.login(me.me["email"])
    assert third.post("/portal/login/totp", {"code": codes[0]}).status_code == 401
    assert third.post("/portal/login/totp", {"code": totp.code(key, time.time() + 30)}).status_code == 303
    assert site.db.run("SELECT count(*) AS n FROM audit_log WHERE action = 'merchant_user.recovery_code_used'"
                       )[0]["n"] == 1


def test_turning_totp_off_needs_the_password(site):
    merchant_client(site, "alpha")
    me = merchant_portal(site, "alpha", "viewer", with_totp=True)
    assert me.post("/portal/settings/totp", {"step": "disable", "password": "wrong-pass-1"}).status_code == 422
    assert me.post("/portal/settings/totp", {"step": "disable", "password": PASSWORD}).status_code == 303
    assert MerchantPortal(site.app).login(me.me["email"]).headers["location"] == "/portal"


def test_sessions_list_and_sign_out_everywhere(site):
    merchant_client(site, "alpha")
    me = merchant_portal(site, "alpha", "developer")
    other = MerchantPortal(site.app)
    other.login(me.me["email"])
    page = me.get("/portal/settings")
    assert page.text.count("<tr><td>") == 2 and "(this one)" in page.text
    assert me.post("/portal/settings/sessions").status_code == 303
    assert me.get("/portal").status_code == 303 and other.get("/portal").status_code == 303
