"""Services: list, create, edit, and the field-definition editor."""

from __future__ import annotations

import falcon

from .. import errors
from .. import actions as ps
from ..db import Database
from .web import actor, form, render, see_other


class Services:
    def __init__(self, db: Database, config=None):
        self._db = db
        self._url_allow = config.service_url_allow if config is not None else ()

    def on_get(self, req, resp):
        render(req, resp, "admin/services.html", rows=ps.services(self._db))

    def on_post(self, req, resp):
        data = form(req)
        try:
            created = ps.create_service(self._db, actor(req), data, self._url_allow)
        except (errors.InvalidField, errors.Conflict) as exc:
            return render(req, resp, "admin/service_form.html", status=falcon.HTTP_422, service=data, error=exc)
        see_other(resp, f"/admin/services/{created['name']}")


class ServiceNew:
    def on_get(self, req, resp):
        render(req, resp, "admin/service_form.html", service={"timeout_s": "30"}, error=None)


class ServiceItem:
    def __init__(self, db: Database, config=None):
        self._db = db
        self._url_allow = config.service_url_allow if config is not None else ()

    def _show(self, req, resp, name, *, status=falcon.HTTP_200, error=None, field=None, edited=None):
        service = ps.service(self._db, name)
        render(req, resp, "admin/service.html", partial="admin/_fields.html", status=status,
               service={**service, **(edited or {})}, fields=ps.service_fields(self._db, name),
               error=error, field=field or {}, types=ps.FIELD_TYPES)

    def on_get(self, req, resp, name):
        code = req.get_param("edit")  # "Edit" fills the field form with that field's definition
        field = next((f for f in ps.service_fields(self._db, name) if f["code"] == code), None) if code else None
        self._show(req, resp, name, field=field)

    def on_post(self, req, resp, name):
        data = form(req)
        try:
            ps.update_service(self._db, actor(req), name, data, self._url_allow)
        except errors.InvalidField as exc:
            return self._show(req, resp, name, status=falcon.HTTP_422, error=exc, edited=data)
        see_other(resp, f"/admin/services/{name}")


class ServiceFields(ServiceItem):
    """POST one field definition (add or replace by code); an HTMX post gets the field table back."""

    def on_post(self, req, resp, name):
        data = form(req)
        try:
            ps.save_field(self._db, actor(req), name, data)
        except errors.InvalidField as exc:
            return self._show(req, resp, name, status=falcon.HTTP_422, error=exc, field=data)
        see_other(resp, f"/admin/services/{name}")


class ServiceFieldDelete:
    def __init__(self, db: Database):
        self._db = db

    def on_post(self, req, resp, name, code):
        ps.service(self._db, name)
        ps.delete_field(self._db, actor(req), name, code)
        see_other(resp, f"/admin/services/{name}")
