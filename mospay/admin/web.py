"""Portal plumbing: Jinja rendering (full page or HTMX fragment), the session/role/CSRF guard,
security headers, redirects and the HTML error handler."""

from __future__ import annotations

import datetime as dt
import hmac
import http
import json
import logging
from decimal import Decimal
from pathlib import Path

import falcon
import jinja2

from .. import errors
from . import sessions as admin_sessions
from ..audit import Actor

log = logging.getLogger("mospay.admin")
ROOT = Path(__file__).resolve().parent.parent.parent
COOKIE = "mospay_session"
ALL_ROLES = ("super_admin", "admin", "viewer")
EDITORS = ("super_admin", "admin")
SUPER = ("super_admin",)
# No inline script or style anywhere: scripts and styles come from /static only.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")

env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "templates"), autoescape=True,
                         trim_blocks=True, lstrip_blocks=True)


def _when(value) -> str:
    if not isinstance(value, dt.datetime):
        return "" if value is None else str(value)
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _pretty(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def _money(value) -> str:
    return "" if value is None else f"{Decimal(value):,.2f}"


def _age(seconds) -> str:
    seconds = int(seconds or 0)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


env.filters.update(when=_when, pretty=_pretty, money=_money, age=_age)


def is_fragment(req) -> bool:
    """An HTMX request that wants only a piece of the page (boosted navigation wants the whole page)."""
    return req.get_header("HX-Request") == "true" and req.get_header("HX-Boosted") != "true"


def render(req, resp, template: str, *, partial: str | None = None, status=falcon.HTTP_200, **context):
    """The same URL answers a full page or, for an HTMX request, the partial `_x.html` inside it."""
    user = getattr(req.context, "user", None)
    name = partial if partial and is_fragment(req) else template
    text = env.get_template(name).render(
        user=user, csrf=user["csrf_token"] if user else "", path=req.path,
        can_edit=bool(user and user["role"] in EDITORS), is_super=bool(user and user["role"] in SUPER),
        **context)
    resp.status, resp.content_type, resp.text = status, falcon.MEDIA_HTML, text


def see_other(resp, location: str) -> None:
    """303 after every change: reloading the page never repeats the POST."""
    resp.status = falcon.HTTP_303
    resp.location = location


def form(req) -> dict:
    """The submitted form as a dict of strings (the last value wins for repeated names)."""
    if req.content_length and req.content_type is not None and not req.content_type.startswith(
            falcon.MEDIA_URLENCODED):  # JSON would bring numbers and lists where every field expects text
        raise errors.UnsupportedMediaType("send the form as application/x-www-form-urlencoded")
    media = req.get_media(default_when_empty={}) if req.content_length else {}
    if not isinstance(media, dict):
        raise errors.BadRequest("expected a form")
    data = {k: (v[-1] if isinstance(v, list) else v) for k, v in media.items()}
    # Falcon decodes invalid UTF-8 (%FF, lone surrogates) as U+FFFD: refuse it rather than store mojibake.
    if any("\ufffd" in str(k) + str(v) for k, v in data.items()):
        raise errors.BadRequest("the form is not valid UTF-8")
    return data


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
            target = "/admin/login"
            if req.method == "GET" and req.path != "/admin":
                target += "?" + falcon.to_query_str({"next": req.relative_uri})[1:]
            return redirect(req, resp, target)
        if unsafe:
            if (req.content_type or "").startswith("multipart/form-data"):
                # A file upload's body is streamed by its resource, not parsed here: its form sends the
                # token in the action's query string (Origin/Sec-Fetch-Site were checked just above).
                sent = req.get_header("X-CSRF-Token") or req.get_param("csrf_token") or ""
            else:
                sent = req.get_header("X-CSRF-Token") or form(req).get("csrf_token") or ""
            if not hmac.compare_digest(sent.encode(), user["csrf_token"].encode()):  # str form: ASCII only
                raise errors.Forbidden("the form expired or came from elsewhere; reload the page and retry",
                                       code="csrf_failed")
        if user["must_change_password"] and not getattr(resource, "allowed_before_password_change", False):
            return redirect(req, resp, "/admin/password")
        roles = getattr(resource, "write_roles" if unsafe else "read_roles", EDITORS if unsafe else ALL_ROLES)
        if user["role"] not in roles:
            raise errors.Forbidden("your role does not allow this", code="insufficient_role")

    def process_response(self, req, resp, resource, req_succeeded):
        if not req.path.startswith(("/admin", "/static")):
            return
        security_headers(resp, page=req.path.startswith("/admin"))


def security_headers(resp, *, page: bool) -> None:
    """CSP and friends on every portal answer (both portals: /admin, /portal) and on /static; a page
    (not a static file) also varies on HX-Request and is never cached."""
    resp.set_header("Content-Security-Policy", CSP)
    resp.set_header("X-Frame-Options", "DENY")
    resp.set_header("X-Content-Type-Options", "nosniff")
    resp.set_header("Referrer-Policy", "same-origin")
    if page:
        resp.append_header("Vary", "HX-Request")
        resp.cache_control = ["no-store"]


def check_origin(req) -> None:
    """Refuse cross-site writes (the login form included): Sec-Fetch-Site first, then Origin."""
    site = req.get_header("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        raise errors.Forbidden("cross-site request refused", code="csrf_failed")
    origin = req.get_header("Origin")
    if origin is not None and origin != f"{req.scheme}://{req.netloc}":
        raise errors.Forbidden("cross-site request refused", code="csrf_failed")


def error_handler(api_handler):
    """Portal errors as an HTML page or fragment; everywhere else `api_handler` answers (JSON)."""

    def handle(req, resp, exc, params):
        if not req.path.startswith("/admin"):
            return api_handler(req, resp, exc, params)
        if isinstance(exc, errors.MosPayError):
            error = {"status": exc.status, "code": exc.code, "message": exc.message}
        elif isinstance(exc, falcon.HTTPError):
            phrase = http.HTTPStatus(exc.status_code).phrase
            error = {"status": exc.status_code, "code": phrase.lower(), "message": exc.description or phrase}
        else:
            # The detail goes to the log under the request id; the page shows only the id.
            request_id = getattr(req.context, "request_id", "-")
            log.exception("unhandled error in %s %s [request %s]", req.method, req.path, request_id)
            error = {"status": 500, "code": "internal error",
                     "message": f"Something went wrong on our side (request {request_id})."}
        render(req, resp, "admin/error.html", partial="admin/_error.html",
               status=falcon.code_to_http_status(error["status"]), error=error)

    return handle


def redirect(req, resp, target: str) -> None:
    """From the guard: answer 303 and skip the responder. A redirect is an answer, not an error."""
    if req.get_header("HX-Request") == "true":
        resp.set_header("HX-Redirect", target)  # htmx would otherwise swap the login page into a fragment
    see_other(resp, target)
    resp.complete = True
