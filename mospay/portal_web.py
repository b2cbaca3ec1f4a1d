"""What the two HTML portals (/admin for staff, /portal for merchants) do the same way: one Jinja environment,
full page or HTMX fragment, forms, the Origin and CSRF checks, security headers, redirects, the error page's
content and the answer to a refused sign-in. Each portal keeps its own cookie, paths, roles and templates."""

from __future__ import annotations

import datetime as dt
import hmac
import http
import json
from decimal import Decimal
from pathlib import Path

import falcon
import jinja2

from . import errors

ROOT = Path(__file__).resolve().parent.parent
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


def check_csrf_token(req, expected: str) -> None:
    """A signed-in write must carry its session's CSRF token, in the X-CSRF-Token header or the form."""
    if (req.content_type or "").startswith("multipart/form-data"):
        # A file upload's body is streamed by its resource, not parsed here: its form sends the
        # token in the action's query string (Origin/Sec-Fetch-Site were checked just above).
        sent = req.get_header("X-CSRF-Token") or req.get_param("csrf_token") or ""
    else:
        sent = req.get_header("X-CSRF-Token") or form(req).get("csrf_token") or ""
    if not hmac.compare_digest(sent.encode(), expected.encode()):  # str form: ASCII only
        raise errors.Forbidden("the form expired or came from elsewhere; reload the page and retry",
                               code="csrf_failed")


def sign_in_target(req, prefix: str) -> str:
    """Where a guard sends a request with no session: the portal's sign-in page, which brings a GET back
    to where it was going (the portal's home needs no `next`: sign-in lands there anyway)."""
    target = prefix + "/login"
    if req.method == "GET" and req.path != prefix:
        target += "?" + falcon.to_query_str({"next": req.relative_uri})[1:]
    return target


def redirect(req, resp, target: str) -> None:
    """From the guard: answer 303 and skip the responder. A redirect is an answer, not an error."""
    if req.get_header("HX-Request") == "true":
        resp.set_header("HX-Redirect", target)  # htmx would otherwise swap the login page into a fragment
    see_other(resp, target)
    resp.complete = True


def error_details(req, exc, log) -> dict:
    """What a portal's error page shows for `exc`: status, code and message (an unexpected error is logged
    to `log` and shown only as its request id)."""
    if isinstance(exc, errors.MosPayError):
        return {"status": exc.status, "code": exc.code, "message": exc.message}
    if isinstance(exc, falcon.HTTPError):
        phrase = http.HTTPStatus(exc.status_code).phrase
        return {"status": exc.status_code, "code": phrase.lower(), "message": exc.description or phrase}
    # The detail goes to the log under the request id; the page shows only the id.
    request_id = getattr(req.context, "request_id", "-")
    log.exception("unhandled error in %s %s [request %s]", req.method, req.path, request_id)
    return {"status": 500, "code": "internal error",
            "message": f"Something went wrong on our side (request {request_id})."}


def refused_sign_in(resp, exc: errors.MosPayError, wrong: str) -> dict:
    """The status and message a sign-in form is shown again with (not a redirect, so the name stays filled
    in): one message for every wrong credential, `wrong`, and a wait when throttled. The throttle has
    recorded the security event."""
    blocked = exc.status == 429
    if blocked:
        resp.set_header("Retry-After", exc.headers.get("Retry-After", "60"))
    return {"status": falcon.HTTP_429 if blocked else falcon.HTTP_401,
            "error": "Too many failed sign-ins; wait a minute and try again." if blocked else wrong}
