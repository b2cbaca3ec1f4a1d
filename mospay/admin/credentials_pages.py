"""Provider credentials in the portal: names, last 4 characters and dates for everyone; set, rotate and
delete for super_admin and admin (the guard's default write roles, CSRF included). Never the value."""

from __future__ import annotations

import falcon

from .. import errors
from ..credentials import CredentialStore
from ..db import Database
from .. import actions as ps
from .web import ALL_ROLES, EDITORS, actor, form, render, see_other

PAGE = "/admin/credentials"


def _audit_view(row: dict | None, app_id) -> dict | None:
    return None if row is None else {"app_id": app_id or None, "name": row["name"], "last4": row["last4"]}


class ProviderCredentials:
    read_roles, write_roles = ALL_ROLES, EDITORS

    def __init__(self, db: Database, store: CredentialStore):
        self._db = db
        self._store = store

    def on_get(self, req, resp, status=falcon.HTTP_200, error=None, draft=None):
        render(req, resp, "admin/provider_credentials.html", status=status, rows=self._store.list(),
               services=ps.services(self._db), error=error, draft=draft or {})

    def on_post(self, req, resp):
        data = form(req)
        service, name, app_id = data.get("service") or "", data.get("name") or "", data.get("app_id") or None
        try:
            before = self._store.get(service, name, app_id)
            row = self._store.set(service, name, data.get("value"), app_id, updated_by=req.context.user["username"])
        except (errors.InvalidField, errors.NotFound) as exc:
            # The form comes back without the value: it is never written into a page.
            draft = {k: data.get(k, "")[:100] for k in ("service", "name", "app_id")}
            return self.on_get(req, resp, status=falcon.HTTP_422, error=exc, draft=draft)
        ps.audit(self._db, actor(req), "credential.rotate" if before else "credential.set", "service", service,
                 _audit_view(before, app_id), _audit_view(row, app_id))
        see_other(resp, PAGE)


class ProviderCredentialDelete:
    read_roles, write_roles = ALL_ROLES, EDITORS

    def __init__(self, db: Database, store: CredentialStore):
        self._db = db
        self._store = store

    def on_post(self, req, resp):
        data = form(req)
        app_id = data.get("app_id") or None
        row = self._store.delete(data.get("service") or "", data.get("name") or "", app_id)
        ps.audit(self._db, actor(req), "credential.delete", "service", row["service"], _audit_view(row, app_id), None)
        see_other(resp, PAGE)
