"""Admin API for services and their field definitions: list, read, edit, add and remove fields. Every
change goes through the portal's own operator actions (mospay/actions.py), which validate and audit it.
Also the small request helpers the other admin resources share: strict PATCH bodies and JSON types."""

from __future__ import annotations

import falcon

from .. import actions, errors
from .admin import AdminResource, Roles, Services, page_after, page_limit
from .common import strict_body

FIELD_KEYS = ("code", "label", "field_type", "required", "max_length", "pattern", "secret")


def check_types(data: dict, kinds: dict) -> None:
    """JSON types the portal's form parsing would otherwise coerce ("yes" is not a boolean here)."""
    for key, kind in kinds.items():
        if key in data and not (isinstance(data[key], kind) and not (kind is int and isinstance(data[key], bool))):
            raise errors.InvalidField("has the wrong type", field=key, code="invalid_type")


def service_view(row: dict) -> dict:
    view = {"name": row["name"], "display_name": row["display_name"], "service_url": row["service_url"],
            "currency": row["currency"], "timeout_s": float(row["timeout_s"]),
            "connect_timeout_s": float(row["connect_timeout_s"]), "active": row["active"],
            "created_at": row["created_at"].isoformat(), "refund_window_days": row["refund_window_days"]}
    if "clients" in row:
        view["clients"] = row["clients"]
    return view


def field_view(row: dict) -> dict:
    return {k: row[k] for k in FIELD_KEYS}


class ServiceCollection(Services, Roles):
    """GET /api/v1/admin/services: keyset pages, newest first (POST, creating one, is admin.Services)."""

    def on_get(self, req, resp):
        self._reader(req)
        rows, after = actions.services_page(self._db, page_after(req), page_limit(req))
        resp.media = {"items": [service_view(r) for r in rows], "next": after}


class ServiceItem(AdminResource):
    """GET or PATCH one service: what the portal's service form edits (display name, URL, read timeout,
    active). Currency and the connect timeout are set at creation only, as in the portal."""
    EDITABLE = ("display_name", "service_url", "timeout_s", "active", "refund_window_days")

    def on_get(self, req, resp, service):
        self._reader(req)
        resp.media = service_view(actions.service(self._db, service))

    def on_patch(self, req, resp, service):
        user = self._writer(req)
        row = actions.service(self._db, service)
        patch = strict_body(req, self._config, self.EDITABLE)
        check_types(patch, {"active": bool, "display_name": str, "service_url": str, "refund_window_days": int})
        if not patch:  # nothing to change: no write, no audit row
            resp.media = service_view(row)
            return
        current = {"display_name": row["display_name"], "service_url": row["service_url"],
                   "timeout_s": str(row["timeout_s"]), "active": row["active"],
                   "refund_window_days": row["refund_window_days"]}
        actions.update_service(self._db, self._actor(req, user), service, {**current, **patch},
                               self._config.service_url_allow)
        resp.media = service_view(actions.service(self._db, service))


def _field_form(data: dict) -> dict:
    """A JSON field definition in the shape actions.save_field reads (the portal's form values)."""
    check_types(data, {"code": str, "required": bool, "secret": bool})
    if "field_type" in data and data["field_type"] not in actions.FIELD_TYPES:  # the form took "" as "string"
        raise errors.InvalidField(f"must be one of {', '.join(actions.FIELD_TYPES)}", field="field_type")
    max_length = data.get("max_length")
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int)):
        raise errors.InvalidField("must be a whole number from 1 to 4096, or null", field="max_length",
                                  code="invalid_type")
    return {**data, "max_length": "" if max_length is None else str(max_length)}


def _field(db, service: str, code: str) -> dict:
    found = next((f for f in actions.service_fields(db, service) if f["code"] == code), None)
    if found is None:
        raise errors.NotFound("this service has no such field", code="field_not_found")
    return found


class ServiceFields(AdminResource):
    """GET the field definitions; POST adds one (409 when the code exists: PATCH it instead)."""

    def on_get(self, req, resp, service):
        self._reader(req)
        actions.service(self._db, service)
        resp.media = {"items": [field_view(f) for f in actions.service_fields(self._db, service)], "next": None}

    def on_post(self, req, resp, service):
        user = self._writer(req)
        actions.service(self._db, service)
        data = _field_form(strict_body(req, self._config, FIELD_KEYS))
        if any(f["code"] == data.get("code") for f in actions.service_fields(self._db, service)):
            raise errors.Conflict("this service already has this field: PATCH it", field="code",
                                  code="already_exists")
        actions.save_field(self._db, self._actor(req, user), service, data)
        resp.media = field_view(_field(self._db, service, data["code"]))
        resp.status = falcon.HTTP_201


class ServiceField(AdminResource):
    """GET, PATCH or DELETE one field definition. f000-f010 can be edited but not removed (422)."""

    def on_get(self, req, resp, service, code):
        self._reader(req)
        actions.service(self._db, service)
        resp.media = field_view(_field(self._db, service, code))

    def on_patch(self, req, resp, service, code):
        user = self._writer(req)
        actions.service(self._db, service)
        current = field_view(_field(self._db, service, code))
        patch = strict_body(req, self._config, [k for k in FIELD_KEYS if k != "code"])
        actions.save_field(self._db, self._actor(req, user), service, _field_form({**current, **patch}))
        resp.media = field_view(_field(self._db, service, code))

    def on_delete(self, req, resp, service, code):
        user = self._writer(req)
        actions.service(self._db, service)
        actions.delete_field(self._db, self._actor(req, user), service, code)
        resp.status = falcon.HTTP_204
