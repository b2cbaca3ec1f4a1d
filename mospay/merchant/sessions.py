"""Merchant-portal sessions in PostgreSQL (merchant_sessions), built like the admin portal's
(mospay/admin/sessions.py: signed random id in the cookie, only its sha256 stored) under their own
signature purpose, so an admin cookie never opens /portal and the other way round."""

from __future__ import annotations

import secrets

from ..admin import sessions as admin_sessions
from ..db import Database
from ..security import storable

PURPOSE = "merchant-session"
IDLE_S = admin_sessions.IDLE_S          # the admin portal's: 30 minutes idle
ABSOLUTE_S = admin_sessions.ABSOLUTE_S  # and 12 hours whatever happens
PENDING_S = 5 * 60                      # between a right password and the TOTP code


def create(db: Database, user: dict, key: str, ip: str | None, user_agent: str | None, *,
           mfa_pending: bool = False) -> str:
    """A new session for `user` (id, client_id); the cookie value. mfa_pending: opens only the TOTP step."""
    session_id, cookie = admin_sessions.new_cookie(key, PURPOSE)
    db.query("merchant_session_insert", id_hash=admin_sessions.id_hash(session_id), user_id=user["id"],
             client_id=user["client_id"], csrf_token=secrets.token_urlsafe(32), mfa_pending=mfa_pending,
             ip=storable(ip, 64), user_agent=storable(user_agent or "", 300) or None)
    return cookie


def _hash(cookie: str | None, key: str) -> str | None:
    session_id = admin_sessions.unsign(cookie, key, PURPOSE)
    return None if session_id is None else admin_sessions.id_hash(session_id)


def load(db: Database, cookie: str | None, key: str) -> dict | None:
    """The signed-in session (user, client, csrf_token, TOTP facts), or None: absent, forged, expired,
    still waiting for its TOTP code, or its user or client deactivated."""
    id_hash = _hash(cookie, key)
    if id_hash is None:
        return None
    row = db.one("merchant_session_touch", id_hash=id_hash, idle_s=IDLE_S, absolute_s=ABSOLUTE_S)
    return None if row is None else {**row, "session_hash": id_hash}


def load_pending(db: Database, cookie: str | None, key: str) -> dict | None:
    """The session waiting for its TOTP code (5 minutes), with what the check needs."""
    id_hash = _hash(cookie, key)
    return None if id_hash is None else db.one("merchant_session_pending", id_hash=id_hash, pending_s=PENDING_S)


def destroy(db: Database, cookie: str | None, key: str) -> None:
    id_hash = _hash(cookie, key)
    if id_hash is not None:
        db.query("merchant_session_delete", id_hash=id_hash)


def purge(db: Database) -> None:
    db.query("merchant_sessions_purge", idle_s=IDLE_S, absolute_s=ABSOLUTE_S)


def of_user(db: Database, user_id: int, client_id: int) -> list[dict]:
    return db.query("merchant_sessions_of_user", user_id=user_id, client_id=client_id)


def end_all(db: Database, user_id: int, client_id: int, keep_hash: str | None = None) -> None:
    db.query("merchant_sessions_delete_user", user_id=user_id, client_id=client_id, keep=keep_hash)
