"""Admin API keys for automation: a super_admin creates (the key shown once), lists and revokes them.
The keys themselves are checked by admin_user() (mospay/api/admin.py) on every admin endpoint."""

from __future__ import annotations

import falcon

from .. import api_keys
from .admin import _AdminResource, actor_of, admin_user, page_after, page_limit

SUPER = ("super_admin",)


class ApiKeys(_AdminResource):
    """GET / POST /api/v1/admin/api-keys."""

    def on_get(self, req, resp):
        admin_user(req, self._db, self._tokens, roles=SUPER)
        items, following = api_keys.page(self._db, page_after(req), page_limit(req))
        resp.media = {"items": items, "next": following}

    def on_post(self, req, resp):
        user = admin_user(req, self._db, self._tokens, roles=SUPER)
        resp.media = api_keys.create(self._db, actor_of(req, user), self._config.secret_key, self._body(req))
        resp.status = falcon.HTTP_201
        resp.cache_control = ["no-store"]


class ApiKey(_AdminResource):
    """DELETE /api/v1/admin/api-keys/{key_id}: revoked at once (the next request with it is a 401)."""

    def on_delete(self, req, resp, key_id):
        user = admin_user(req, self._db, self._tokens, roles=SUPER)
        api_keys.revoke(self._db, actor_of(req, user), key_id)
        resp.status = falcon.HTTP_204
