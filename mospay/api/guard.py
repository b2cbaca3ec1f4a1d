"""API middleware: security headers, CORS, and throttling of failed authentication.

The counting itself lives in mospay.security; here we only decide which keys a request has.
"""

from __future__ import annotations

import base64
import binascii
import logging

import falcon

from .. import functions
from ..security import AuthThrottle, auth_throttle

log = logging.getLogger("mospay.security")

ALLOW_HEADERS = "Authorization, Content-Type, App-ID, X-App-ID, X-Request-ID"
EXPOSE_HEADERS = "X-Request-ID, Retry-After"
_JSON_CSP = "default-src 'none'; frame-ancestors 'none'"


class SecurityHeaders:
    """Headers every response gets. HTML pages (the portal) set their own CSP; we never overwrite one."""

    def process_response(self, req, resp, resource, req_succeeded):
        resp.set_header("X-Content-Type-Options", "nosniff")
        _default(resp, "Referrer-Policy", "no-referrer")
        _default(resp, "X-Frame-Options", "DENY")
        if "html" not in (resp.content_type or ""):
            _default(resp, "Content-Security-Policy", _JSON_CSP)
            # API answers carry payments and tokens: no browser or proxy may keep them.
            _default(resp, "Cache-Control", "no-store")
        if req.scheme == "https":  # as told by a trusted proxy (mospay.proxy)
            _default(resp, "Strict-Transport-Security", "max-age=31536000")


def _default(resp, name, value):
    if resp.get_header(name) is None:
        resp.set_header(name, value)


# Every method the API serves (the admin API changes with PATCH and deletes with DELETE); nothing else.
CORS_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class Cors:
    """CORS for the exact origins in MOSPAY_CORS_ORIGINS; with none configured, no CORS header at all.

    No Access-Control-Allow-Credentials: the API authenticates with the Authorization header, never
    with cookies, so a browser never needs to send ambient credentials cross-origin.
    """

    def __init__(self, origins):
        self._origins = frozenset(origins)

    def process_request(self, req, resp):
        if req.method != "OPTIONS" or not req.get_header("Origin") or not req.get_header(
                "Access-Control-Request-Method"):
            return
        # A preflight: answered here, before routing and authentication.
        resp.complete = True
        origin = req.get_header("Origin")
        method = (req.get_header("Access-Control-Request-Method") or "").upper()
        if origin not in self._origins or method not in CORS_METHODS:
            req.context.cors_refused = True
            resp.status = falcon.HTTP_403
            resp.media = {"error": {"code": "cors_not_allowed",
                                    "message": "this origin or method may not call the API from a browser"}}
            return
        resp.status = falcon.HTTP_204
        resp.set_header("Access-Control-Allow-Origin", origin)
        resp.set_header("Access-Control-Allow-Methods", ", ".join(CORS_METHODS))
        resp.set_header("Access-Control-Allow-Headers", ALLOW_HEADERS)
        resp.set_header("Access-Control-Max-Age", "600")

    def process_response(self, req, resp, resource, req_succeeded):
        if not self._origins:
            return
        resp.append_header("Vary", "Origin")
        origin = req.get_header("Origin")
        if origin in self._origins and not getattr(req.context, "cors_refused", False):
            resp.set_header("Access-Control-Allow-Origin", origin)
            resp.set_header("Access-Control-Expose-Headers", EXPOSE_HEADERS)


def _basic_username(header: str) -> str | None:
    """The username of a Basic header, for counting only (never verified here, never the secret)."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value or len(value) > 1024:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    username, sep, _secret = decoded.partition(":")
    return username[:64] if sep and username and username.isprintable() else None


class AuthGuard:
    """Throttles failed authentication on /api/: per address, and per (address, credential) for Basic.

    Never per credential alone: otherwise anyone knowing an App-ID or a username could lock its owner
    out by failing on purpose from addresses of their own (docs/decisions.md). Admin passwords are
    checked by the admin resources inside AuthThrottle.attempt, which counts them itself.
    """

    def __init__(self, db, throttle: AuthThrottle):
        self._db = db
        self._throttle = throttle

    def process_request(self, req, resp):
        if not req.path.startswith("/api/") or req.method == "OPTIONS":
            return
        admin = req.path.startswith("/api/v1/admin/")
        ip = req.remote_addr or "unknown"  # a unix-socket peer has no address
        username = _basic_username(req.get_header("Authorization") or "")
        app_id = req.get_header("App-ID") or req.get_header("X-App-ID")
        app_id = app_id if app_id and functions.APP_ID_RE.fullmatch(app_id) and not admin else None
        credential = None
        if username is not None:
            credential = f"admin:{username}" if admin else f"app:{app_id}" if app_id else f"user:{username}"
        keys = self._throttle.keys(ip, credential)
        req.context.auth_keys = (keys, ip, app_id, username, admin)
        self._throttle.check(keys)

    def process_response(self, req, resp, resource, req_succeeded):
        found = getattr(req.context, "auth_keys", None)
        if found is None or getattr(req.context, "auth_counted", False):
            return
        keys, ip, app_id, username, admin = found
        if resp.status_code == 401:
            try:
                self._throttle.record_failure(keys, kind="admin_auth_failure" if admin else "auth_failure",
                                              ip=ip, app_id=app_id, username=username, endpoint=req.path)
            except Exception:  # counting must not turn a 401 into a 500 (record_failure logs its own)
                log.error("could not count a failed authentication", exc_info=True)


def middleware(config, db, metrics=None) -> list:
    """In order after ApiLog (whose request id every answer needs, even a refused one)."""
    return [SecurityHeaders(), Cors(config.cors_origins), AuthGuard(db, auth_throttle(config, db, metrics))]
