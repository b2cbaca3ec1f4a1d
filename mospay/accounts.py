"""Accounts: API clients (App ID and credentials) and the operators who sign in (admin users).
Shared by the admin API, the CLI and the portal, so every path validates and records the same way."""

from __future__ import annotations

import re

from . import auth, client_keys, errors, functions, validators
from .db import Database
from .validators import text, url
from .webhooks import webhook_secret

USERNAME_RE = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
ROLES = ("super_admin", "admin", "viewer")


def create_client(db: Database, secret_key: str, data: dict) -> dict:
    """A client with fresh API credentials; the secret is returned this once and stored only as a hash."""
    app_id = data.get("app_id")
    app_id = functions.check_app_id(app_id) if app_id not in (None, "") else auth.new_app_id()
    secret = auth.new_api_secret()
    values = {
        "app_id": app_id,
        "company_name": text(data, "company_name"),
        "contact_email": text(data, "contact_email", required=False, max_length=254),
        "callback_url": url(data, "callback_url", required=False),
        "api_username": auth.new_api_username(),
        "api_secret_hash": auth.hash_secret(secret, secret_key),
    }
    try:
        row = db.one("insert_client", **values)
    except errors.Conflict:
        raise errors.Conflict("a client with this app_id already exists", field="app_id",
                              code="already_exists") from None
    return {"app_id": row["app_id"], "company_name": row["company_name"], "api_username": row["api_username"],
            "api_secret": secret, "webhook_secret": webhook_secret(secret_key, row["app_id"], 1),
            "active": row["active"], "created_at": row["created_at"].isoformat()}


def create_admin(db: Database, data: dict, must_change: bool = False) -> dict:
    username = text(data, "username", max_length=64)
    if not USERNAME_RE.fullmatch(username):
        raise errors.InvalidField("must be 1-64 letters, digits or _.@-", field="username")
    password = validators.password(data.get("password"))
    role = data.get("role") or "admin"
    if role not in ROLES:
        raise errors.InvalidField(f"must be one of {', '.join(ROLES)}", field="role")
    row = db.one("insert_user", username=username, password_hash=auth.hash_password(password), role=role,
                 must_change=must_change)
    if row is None:
        raise errors.Conflict("a user with this username already exists", field="username", code="already_exists")
    return row


def ensure_default_admin(db: Database, password: str) -> None:
    """The first start creates `admin` (super_admin), flagged to change its password at first login.
    Only into an empty users table: an operator who removed or renamed `admin` must not get it back."""
    if db.one("any_user") is None:
        db.one("insert_user", username="admin", password_hash=auth.hash_password(password),
               role="super_admin", must_change=True)


def authenticate_admin(db: Database, username: str, password: str) -> dict:
    user = db.one("user_by_username", username=username) if USERNAME_RE.fullmatch(username or "") else None
    if user is None:
        auth.check_password(password, _DUMMY_HASH)  # same cost whether or not the user exists
        raise errors.Unauthorized(auth.BAD_CREDENTIALS)
    if not auth.check_password(password, user["password_hash"]) or not user["active"]:
        raise errors.Unauthorized(auth.BAD_CREDENTIALS)
    return user


_DUMMY_HASH = "$2b$12$C6UzMDM.H6dfI/f/IKxGhu6q6d5r5cHGl5gq7bU0w1b2x0r0j7bQW"


def change_password(db: Database, user: dict, new_password) -> None:
    """Set a new password (never the old one); bumps the credential version so old tokens stop working."""
    validators.password(new_password, "new_password")
    if auth.check_password(new_password, user["password_hash"]):
        raise errors.InvalidField("must differ from the current password", field="new_password")
    db.query("set_user_password", id=user["id"], password_hash=auth.hash_password(new_password))


def rotate_credentials(db: Database, secret_key: str, app_id: str, overlap_s: int = 0) -> dict:
    """A new API secret (client_keys.roll). By default the old one and every token issued with it stop
    working at once; with overlap_s (up to 7 days) they keep working that long."""
    return client_keys.roll(db, secret_key, app_id, overlap_s)
