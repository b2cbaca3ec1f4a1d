"""The client roster in the portal: every client as CSV, and the import form (a CSV of new clients,
validated first, all or nothing) whose answer shows each new client's credentials once, with a download."""

from __future__ import annotations

import base64

import falcon

from .. import client_roster, errors
from ..api.admin_statements import form_file
from .web import EDITORS, actor, render


class ClientsCsv:
    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        resp.content_type = "text/csv; charset=utf-8"
        resp.downloadable_as = "clients.csv"
        resp.stream = client_roster.export_csv(self._db)


class ClientImport:
    """GET: the form. POST (multipart, `file`): 201 and the credentials page, or 422 and every problem."""

    write_roles = EDITORS

    def __init__(self, db, config):
        self._db = db
        self._key = config.secret_key

    def on_get(self, req, resp):
        render(req, resp, "admin/client_import.html", error=None, problems=[], created=None)

    def on_post(self, req, resp):
        try:
            if not (req.content_type or "").startswith("multipart/form-data"):
                raise errors.UnsupportedMediaType("upload the file with the form")
            stream, _name = form_file(req, None)
            raw = stream.read(client_roster.MAX_IMPORT_BYTES + 1)
            while stream.read(64 * 1024):  # the rest of the form (refused above the limit)
                pass
            created = client_roster.import_csv(self._db, actor(req), self._key, raw)
        except (errors.BadRequest, errors.InvalidField, errors.Conflict, errors.PayloadTooLarge,
                errors.UnsupportedMediaType) as exc:
            return render(req, resp, "admin/client_import.html", status=falcon.code_to_http_status(exc.status),
                          error=exc, problems=getattr(exc, "problems", []), created=None)
        download = base64.b64encode(client_roster.credentials_csv(created).encode()).decode()
        resp.cache_control = ["no-store"]
        render(req, resp, "admin/client_import.html", status=falcon.HTTP_201, error=None, problems=[],
               created=created, download=download)
