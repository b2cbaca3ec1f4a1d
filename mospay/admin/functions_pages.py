"""Per-client functions: list, view source, dry-run, save, version history, restore (super_admin edits)."""

from __future__ import annotations

import falcon

from .. import errors
from .. import function_editor as fe
from ..db import Database
from .web import EDITORS, SUPER, actor, form, is_fragment, render, see_other


class Functions:
    def __init__(self, db: Database):
        self._db = db

    def on_get(self, req, resp):
        render(req, resp, "admin/functions.html", rows=fe.catalogue(self._db))


class FunctionItem:
    """GET the stored source (super_admin, admin: a source may hold a provider's key, so not viewer);
    POST (super_admin) saves a new definition, keeping the old one."""
    read_roles, write_roles = EDITORS, SUPER

    def __init__(self, db: Database):
        self._db = db

    def show(self, req, resp, name, *, status=falcon.HTTP_200, source=None, error=None, run=None, args=None):
        row = fe.check_known(self._db, name)
        stored = fe.definition(self._db, name)
        render(req, resp, "admin/function.html", status=status, name=name, row=row, stored=stored,
               source=stored if source is None else source, error=error, run=run,
               args=args or fe.sample_arguments(name, row["app_id"], row["service"], row["route"]),
               response=fe.is_response(name), versions=fe.versions(self._db, name))

    def on_get(self, req, resp, name):
        self.show(req, resp, name)

    def on_post(self, req, resp, name):
        fe.check_known(self._db, name)
        data = form(req)
        try:
            fe.save(self._db, actor(req), name, data.get("source"))
        except errors.InvalidField as exc:  # the editor again with the text kept and PostgreSQL's message
            return self.show(req, resp, name, status=falcon.HTTP_422, source=data.get("source") or "",
                             error=fe.describe(exc), args=data)
        see_other(resp, f"/admin/functions/{name}?saved=1")


class FunctionDryRun(FunctionItem):
    """Runs the edited source on the sample arguments and rolls back; HTMX gets only the result panel.
    An error is shown in that panel with the words a save would show, answered 200 because htmx swaps
    only successful responses into the page."""

    def on_post(self, req, resp, name):
        row = fe.check_known(self._db, name)
        data = form(req)
        args = {**fe.sample_arguments(name, row["app_id"], row["service"], row["route"]), **data}
        try:
            run = fe.dry_run(self._db, name, args, data.get("source") or None, actor=actor(req))
        except errors.InvalidField as exc:
            run = {"ok": False, "error": fe.describe(exc)}
        if is_fragment(req):
            return render(req, resp, "admin/_dry_run.html", run=run)
        self.show(req, resp, name, source=data.get("source"), run=run, args=args)


class FunctionVersion:
    read_roles = EDITORS  # a past source, readable by whoever may read the current one

    def __init__(self, db: Database):
        self._db = db

    def on_get(self, req, resp, name, version_id):
        fe.check_known(self._db, name)
        render(req, resp, "admin/function_version.html", name=name, v=fe.version(self._db, name, version_id))


class FunctionRestore:
    read_roles, write_roles = EDITORS, SUPER

    def __init__(self, db: Database):
        self._db = db

    def on_post(self, req, resp, name, version_id):
        fe.check_known(self._db, name)
        fe.restore(self._db, actor(req), name, version_id)
        see_other(resp, f"/admin/functions/{name}?restored=1")
