"""Admin users (super_admin manages; others read) and the audit trail."""

from __future__ import annotations


import falcon

from .. import errors, validators
from .. import actions as ps
from ..db import Database
from .web import ALL_ROLES, EDITORS, SUPER, actor, form, render, see_other


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


class Audit:
    def __init__(self, db: Database):
        self._db = db

    def on_get(self, req, resp):
        q = (req.get_param("q") or "").strip()[:100] or None
        try:  # a bad cursor shows the list's message, as the other keyset-paged lists do
            before_at, before_id = validators.cursor(req.get_param("after"))
            rows, error = ps.audit_page(self._db, q, before_at, before_id, 51,
                                        show_source=actor(req).role in EDITORS), None
        except errors.InvalidField as exc:
            rows, error = [], f"{exc.field}: {exc.message}"
        after = validators.cursor_text(rows[49]) if len(rows) > 50 else None
        render(req, resp, "admin/audit.html", partial="admin/_audit_table.html", rows=rows[:50], q=q or "",
               error=error,
               next_url="/admin/audit?" + falcon.to_query_str({"q": q or "", "after": after})[1:] if after else None)
