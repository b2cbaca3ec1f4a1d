"""Admin API for the client roster: every client as CSV, and new clients imported from a CSV (validated
first, all or nothing; the new credentials are in this answer only)."""

from __future__ import annotations

import falcon

from .. import client_roster, errors
from .admin import AdminResource, actor_of
from .batches import send_csv, wants_csv

CSV_TYPES = ("text/csv", "application/csv", "text/plain")


class ClientsCsv(AdminResource):
    """GET /api/v1/admin/clients.csv: every client (no secret, no hash). POST (text/csv): import new
    clients; 201 with each new client's credentials (JSON, or CSV with Accept: text/csv), 422 with every
    problem and nothing created."""

    def on_get(self, req, resp):
        self._reader(req)
        send_csv(resp, "clients.csv", client_roster.export_csv(self._db))

    def on_post(self, req, resp):
        user = self._writer(req)
        media = (req.content_type or "").split(";")[0].strip().lower()
        if media not in CSV_TYPES:
            raise errors.UnsupportedMediaType("send the clients as text/csv")
        limit = client_roster.MAX_IMPORT_BYTES
        if req.content_length is not None and req.content_length > limit:
            raise errors.PayloadTooLarge(f"the file is larger than {limit} bytes")
        raw = req.bounded_stream.read(limit + 1)
        try:
            created = client_roster.import_csv(self._db, actor_of(req, user), self._config.secret_key, raw)
        except errors.InvalidField as exc:
            if not hasattr(exc, "problems"):
                raise
            resp.status = falcon.HTTP_422
            resp.media = {**exc.to_dict(), "errors": exc.problems}
            return
        resp.status = falcon.HTTP_201
        resp.cache_control = ["no-store"]
        if wants_csv(req):
            send_csv(resp, "new-clients-credentials.csv", iter([client_roster.credentials_csv(created).encode()]))
        else:
            resp.media = {"created": created}
