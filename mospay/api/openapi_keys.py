"""OpenAPI operations of the admin API keys and the admin users (merged into openapi._paths())."""

from __future__ import annotations

from .openapi import _ANY, _BODY, ADMIN_AUTH, _errors, _json, _op

_ROLE = {"type": "string", "enum": ["viewer", "admin", "super_admin"]}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_API_KEY = {"type": "object", "required": ["id", "name", "role"], "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"}, "role": _ROLE, "created_by": {"type": "string"},
    "created_at": _TIME, "expires_at": _TIME, "revoked_at": _TIME, "last_used_at": _TIME,
    "last_used_ip": {"type": ["string", "null"]}}}
_NEW_KEY = {**_API_KEY, "required": ["id", "name", "role", "key"], "properties": {
    **_API_KEY["properties"], "key": {"type": "string", "description": "mpk_...: shown this once, never again"}}}
_USER = {"type": "object", "required": ["username", "role", "active"], "properties": {
    "username": {"type": "string"}, "role": _ROLE, "active": {"type": "boolean"},
    "must_change_password": {"type": "boolean"}, "created_at": _TIME, "updated_at": _TIME}}
_PAGE = [{"name": "limit", "in": "query", "required": False,
          "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
         {"name": "after", "in": "query", "required": False, "schema": {"type": "string"},
          "description": "the `next` of the previous page"}]
_USERNAME = [{"name": "username", "in": "path", "required": True, "schema": {"type": "string"}}]
_KEY_AUTH = ("Authenticate with an admin token or an API key (`Authorization: Bearer mpk_...`). ")


def _page_of(item: dict) -> dict:
    return {"type": "object", "required": ["items", "next"], "properties": {
        "items": {"type": "array", "items": item}, "next": {"type": ["string", "null"]}}}


def _with_id(op: dict, operation_id: str, parameters=None) -> dict:
    op["operationId"] = operation_id
    if parameters:
        op["parameters"] = [*op.get("parameters", []), *parameters]
    return op


def paths() -> dict:
    return {
        "/api/v1/admin/api-keys": {
            "get": _with_id(_op(
                "List API keys (never their values): role, expiry, last use, revocation", "admin",
                security=ADMIN_AUTH, description=_KEY_AUTH + "super_admin only.", parameters=_PAGE,
                responses={"200": _json(_page_of(_API_KEY), "a page of keys, newest first"),
                           **_errors(401, 403, 422, *_ANY)}), "listApiKeys"),
            "post": _with_id(_op(
                "Create an API key for automation (its value is shown once)", "admin", security=ADMIN_AUTH,
                description=_KEY_AUTH + "super_admin only. The key works on the admin API only, never the "
                                        "portal; changes made with it are audited as `key:<name>`.",
                request={"type": "object", "required": ["name", "role"], "additionalProperties": False,
                         "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9_.@-]{1,64}$"},
                                        "role": _ROLE, "expires_at": _TIME}},
                responses={"201": _json(_NEW_KEY, "created"), **_errors(*_BODY, 401, 403, 409, *_ANY)}),
                "createApiKey")},
        "/api/v1/admin/api-keys/{key_id}": {
            "delete": _with_id(_op(
                "Revoke an API key at once", "admin", security=ADMIN_AUTH,
                description=_KEY_AUTH + "super_admin only. Revoking a revoked key changes nothing.",
                parameters=[{"name": "key_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                responses={"204": {"description": "revoked"}, **_errors(401, 403, 404, *_ANY)}),
                "revokeApiKey")},
        "/api/v1/admin/users": {
            "get": _with_id(_op(
                "List admin users", "admin", security=ADMIN_AUTH, description=_KEY_AUTH, parameters=_PAGE,
                responses={"200": _json(_page_of(_USER), "a page of users, newest first"),
                           **_errors(401, 403, 422, *_ANY)}), "listUsers"),
            "post": _with_id(_op(
                "Create an admin user (who must change the password at first login)", "admin",
                security=ADMIN_AUTH, description=_KEY_AUTH + "super_admin only.",
                request={"type": "object", "required": ["username", "password"], "properties": {
                    "username": {"type": "string"}, "password": {"type": "string", "minLength": 8},
                    "role": _ROLE}},
                responses={"201": _json(_USER, "created"), **_errors(*_BODY, 401, 403, 409, *_ANY)}),
                "createUser")},
        "/api/v1/admin/users/{username}": {
            "get": _with_id(_op(
                "An admin user", "admin", security=ADMIN_AUTH, description=_KEY_AUTH, parameters=_USERNAME,
                responses={"200": _json(_USER, "the user"), **_errors(401, 403, 404, *_ANY)}), "getUser"),
            "patch": _with_id(_op(
                "Change a user's role or active flag (last writer wins)", "admin", security=ADMIN_AUTH,
                description=_KEY_AUTH + "super_admin only; never one's own role or active flag. Both "
                                        "changes are written together or not at all.",
                parameters=_USERNAME,
                request={"type": "object", "additionalProperties": False,
                         "properties": {"role": _ROLE, "active": {"type": "boolean"}}},
                responses={"200": _json(_USER, "the user now"), **_errors(*_BODY, 401, 403, 404, *_ANY)}),
                "updateUser")},
        "/api/v1/admin/users/{username}/reset-password": {
            "post": _with_id(_op(
                "Reset a user's password to a temporary one (shown once; to be changed at next login)",
                "admin", security=ADMIN_AUTH,
                description=_KEY_AUTH + "super_admin only. The user's sessions and tokens end now.",
                parameters=_USERNAME,
                responses={"200": _json({"type": "object", "required": ["username", "temporary_password"],
                                         "properties": {"username": {"type": "string"},
                                                        "temporary_password": {"type": "string"},
                                                        "must_change_password": {"type": "boolean"}}},
                                        "the temporary password"),
                           **_errors(401, 403, 404, *_ANY)}), "resetUserPassword")},
    }
