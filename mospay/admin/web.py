"""Admin-portal plumbing: rendering with the admin's roles, the session/role/CSRF guard and the HTML error
handler. What both portals share (forms, redirects, headers, Origin and CSRF checks) is mospay/portal_web.py."""

from __future__ import annotations

import logging

import falcon

from .. import errors
from ..audit import Actor
from ..portal_web import (ROOT, check_csrf_token, check_origin, env, error_details, form, is_fragment, redirect,
                          see_other, security_headers, sign_in_target)
from . import sessions as admin_sessions

# The shared names stay importable from here, where the admin pages have always found them.
__all__ = ["ALL_ROLES", "COOKIE", "EDITORS", "ROOT", "SUPER", "PortalGuard", "actor", "check_origin",
           "error_handler", "form", "is_fragment", "redirect", "render", "security_headers", "see_other"]
log = logging.getLogger("mospay.admin")
COOKIE = "mospay_session"
ALL_ROLES = ("super_admin", "admin", "viewer")
EDITORS = ("super_admin", "admin")
SUPER = ("super_admin",)


def render(req, resp, template: str, *, partial: str | None = None, status=falcon.HTTP_200, **context):
    """The same URL answers a full page or, for an HTMX request, the partial `_x.html` inside it."""
    user = getattr(req.context, "user", None)
    name = partial if partial and is_fragment(req) else template
    text = env.get_template(name).render(
        user=user, csrf=user["csrf_token"] if user else "", path=req.path,
        can_edit=bool(user and user["role"] in EDITORS), is_super=bool(user and user["role"] in SUPER),
        **context)
    resp.status, resp.content_type, resp.text = status, falcon.MEDIA_HTML, text


def actor(req) -> Actor:
    user = req.context.user
    return Actor(user["id"], user["username"], user["role"], req.remote_addr)


class PortalGuard:
    """Every /admin request: load the session, force the password change, check role and CSRF,
    and add the security headers. Resources declare `read_roles`, `write_roles` and `public`."""

    def __init__(self, db, config):
        self._db = db
        self._key = config.secret_key

    def process_resource(self, req, resp, resource, params):
        if not req.path.startswith("/admin"):
            return
        cookie = (req.get_cookie_values(COOKIE) or [None])[0]
        polling = req.method == "GET" and req.get_header("X-Poll") == "1"  # sent by self-refreshing panels
        req.context.user = admin_sessions.load(self._db, cookie, self._key, activity=not polling)
        unsafe = req.method not in ("GET", "HEAD", "OPTIONS")
        if unsafe:
            check_origin(req)
        if getattr(resource, "public", False):
            return
        user = req.context.user
        if user is None:
            return redirect(req, resp, sign_in_target(req, "/admin"))
        if unsafe:
            check_csrf_token(req, user["csrf_token"])
        if user["must_change_password"] and not getattr(resource, "allowed_before_password_change", False):
            return redirect(req, resp, "/admin/password")
        roles = getattr(resource, "write_roles" if unsafe else "read_roles", EDITORS if unsafe else ALL_ROLES)
        if user["role"] not in roles:
            raise errors.Forbidden("your role does not allow this", code="insufficient_role")

    def process_response(self, req, resp, resource, req_succeeded):
        if not req.path.startswith(("/admin", "/static")):
            return
        security_headers(resp, page=req.path.startswith("/admin"))


def error_handler(api_handler):
    """Portal errors as an HTML page or fragment; everywhere else `api_handler` answers (JSON)."""

    def handle(req, resp, exc, params):
        if not req.path.startswith("/admin"):
            return api_handler(req, resp, exc, params)
        error = error_details(req, exc, log)
        render(req, resp, "admin/error.html", partial="admin/_error.html",
               status=falcon.code_to_http_status(error["status"]), error=error)

    return handle
