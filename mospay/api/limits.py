"""PUT /api/v1/admin/clients/{app_id}/limits: a client's rate limit and amount limits."""

from __future__ import annotations

from .. import security
from .admin import admin_user
from .common import read_json


class ClientLimits:
    def __init__(self, db, tokens, config):
        self._db = db
        self._tokens = tokens
        self._config = config

    def on_put(self, req, resp, app_id):
        admin_user(req, self._db, self._tokens)
        resp.media = security.set_client_limits(self._db, app_id, read_json(req, self._config.max_body_bytes))
