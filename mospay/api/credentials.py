"""Provider credentials through the admin API: list (names and last 4 characters only), set or rotate,
delete. Values go in, never out; every change is audited like the portal's."""

from __future__ import annotations

import falcon

from .. import errors
from ..credentials import CredentialStore
from .admin import WRITE_ROLES, actor_of, admin_user, audit
from .common import strict_body


def view(row: dict) -> dict:
    """What may be shown of a credential: never the value."""
    return {"service": row["service"], "app_id": row.get("app_id"), "name": row["name"], "last4": row["last4"],
            "source": row.get("source", "database"),  # "configuration": set outside MosPay, read-only here
            **{k: row[k].isoformat() if row.get(k) else None for k in ("created_at", "updated_at")}}


def audit_row(row: dict | None) -> dict | None:
    return None if row is None else {"app_id": row.get("app_id"), "name": row["name"], "last4": row["last4"]}


class _Resource:
    def __init__(self, db, tokens, config, store: CredentialStore):
        self._db = db
        self._tokens = tokens
        self._config = config
        self._store = store


class ServiceCredentials(_Resource):
    """GET /api/v1/admin/services/{service}/credentials"""

    def on_get(self, req, resp, service):
        admin_user(req, self._db, self._tokens, roles=(*WRITE_ROLES, "viewer"))
        resp.media = {"credentials": [view(r) for r in self._store.list(service)]}


class ServiceCredential(_Resource):
    """PUT (set or rotate: {"value", "app_id"?}) and DELETE (?app_id=) one named credential."""

    def on_put(self, req, resp, service, name):
        user = admin_user(req, self._db, self._tokens)
        data = strict_body(req, self._config, ("value", "app_id"))
        app_id = data.get("app_id")
        if app_id is not None and not isinstance(app_id, str):
            raise errors.InvalidField("must be a string or null", field="app_id", code="invalid_type")
        before = self._store.get(service, name, app_id)
        row = self._store.set(service, name, data.get("value"), app_id, updated_by=user["username"])
        audit(self._db, actor_of(req, user), "credential.rotate" if before else "credential.set", "service",
              service, audit_row({**before, "app_id": app_id} if before else None), audit_row(row))
        resp.media = view(row)
        resp.status = falcon.HTTP_200 if before else falcon.HTTP_201

    def on_delete(self, req, resp, service, name):
        user = admin_user(req, self._db, self._tokens)
        app_id = req.get_param("app_id") or None
        row = self._store.delete(service, name, app_id)
        audit(self._db, actor_of(req, user), "credential.delete", "service", service, audit_row(row), None)
        resp.status = falcon.HTTP_204
