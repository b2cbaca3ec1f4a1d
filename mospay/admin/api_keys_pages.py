"""Admin API keys in the portal (super_admin only): list, create (the key shown on that response only),
revoke. The same domain functions as the admin API (mospay/api_keys.py)."""

from __future__ import annotations

import re

import falcon

from .. import api_keys, errors
from ..db import Database
from .web import SUPER, actor, form, render, see_other

ROLES = ("viewer", "admin", "super_admin")


class ApiKeys:
    read_roles, write_roles = SUPER, SUPER

    def __init__(self, db: Database, config):
        self._db = db
        self._key = config.secret_key

    def on_get(self, req, resp, status=falcon.HTTP_200, error=None, draft=None, created=None):
        try:
            rows, following = api_keys.page(self._db, req.get_param("after") if created is None else None, 50)
        except errors.InvalidField:  # a bad cursor: the first page
            rows, following = api_keys.page(self._db, None, 50)
        render(req, resp, "admin/api_keys.html", status=status, rows=rows, following=following, error=error,
               draft=draft or {}, created=created, roles=ROLES)

    def on_post(self, req, resp):
        data = form(req)
        draft = {"name": data.get("name") or "", "role": data.get("role") or "", "expires": data.get("expires") or ""}
        values = {"name": draft["name"].strip(), "role": draft["role"]}
        if draft["expires"]:  # a date input: the key stops working at the start of that day, UTC
            values["expires_at"] = (f"{draft['expires']}T00:00:00Z"
                                    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", draft["expires"]) else draft["expires"])
        try:
            created = api_keys.create(self._db, actor(req), self._key, values)
        except (errors.InvalidField, errors.Conflict) as exc:
            return self.on_get(req, resp, status=falcon.HTTP_422, error=exc, draft=draft)
        # Shown in this response only: never stored in clear, never in a cookie or flash message.
        self.on_get(req, resp, status=falcon.HTTP_201, created=created)


class ApiKeyRevoke:
    read_roles, write_roles = SUPER, SUPER

    def __init__(self, db: Database):
        self._db = db

    def on_post(self, req, resp, key_id):
        api_keys.revoke(self._db, actor(req), key_id)
        see_other(resp, "/admin/api-keys")
