"""PUT /api/v1/admin/clients/{app_id}/limits: a client's rate limit and amount limits."""

from __future__ import annotations

from .. import functions, security
from .admin import actor_of, admin_user, audit
from .common import read_json


class ClientLimits:
    def __init__(self, db, tokens, config):
        self._db = db
        self._tokens = tokens
        self._config = config

    def on_put(self, req, resp, app_id):
        user = admin_user(req, self._db, self._tokens)
        before = self._db.one("client_limits", app_id=functions.check_app_id(app_id))
        result = security.set_client_limits(self._db, app_id, read_json(req, self._config.max_body_bytes))
        audit(self._db, actor_of(req, user), "client.set_limits", "client", app_id, before,
              {k: v for k, v in result.items() if k != "app_id"})
        resp.media = result
