"""Merchant-portal plumbing: rendering, the guard (session, CSRF, team TOTP rule, role) and HTML errors.

Contract for resources under /portal (what the guard reads from a resource):
- `public = True`: no session needed (sign-in, invite, reset; the guard still checks Origin on writes).
- `actions = {"GET": "read", "POST": "team"}`: the mospay.merchant_roles action each method needs. A safe
  method missing from the dict needs "read"; an unsafe one missing from it is refused (403): every
  change names its action.
- `before_totp = True`: reachable while the team requires TOTP and the user has none yet (enrolment).
For every other /portal request `req.context.merchant` is a MerchantUser (user_id, client_id, app_id,
email, role) and `req.context.merchant_session` the session row (csrf_token, session_hash, totp_enabled,
require_totp). Pages query with `req.context.merchant.client_id` in the SQL, never filter in Python.
"""

from __future__ import annotations

import logging
import re

import falcon

from .. import errors
from ..audit import Actor
from ..merchant_accounts import merchant_actor
from ..merchant_roles import MerchantUser, allowed
from ..portal_web import (check_csrf_token, check_origin, env, error_details, form, is_fragment, redirect,
                          see_other, security_headers, sign_in_target)
from . import sessions

__all__ = ["COOKIE", "MerchantGuard", "actor", "error_handler", "form", "render", "see_other", "set_cookie"]
log = logging.getLogger("mospay.merchant")
COOKIE = "mospay_portal"
PREFIX = "/portal"
SAFE = ("GET", "HEAD", "OPTIONS")


def in_portal(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def local_next(value: str | None) -> str:
    """Only a local /portal path: never an open redirect."""
    return value if value and re.fullmatch(r"/portal(/[A-Za-z0-9/_\-?=&%.]*)?", value) else PREFIX


def render(req, resp, template: str, *, partial: str | None = None, status=falcon.HTTP_200, **context):
    """The same URL answers a full page or, for an HTMX request, the partial `_x.html` inside it."""
    me = getattr(req.context, "merchant", None)
    session = getattr(req.context, "merchant_session", None)
    name = partial if partial and is_fragment(req) else template
    text = env.get_template(name).render(
        me=me, csrf=session["csrf_token"] if session else "", path=req.path,
        can=(lambda action: bool(me and allowed(me.role, action))), **context)
    resp.status, resp.content_type, resp.text = status, falcon.MEDIA_HTML, text


def set_cookie(req, resp, value: str, max_age: int) -> None:
    resp.set_cookie(COOKIE, value, max_age=max_age, path=PREFIX, http_only=True, same_site="Strict",
                    secure=req.scheme == "https")


def cookie(req) -> str | None:
    return (req.get_cookie_values(COOKIE) or [None])[0]


def actor(req) -> Actor:
    """The audit trail's actor for the signed-in merchant user: `merchant:<email>`, with the client."""
    return merchant_actor(req.context.merchant, req.remote_addr)


class MerchantGuard:
    """Every /portal request: load the session, check Origin and the CSRF token on writes, send a user
    the team requires TOTP of to enrolment first, and check the role's action (403 page when lacking)."""

    def __init__(self, db, config):
        self._db = db
        self._key = config.secret_key

    def process_resource(self, req, resp, resource, params):
        if not in_portal(req.path):
            return
        session = sessions.load(self._db, cookie(req), self._key)
        req.context.merchant_session = session
        req.context.merchant = None if session is None else MerchantUser(
            session["user_id"], session["client_id"], session["app_id"], session["email"], session["role"])
        unsafe = req.method not in SAFE
        if unsafe:
            check_origin(req)
        if getattr(resource, "public", False):
            return
        if session is None:
            return redirect(req, resp, sign_in_target(req, PREFIX))
        if unsafe:
            check_csrf_token(req, session["csrf_token"])
        if session["require_totp"] and not session["totp_enabled"] and not getattr(resource, "before_totp", False):
            return redirect(req, resp, PREFIX + "/settings/totp")
        actions = getattr(resource, "actions", {})
        action = actions.get(req.method, None if unsafe else "read")
        if action is None or not allowed(session["role"], action):
            raise errors.Forbidden("your role does not allow this", code="insufficient_role")

    def process_response(self, req, resp, resource, req_succeeded):
        if in_portal(req.path):
            security_headers(resp, page=True)


def error_handler(other):
    """Errors under /portal as the portal's HTML page or fragment; everywhere else `other` answers."""

    def handle(req, resp, exc, params):
        if not in_portal(req.path):
            return other(req, resp, exc, params)
        error = error_details(req, exc, log)
        if isinstance(exc, falcon.HTTPError):  # this portal passes on its headers (a 405's Allow); /admin never has
            for name, value in (exc.headers or {}).items():
                resp.set_header(name, value)
        render(req, resp, "merchant/error.html", partial="merchant/_error.html",
               status=falcon.code_to_http_status(error["status"]), error=error)

    return handle
