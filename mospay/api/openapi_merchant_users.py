"""OpenAPI operations of a client's merchant-portal users (mospay/api/admin_merchant_users.py). Merged into
the document by openapi._paths()."""

from __future__ import annotations

from .openapi import _ANY, _BODY, ADMIN_AUTH, _errors, _json, _op

_BASE = "/api/v1/admin/clients/{app_id}/users"
_TEXT = {"type": "string"}
_ROLE = {"type": "string", "enum": ["owner", "developer", "finance", "viewer"]}
_READ = "Read by every role (viewer, admin, super_admin)."
_WRITE = "admin and super_admin; audited with the admin's name."
_CURL = """
curl -s -X POST http://127.0.0.1:5000/api/v1/admin/clients/demo/users \\
  -H "Authorization: Bearer $ADMIN_TOKEN" -H "Content-Type: application/json" \\
  -d '{"email": "ana@shop.example", "role": "owner"}'
"""
_USER = {"type": "object", "required": ["email", "role", "active"],
         "properties": {"email": _TEXT, "role": _ROLE, "active": {"type": "boolean"},
                        "has_password": {"type": "boolean", "description": "false until the invite is accepted"},
                        "totp_enabled": {"type": "boolean"}, "created_at": _TEXT,
                        "last_login_at": {"type": ["string", "null"]}}}
_LINK = {"type": "object", "required": ["email", "role", "expires_at"],
         "properties": {"email": _TEXT, "role": _ROLE, "expires_at": _TEXT,
                        "invite_url": {"type": "string", "description": "one-time link, shown once"},
                        "reset_url": {"type": "string", "description": "one-time link, shown once"}}}


def _path(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": _TEXT}


def _named(op: dict, operation_id: str, *names: str) -> dict:
    op["operationId"] = operation_id
    op["parameters"] = [_path(n) for n in names]
    return op


def paths() -> dict:
    listing = _named(_op("A client's merchant-portal users", "admin", security=ADMIN_AUTH, description=_READ,
                         responses={"200": _json({"type": "object", "required": ["items"], "properties": {
                             "items": {"type": "array", "items": _USER}}}, "every user of the client"),
                             **_errors(401, 403, 404, 422, *_ANY)}), "listMerchantUsers", "app_id")
    invite = _named(_op("Invite a merchant-portal user (a client's first user included)", "admin",
                        security=ADMIN_AUTH, curl=_CURL,
                        request={"type": "object", "additionalProperties": False, "required": ["email", "role"],
                                 "properties": {"email": {"type": "string", "maxLength": 254}, "role": _ROLE}},
                        description="Answers the one-time invite link (valid 72 hours) where the person chooses a "
                                    "password; it is shown once and, when MOSPAY_SMTP_URL is set, also emailed. "
                                    "Emails are unique across all clients (409). " + _WRITE,
                        responses={"201": _json(_LINK, "invited"), **_errors(*_BODY, 401, 403, 404, 409, *_ANY)}),
                    "createMerchantUser", "app_id")
    one = _named(_op("One merchant-portal user", "admin", security=ADMIN_AUTH, description=_READ,
                     responses={"200": _json(_USER, "the user"), **_errors(401, 403, 404, 422, *_ANY)}),
                 "getMerchantUser", "app_id", "email")
    patch = _named(_op("Change a merchant-portal user's role or deactivate them", "admin", security=ADMIN_AUTH,
                       request={"type": "object", "additionalProperties": False,
                                "properties": {"role": _ROLE, "active": {"type": "boolean"}}},
                       description="Deactivating ends the user's sessions at once. 409 when it would leave the "
                                   "client without an active owner. " + _WRITE,
                       responses={"200": _json(_USER, "the user"), **_errors(*_BODY, 401, 403, 404, 409, *_ANY)}),
                   "updateMerchantUser", "app_id", "email")
    reset = _named(_op("Reset a merchant-portal user's password", "admin", security=ADMIN_AUTH,
                       description="The old password and TOTP enrolment stop working and the user's sessions end now; the answer "
                                   "carries a one-time link (72 hours, shown once, emailed when MOSPAY_SMTP_URL is "
                                   "set) to choose a new one. " + _WRITE,
                       responses={"200": _json(_LINK, "reset"), **_errors(401, 403, 404, 422, *_ANY)}),
                   "resetMerchantUserPassword", "app_id", "email")
    return {
        _BASE: {"get": listing, "post": invite},
        f"{_BASE}/{{email}}": {"get": one, "patch": patch},
        f"{_BASE}/{{email}}/reset-password": {"post": reset},
    }
