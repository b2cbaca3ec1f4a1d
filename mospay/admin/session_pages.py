"""Sign-in, sign-out and the (forced) password change."""

from __future__ import annotations

import re

import falcon

from .. import accounts, auth, errors, security
from . import sessions as admin_sessions
from ..audit import audit
from ..portal_web import refused_sign_in
from .web import ALL_ROLES, COOKIE, actor, form, render, see_other


def _next(value: str | None) -> str:
    """Only a local /admin path: never an open redirect."""
    return value if value and re.fullmatch(r"/admin[A-Za-z0-9/_\-?=&%.]*", value) else "/admin"


def _set_cookie(req, resp, value: str, max_age: int) -> None:
    resp.set_cookie(COOKIE, value, max_age=max_age, path="/admin", http_only=True, same_site="Strict",
                    secure=req.scheme == "https")


class Home:
    public = True

    def on_get(self, req, resp):
        see_other(resp, "/admin")


class Login:
    """GET the form, POST username/password. Throttled per account and per IP."""
    public = True

    def __init__(self, db, config):
        self._db = db
        self._key = config.secret_key
        self._throttle = security.auth_throttle(config, db)

    def on_get(self, req, resp):
        if req.context.user is not None:
            return see_other(resp, "/admin")
        render(req, resp, "admin/login.html", next=_next(req.get_param("next")), username="", error=None)

    def on_post(self, req, resp):
        data = form(req)
        username = (data.get("username") or "").strip()
        try:
            user = admin_sessions.login(self._db, self._throttle, username, data.get("password") or "",
                                        req.remote_addr or "-")
        except (errors.Unauthorized, errors.TooManyRequests) as exc:
            return render(req, resp, "admin/login.html", next=_next(data.get("next")),
                          username=security.storable(username, 64),
                          **refused_sign_in(resp, exc, "Wrong username or password."))
        cookie = admin_sessions.create(self._db, user, self._key, req.remote_addr, req.user_agent)
        _set_cookie(req, resp, cookie, admin_sessions.ABSOLUTE_S)
        see_other(resp, "/admin/password" if user["must_change_password"] else _next(data.get("next")))


class Logout:
    read_roles = write_roles = ALL_ROLES
    allowed_before_password_change = True

    def __init__(self, db, config):
        self._db = db
        self._key = config.secret_key

    def on_post(self, req, resp):
        admin_sessions.destroy(self._db, (req.get_cookie_values(COOKIE) or [None])[0], self._key)
        _set_cookie(req, resp, "", 0)
        see_other(resp, "/admin/login")


class Password:
    """Change your own password; the only page a must-change account can reach."""
    read_roles = write_roles = ALL_ROLES
    allowed_before_password_change = True

    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        render(req, resp, "admin/password.html", error=None)

    def on_post(self, req, resp):
        data = form(req)
        user = req.context.user
        error = None
        if not auth.check_password(data.get("current_password") or "", user["password_hash"]):
            error = "The current password is wrong."
        elif data.get("new_password") != data.get("confirm_password"):
            error = "The two new passwords differ."
        else:
            try:
                accounts.change_password(self._db, user, data.get("new_password"))
            except errors.InvalidField as exc:
                error = f"The new password {exc.message}."
        if error:
            return render(req, resp, "admin/password.html", status=falcon.HTTP_422, error=error)
        admin_sessions.end_other_sessions(self._db, user["id"], user["session_hash"])
        audit(self._db, actor(req), "user.change_password", "user", user["username"])
        see_other(resp, "/admin")
