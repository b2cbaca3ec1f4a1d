"""Admin users (super_admin manages; others read) and the audit trail."""

from __future__ import annotations

import datetime as dt
import re

import falcon

from .. import errors
from . import actions as ps
from ..db import Database
from .web import ALL_ROLES, SUPER, actor, form, render, see_other


class Users:
    read_roles, write_roles = ALL_ROLES, SUPER

    def __init__(self, db: Database):
        self._db = db

    def on_get(self, req, resp, status=falcon.HTTP_200, error=None, draft=None):
        render(req, resp, "admin/users.html", status=status, rows=ps.users(self._db), error=error,
               draft=draft or {}, roles=("viewer", "admin", "super_admin"))

    def on_post(self, req, resp):
        data = form(req)
        try:
            ps.create_user(self._db, actor(req), data)
        except (errors.InvalidField, errors.Conflict) as exc:
            return self.on_get(req, resp, status=falcon.HTTP_422, error=exc,
                               draft={"username": data.get("username", ""), "role": data.get("role", "")})
        see_other(resp, "/admin/users")


class UserActive:
    read_roles, write_roles = ALL_ROLES, SUPER

    def __init__(self, db: Database):
        self._db = db

    def on_post(self, req, resp, user_id):
        ps.set_user_active(self._db, actor(req), user_id, form(req).get("active") == "1")
        see_other(resp, "/admin/users")


class UserPassword(Users):
    def on_post(self, req, resp, user_id):
        try:
            ps.reset_password(self._db, actor(req), user_id, form(req).get("password"))
        except errors.InvalidField as exc:
            return self.on_get(req, resp, status=falcon.HTTP_422, error=exc)
        see_other(resp, "/admin/users")


_CURSOR = re.compile(r"(\d{4}-\d{2}-\d{2}T[0-9:.]+[+-]\d{2}:\d{2})_(\d{1,18})")


def _cursor(value: str | None) -> tuple:
    """A malformed cursor means "from the newest", never an error page."""
    match = _CURSOR.fullmatch(value or "")
    try:
        return (dt.datetime.fromisoformat(match.group(1)), int(match.group(2))) if match else (None, None)
    except ValueError:
        return None, None


class Audit:
    def __init__(self, db: Database):
        self._db = db

    def on_get(self, req, resp):
        q = (req.get_param("q") or "").strip()[:100] or None
        before_at, before_id = _cursor(req.get_param("after"))
        rows = ps.audit_page(self._db, q, before_at, before_id, 51)
        after = f"{rows[49]['created_at'].isoformat()}_{rows[49]['id']}" if len(rows) > 50 else None
        render(req, resp, "admin/audit.html", partial="admin/_audit_table.html", rows=rows[:50], q=q or "",
               next_url="/admin/audit?" + falcon.to_query_str({"q": q or "", "after": after})[1:] if after else None)
