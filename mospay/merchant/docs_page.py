"""/portal/docs: the client's own integration guide: its App ID, the endpoints at this server's address,
README's curl session with its App ID and first service filled in, and how to verify webhooks."""

from __future__ import annotations

from .session_pages import base_url
from .web import render


class Docs:
    actions = {"GET": "read"}

    def __init__(self, db, config):
        self._db, self._config = db, config

    def on_get(self, req, resp):
        me = req.context.merchant
        services = self._db.query("merchant_client_services", client_id=me.client_id)
        first = services[0] if services else {"service": "mtnmomorwa", "routes": ["collection"]}
        route = (first["routes"] or ["collection"])[0]
        render(req, resp, "merchant/docs.html", client=self._db.one("merchant_client_profile", client_id=me.client_id),
               services=services, base=base_url(req, self._config).rstrip("/"), service=first["service"], route=route)
