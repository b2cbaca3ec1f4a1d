"""Clients: list with live search, create (credentials shown once), detail, edit, (de)activate,
rotate credentials, assign and unassign services."""

from __future__ import annotations

import falcon

from .. import client_keys, errors, merchant_accounts, merchant_roles, reports
from .. import actions as ps
from ..db import Database
from .web import actor, form, render, see_other

PAGE = 25


def _page_number(req) -> int:
    raw = req.get_param("page") or "1"
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 100_000 else 1  # not "²": a 500


class Clients:
    def __init__(self, db: Database, config):
        self._db = db
        self._key = config.secret_key

    def on_get(self, req, resp):
        q = (req.get_param("q") or "").strip()[:100] or None
        page = _page_number(req)
        rows = self._db.query("clients_page", q=q, limit=PAGE + 1, offset=(page - 1) * PAGE)
        render(req, resp, "admin/clients.html", partial="admin/_clients_table.html", rows=rows[:PAGE],
               q=q or "", page=page, more=len(rows) > PAGE)

    def on_post(self, req, resp):
        data = form(req)
        try:
            created = ps.create_client(self._db, actor(req), self._key, data)
        except (errors.InvalidField, errors.Conflict) as exc:  # the form again, with the reason next to it
            return render(req, resp, "admin/client_form.html", status=falcon.HTTP_422, client=data, new=True,
                          error=exc)
        # Shown in this response only: never stored in clear, never in a cookie or flash message.
        render(req, resp, "admin/credentials.html", status=falcon.HTTP_201, creds=created, new=True)


class ClientNew:
    def on_get(self, req, resp):
        render(req, resp, "admin/client_form.html", client={}, new=True, error=None)


class ClientItem:
    def __init__(self, db: Database):
        self._db = db

    def _show(self, req, resp, app_id, status=falcon.HTTP_200, error=None):
        client = ps.client(self._db, app_id)
        render(req, resp, "admin/client.html", status=status, client=client, error=error,
               assignments=ps.client_assignments(self._db, client["id"]),
               stats=ps.client_stats(self._db, client["id"]),
               recent=reports.client_recent(self._db, client["id"]), services=ps.services(self._db),
               portal_users=merchant_accounts.users(self._db, client["id"]), merchant_roles=merchant_roles.ROLES,
               secrets=client_keys.generations(self._db, client["id"]), overlap_choices=client_keys.OVERLAP_CHOICES)

    def on_get(self, req, resp, app_id):
        self._show(req, resp, app_id)

    def on_post(self, req, resp, app_id):
        data = form(req)
        try:
            ps.update_client(self._db, actor(req), app_id, data)
        except errors.InvalidField as exc:
            return render(req, resp, "admin/client_form.html", status=falcon.HTTP_422,
                          client={**data, "app_id": app_id}, new=False, error=exc)
        see_other(resp, f"/admin/clients/{app_id}")


class ClientEdit:
    def __init__(self, db: Database):
        self._db = db

    def on_get(self, req, resp, app_id):
        render(req, resp, "admin/client_form.html", client=ps.client(self._db, app_id), new=False, error=None)


class ClientActive:
    def __init__(self, db: Database):
        self._db = db

    def on_post(self, req, resp, app_id):
        ps.set_client_active(self._db, actor(req), app_id, form(req).get("active") == "1")
        see_other(resp, f"/admin/clients/{app_id}")


class ClientRotate:
    def __init__(self, db: Database, config):
        self._db = db
        self._key = config.secret_key

    def on_post(self, req, resp, app_id):
        overlap = client_keys.overlap_seconds(form(req).get("overlap_s") or "0")  # none chosen: stops at once
        creds = ps.rotate_credentials(self._db, actor(req), self._key, app_id, overlap)
        render(req, resp, "admin/credentials.html", creds=creds, new=False)


class ClientServices(ClientItem):
    """POST service + routes: assigns and creates the functions of each route."""

    def on_post(self, req, resp, app_id):
        data = form(req)
        try:
            ps.assign_service(self._db, actor(req), app_id, data.get("service") or "", data.get("routes") or "")
        except (errors.InvalidField, errors.NotFound) as exc:
            if exc.code == "client_not_found":
                raise
            return self._show(req, resp, app_id, status=falcon.HTTP_422, error=exc)
        see_other(resp, f"/admin/clients/{app_id}")


class ClientServiceDelete:
    def __init__(self, db: Database):
        self._db = db

    def on_post(self, req, resp, app_id, service):
        ps.unassign_service(self._db, actor(req), app_id, service)
        see_other(resp, f"/admin/clients/{app_id}")


class ClientRouteDelete:
    def __init__(self, db: Database):
        self._db = db

    def on_post(self, req, resp, app_id, service, route):
        ps.unassign_route(self._db, actor(req), app_id, service, route)
        see_other(resp, f"/admin/clients/{app_id}")
