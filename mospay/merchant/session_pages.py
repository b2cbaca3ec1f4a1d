"""Merchant sign-in (email, password, then the TOTP code when enabled), sign-out, invite and reset links,
and the forgotten-password form. Throttled exactly as the admin portal's sign-in (mospay/security.py)."""

from __future__ import annotations

import falcon

from .. import errors, merchant_accounts as accounts, merchant_mfa, security
from ..audit import audit
from ..mail import Mailer
from ..portal_web import refused_sign_in
from . import sessions
from .web import cookie, form, local_next, render, see_other, set_cookie


def base_url(req, config) -> str:
    """Where one-time links point: MOSPAY_PUBLIC_URL when set, else the address this request came to."""
    return config.public_url or req.prefix


class Login:
    """GET the form, POST email and password. A user with TOTP gets a pending session and the code step."""
    public = True

    def __init__(self, db, config):
        self._db, self._key = db, config.secret_key
        self._throttle = security.auth_throttle(config, db)

    def on_get(self, req, resp):
        if req.context.merchant is not None:
            return see_other(resp, "/portal")
        render(req, resp, "merchant/login.html", next=local_next(req.get_param("next")), email="", error=None)

    def on_post(self, req, resp):
        data = form(req)
        address = (data.get("email") or "").strip()
        try:
            user = accounts.authenticate(self._db, self._throttle, address, data.get("password") or "",
                                         req.remote_addr or "-")
        except (errors.Unauthorized, errors.TooManyRequests) as exc:
            return render(req, resp, "merchant/login.html", next=local_next(data.get("next")),
                          email=security.storable(address, 254),
                          **refused_sign_in(resp, exc, "Wrong email or password."))
        sessions.purge(self._db)
        pending = user["totp_nonce"] is not None
        value = sessions.create(self._db, user, self._key, req.remote_addr, req.user_agent, mfa_pending=pending)
        set_cookie(req, resp, value, sessions.PENDING_S if pending else sessions.ABSOLUTE_S)
        if pending:
            return see_other(resp, "/portal/login/totp?" + falcon.to_query_str(
                {"next": local_next(data.get("next"))})[1:])
        self._db.query("merchant_user_logged_in", id=user["id"], client_id=user["client_id"])
        see_other(resp, local_next(data.get("next")))


class LoginTotp:
    """The second step: a code from the authenticator app (good once) or a recovery code."""
    public = True

    def __init__(self, db, config):
        self._db, self._key = db, config.secret_key
        self._throttle = security.auth_throttle(config, db)

    def on_get(self, req, resp):
        if sessions.load_pending(self._db, cookie(req), self._key) is None:
            return see_other(resp, "/portal/login")
        render(req, resp, "merchant/login_totp.html", next=local_next(req.get_param("next")), error=None)

    def on_post(self, req, resp):
        data = form(req)
        pending = sessions.load_pending(self._db, cookie(req), self._key)
        if pending is None:
            return see_other(resp, "/portal/login")
        ip = req.remote_addr or "-"
        keys = self._throttle.keys(ip, f"merchant-totp:{pending['user_id']}")
        try:
            with self._throttle.attempt(keys, kind="merchant_totp_failure", ip=ip, username=pending["email"][:64],
                                        endpoint="/portal/login/totp"):
                used = merchant_mfa.verify(self._db, self._key, pending, data.get("code"))
        except (errors.Unauthorized, errors.TooManyRequests) as exc:
            blocked = exc.status == 429
            return render(req, resp, "merchant/login_totp.html", status=falcon.HTTP_429 if blocked else falcon.HTTP_401,
                          next=local_next(data.get("next")),
                          error="Too many wrong codes; wait a minute and try again." if blocked
                          else "That code is not right (each code works once).")
        # A new session id once both factors are in: the pending one never becomes the signed-in one.
        self._db.query("merchant_session_delete", id_hash=pending["id_hash"])
        user = {"id": pending["user_id"], "client_id": pending["client_id"]}
        set_cookie(req, resp, sessions.create(self._db, user, self._key, req.remote_addr, req.user_agent),
                   sessions.ABSOLUTE_S)
        self._db.query("merchant_user_logged_in", id=pending["user_id"], client_id=pending["client_id"])
        if used == "recovery":
            audit(self._db, accounts.merchant_actor(pending, req.remote_addr), "merchant_user.recovery_code_used",
                           "merchant_user", pending["email"])
        see_other(resp, local_next(data.get("next")))


class Logout:
    actions = {"POST": "read"}
    before_totp = True

    def __init__(self, db, config):
        self._db, self._key = db, config.secret_key

    def on_post(self, req, resp):
        sessions.destroy(self._db, cookie(req), self._key)
        set_cookie(req, resp, "", 0)
        see_other(resp, "/portal/login")


class Link:
    """/portal/invite/{token} and /portal/reset/{token}: choose a password through a one-time link."""
    public = True

    def __init__(self, db, config, kind: str):
        self._db, self._key, self._kind = db, config.secret_key, kind

    def on_get(self, req, resp, token):
        user = accounts.link_user(self._db, self._key, self._kind, token)
        render(req, resp, "merchant/link.html", kind=self._kind, email=user["email"], app_id=user["app_id"],
               error=None)

    def on_post(self, req, resp, token):
        data = form(req)
        user = accounts.link_user(self._db, self._key, self._kind, token)
        error = None
        if data.get("new_password") != data.get("confirm_password"):
            error = "The two passwords differ."
        else:
            try:
                accounts.use_link(self._db, self._key, self._kind, token, data.get("new_password"), req.remote_addr)
            except errors.InvalidField as exc:
                error = f"The password {exc.message}."
        if error:
            return render(req, resp, "merchant/link.html", status=falcon.HTTP_422, kind=self._kind,
                          email=user["email"], app_id=user["app_id"], error=error)
        see_other(resp, "/portal/login?done=" + self._kind)


class Forgot:
    """Ask for a reset link by email. The answer is the same whether or not the address is known."""
    public = True

    def __init__(self, db, config):
        self._db, self._config = db, config
        self._mailer = Mailer(config.smtp_url)
        self._throttle = security.auth_throttle(config, db)

    def on_get(self, req, resp):
        render(req, resp, "merchant/forgot.html", sent=False, mail=self._mailer.enabled)

    def on_post(self, req, resp):
        data = form(req)
        ip = req.remote_addr or "-"
        # Counted as a failure each time, so one address cannot mail-bomb an inbox or probe at will.
        # Only the (address, form) counter: the address's own counter is sign-in's, not to be used up here.
        keys = self._throttle.keys(ip, "merchant-forgot")[1:]
        self._throttle.check(keys)
        self._throttle.record_failure(keys, kind="merchant_reset_request", ip=ip, app_id=None,
                                      username=None, endpoint="/portal/forgot")
        accounts.forgotten_password(self._db, self._config.secret_key, data.get("email"),
                                    base_url(req, self._config), self._mailer)
        render(req, resp, "merchant/forgot.html", sent=True, mail=self._mailer.enabled)
