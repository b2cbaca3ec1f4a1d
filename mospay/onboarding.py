"""Onboarding: services, clients, service assignments (with their functions) and admin users.

Shared by the admin API, the CLI and the portal, so every path validates and records the same way.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from . import auth, errors, functions
from .db import Database
from .payments import STANDARD_FIELDS
from .webhooks import webhook_secret

URL_RE = re.compile(r"https?://[^\s/$.?#][^\s]{0,490}")
USERNAME_RE = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
ROLES = ("super_admin", "admin", "viewer")


def _text(data: dict, key: str, *, required: bool = True, max_length: int = 200) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise errors.InvalidField("is required", field=key, code="missing_field")
        return None
    if not isinstance(value, str):
        raise errors.InvalidField("must be a string", field=key, code="invalid_type")
    value = value.strip()
    if not value and required:
        raise errors.InvalidField("is required", field=key, code="missing_field")
    if len(value) > max_length or "\x00" in value:
        raise errors.InvalidField(f"must be at most {max_length} characters", field=key)
    return value or None


def _seconds(data: dict, key: str, maximum: int) -> Decimal | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise errors.InvalidField("must be a number of seconds", field=key, code="invalid_type")
    try:
        seconds = Decimal(str(value))
    except InvalidOperation:
        raise errors.InvalidField("must be a number of seconds", field=key) from None
    if not seconds.is_finite() or not 0 < seconds <= maximum:
        raise errors.InvalidField(f"must be between 0 and {maximum} seconds", field=key)
    return seconds.quantize(Decimal("0.01"))


def _url(data: dict, key: str, *, required: bool) -> str | None:
    url = _text(data, key, required=required, max_length=500)
    if url is not None and not URL_RE.fullmatch(url):
        raise errors.InvalidField("must be an http:// or https:// URL", field=key)
    return url


def create_service(db: Database, data: dict) -> dict:
    """A service with the eleven standard field definitions f000-f010."""
    name = functions.check_name(_text(data, "name", max_length=24), "name")
    currency = _text(data, "currency", required=False, max_length=3) or "RWF"
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise errors.InvalidField("must be a 3-letter ISO code like RWF", field="currency")
    values = {
        "name": name,
        "display_name": _text(data, "display_name", required=False) or name,
        "service_url": _url(data, "service_url", required=True),
        "currency": currency,
        "timeout_s": _seconds(data, "timeout_s", 300) or Decimal("30"),
        "connect_timeout_s": _seconds(data, "connect_timeout_s", 60) or Decimal("5"),
    }
    try:
        with db.transaction() as tx:
            service = tx.one("insert_service", **values)
            for code, label, kind, required, max_length, pattern, secret in STANDARD_FIELDS:
                tx.query("insert_service_field", service_id=service["id"], code=code, label=label,
                         field_type=kind, required=required, max_length=max_length, pattern=pattern,
                         secret=secret)
    except errors.Conflict:
        raise errors.Conflict("a service with this name already exists", field="name",
                              code="already_exists") from None
    return _public_service(service)


def _public_service(row: dict) -> dict:
    return {"name": row["name"], "display_name": row["display_name"], "service_url": row["service_url"],
            "currency": row["currency"], "timeout_s": float(row["timeout_s"]),
            "connect_timeout_s": float(row["connect_timeout_s"]), "active": row["active"],
            "created_at": row["created_at"].isoformat()}


def create_client(db: Database, secret_key: str, data: dict) -> dict:
    """A client with fresh API credentials; the secret is returned this once and stored only as a hash."""
    app_id = data.get("app_id")
    app_id = functions.check_app_id(app_id) if app_id not in (None, "") else auth.new_app_id()
    secret = auth.new_api_secret()
    values = {
        "app_id": app_id,
        "company_name": _text(data, "company_name"),
        "contact_email": _text(data, "contact_email", required=False, max_length=254),
        "callback_url": _url(data, "callback_url", required=False),
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


def assign_service(db: Database, app_id: str, data: dict) -> dict:
    """Assign a service with its routes and (re)create the request and RESPONSE function of each route."""
    functions.check_app_id(app_id)
    service = functions.check_name(_text(data, "service", max_length=24), "service")
    routes = data.get("routes")
    if not isinstance(routes, list) or not routes or len(routes) > 20:
        raise errors.InvalidField("must be a list of 1-20 routes", field="routes")
    for route in routes:
        functions.check_name(route, "routes")
    ddl = [stmt for route in sorted(set(routes)) for stmt in functions.create_function_ddl(app_id, service, route)]
    with db.transaction() as tx:
        client = tx.one("client_by_app_id", app_id=app_id)
        if client is None:
            raise errors.NotFound("no client with this app_id", field="app_id", code="client_not_found")
        svc = tx.one("service_by_name", name=service)
        if svc is None:
            raise errors.NotFound("no service with this name", field="service", code="service_not_found")
        assignment = tx.one("upsert_assignment", client_id=client["client_id"], service_id=svc["id"],
                            routes=sorted(set(routes)))
        for statement in ddl:
            tx.run(statement)
    names = [functions.request_function_name(app_id, service, r) for r in sorted(set(routes))]
    return {"app_id": app_id, "service": service, "routes": assignment["routes"],
            "functions": [n for name in names
                          for n in (name, functions.response_function_name_unchecked(name), name + "Status")]}


def create_admin(db: Database, data: dict, must_change: bool = False) -> dict:
    username = _text(data, "username", max_length=64)
    if not USERNAME_RE.fullmatch(username):
        raise errors.InvalidField("must be 1-64 letters, digits or _.@-", field="username")
    password = _check_password(data.get("password"), "password")
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


def _check_password(value, field: str) -> str:
    # bcrypt reads at most 72 bytes: bcrypt 5 raises on a longer one (a 500 before this check, found by
    # tests/integration/test_schemathesis.py), older versions silently ignored the rest.
    if not isinstance(value, str) or len(value) < 8 or len(value.encode("utf-8", "replace")) > 72:
        raise errors.InvalidField("must be 8-72 characters, at most 72 bytes in UTF-8", field=field)
    return value


def change_password(db: Database, user: dict, new_password) -> None:
    """Set a new password (never the old one); bumps the credential version so old tokens stop working."""
    _check_password(new_password, "new_password")
    if auth.check_password(new_password, user["password_hash"]):
        raise errors.InvalidField("must differ from the current password", field="new_password")
    db.query("set_user_password", id=user["id"], password_hash=auth.hash_password(new_password))


def rotate_credentials(db: Database, secret_key: str, app_id: str) -> dict:
    """A new API secret; the old one and every token issued with it stop working at once."""
    functions.check_app_id(app_id)
    secret = auth.new_api_secret()
    row = db.one("rotate_client_secret", app_id=app_id, api_secret_hash=auth.hash_secret(secret, secret_key))
    if row is None:
        raise errors.NotFound("no client with this app_id", field="app_id", code="client_not_found")
    return {"app_id": row["app_id"], "api_username": row["api_username"], "api_secret": secret}
