"""Portal sessions and sign-in, stored in PostgreSQL so logout and expiry are real.

The cookie is `<random id>.<HMAC of the id under SECRET_KEY>`; only sha256(id) is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from .. import accounts
from ..db import Database
from ..security import AuthThrottle, storable

IDLE_S = 30 * 60            # signed out after 30 minutes without a request
ABSOLUTE_S = 12 * 3600      # and after 12 hours whatever happens


def _signature(session_id: str, key: str, purpose: str = "admin-session") -> str:
    # `purpose` keeps the portals apart: an admin cookie never verifies as a merchant one (mospay/merchant).
    return hmac.new(key.encode(), purpose.encode() + b":" + session_id.encode(), hashlib.sha256).hexdigest()


def _id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


id_hash = _id_hash  # public for the merchant portal's sessions, which store the same hash


def new_cookie(key: str, purpose: str = "admin-session") -> tuple[str, str]:
    """(session id, cookie value `<id>.<signature>`) for a new session."""
    session_id = secrets.token_urlsafe(32)
    return session_id, f"{session_id}.{_signature(session_id, key, purpose)}"


def unsign(cookie: str | None, key: str, purpose: str = "admin-session") -> str | None:
    session_id, _, signature = (cookie or "").partition(".")
    if not session_id or len(session_id) > 100 or not hmac.compare_digest(
            signature, _signature(session_id, key, purpose)):
        return None
    return session_id


def create(db: Database, user: dict, key: str, ip: str | None, user_agent: str | None) -> str:
    """A new session for `user`; returns the cookie value."""
    session_id, cookie = new_cookie(key)
    db.query("session_insert", id_hash=_id_hash(session_id), user_id=user["id"],
             csrf_token=secrets.token_urlsafe(32), ip=ip, user_agent=storable(user_agent or "", 300) or None)
    return cookie


def load(db: Database, cookie: str | None, key: str, *, activity: bool = True) -> dict | None:
    """The signed-in user (with the session's CSRF token), or None when absent, forged or expired.

    `activity=False` (automatic polling) checks the session without postponing its idle expiry.
    """
    session_id = unsign(cookie, key)
    if session_id is None:
        return None
    rows = db.query("session_touch" if activity else "session_check", id_hash=_id_hash(session_id),
                    idle_s=IDLE_S, absolute_s=ABSOLUTE_S)
    if not rows:
        return None
    return {**rows[0], "session_hash": _id_hash(session_id)}


def destroy(db: Database, cookie: str | None, key: str) -> None:
    session_id = unsign(cookie, key)
    if session_id is not None:
        db.query("session_delete", id_hash=_id_hash(session_id))


def end_other_sessions(db: Database, user_id: int, keep_hash: str | None) -> None:
    db.query("sessions_delete_user", user_id=user_id, keep=keep_hash)


def login(db: Database, throttle: AuthThrottle, username: str, password: str, ip: str) -> dict:
    """Authenticate under the same throttle as the admin API: per address and per (address, username),
    the attempt reserved before bcrypt runs. 429 (TooManyRequests) when either is used up."""
    username = (username or "")[:64]
    keys = throttle.keys(ip, "admin:" + username)
    with throttle.attempt(keys, kind="portal_login_failure", ip=ip, username=username, endpoint="/admin/login"):
        user = accounts.authenticate_admin(db, username, password or "")
    db.query("sessions_purge", idle_s=IDLE_S, absolute_s=ABSOLUTE_S)
    return user
