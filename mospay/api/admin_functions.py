"""Admin API for the per-client request/RESPONSE functions: the catalogue (any role), source and versions
(admin, super_admin: a source may hold a provider's key), save, dry run and restore (super_admin only).
Everything goes through the portal editor's own checks and audit (mospay/function_editor.py)."""

from __future__ import annotations

import json
from decimal import Decimal

from .. import errors
from .. import function_editor as fe
from .admin import WRITE_ROLES, admin_user
from .admin import AdminResource as _Resource, page_after, page_limit
from .admin_catalogue import check_types
from .common import strict_body

SOURCE_READERS = WRITE_ROLES  # SECURITY.md: admin reads source and versions, viewer sees names only
DRY_RUN_KEYS = ("source", "data_input", "code", "data_output", "unique_id")


def entry_view(row: dict) -> dict:
    return {"app_id": row["app_id"], "company_name": row["company_name"], "service": row["service"],
            "route": row["route"], "request": row["request"], "response": row["response"]}


def _number(value):
    if isinstance(value, Decimal):  # read_json parses numbers as Decimal: give them back as JSON numbers
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(type(value).__name__)


def _json_text(data: dict, key: str):
    """data_input / data_output: a JSON object (or its text, as the CLI passes it); None for the sample."""
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, dict):
        raise errors.InvalidField("must be a JSON object", field=key, code="invalid_type")
    return json.dumps(value, default=_number)


class _Functions(_Resource):
    def _source_reader(self, req) -> dict:
        return admin_user(req, self._db, self._tokens, roles=SOURCE_READERS)


class FunctionCollection(_Resource):
    """GET /api/v1/admin/functions: one entry per client × service × route with both function names,
    ordered by app_id, service, route; ?after= is the last entry's request function name."""

    def on_get(self, req, resp):
        self._reader(req)
        rows = fe.catalogue(self._db)
        after, limit = page_after(req), page_limit(req)
        if after is not None:
            names = [r["request"] for r in rows]
            if after not in names:
                raise errors.InvalidField("is not a valid page cursor", field="after")
            rows = rows[names.index(after) + 1:]
        page = rows[:limit]
        resp.media = {"items": [entry_view(r) for r in page],
                      "next": page[-1]["request"] if len(rows) > limit else None}


class FunctionItem(_Functions):
    """GET the stored source (admin, super_admin); PUT {"source"} saves it (super_admin), keeping the
    current one as a version, with exactly the portal editor's checks."""

    def on_get(self, req, resp, name):
        self._source_reader(req)
        row = fe.check_known(self._db, name)
        resp.media = {**entry_view(row), "name": name, "kind": "response" if fe.is_response(name) else "request",
                      "source": fe.definition(self._db, name)}

    def on_put(self, req, resp, name):
        user = self._super(req)
        fe.check_known(self._db, name)
        data = strict_body(req, self._config, ("source",))
        version = fe.save(self._db, self._actor(req, user), name, data.get("source"))
        resp.media = {"name": name, "previous_version": version, "source": fe.definition(self._db, name)}


class FunctionDryRun(_Resource):
    """POST {"source"?, "data_input"?, "code"?, "data_output"?, "unique_id"?}: the editor's dry run on the
    sample arguments (the stored source when none is sent), rolled back, audited. A source PostgreSQL
    refuses, or one that fails on these arguments, is a 422 with the words a save would give."""

    def on_post(self, req, resp, name):
        user = self._super(req)
        row = fe.check_known(self._db, name)
        data = strict_body(req, self._config, DRY_RUN_KEYS)
        check_types(data, {"unique_id": str})
        if "code" in data and data["code"] is not None and (isinstance(data["code"], bool)
                                                           or not isinstance(data["code"], (int, str))):
            raise errors.InvalidField("must be an HTTP status", field="code", code="invalid_type")
        given = {"data_input": _json_text(data, "data_input"), "data_output": _json_text(data, "data_output"),
                 "code": data.get("code"), "unique_id": data.get("unique_id")}
        args = {**fe.sample_arguments(name, row["app_id"], row["service"], row["route"]),
                **{k: v for k, v in given.items() if v is not None}}
        source = data.get("source")
        if source is not None and not isinstance(source, str):
            raise errors.InvalidField("must be a string", field="source", code="invalid_type")
        resp.media = fe.dry_run(self._db, name, args, source or None, actor=self._actor(req, user))


def version_view(row: dict) -> dict:
    view = {"id": row["id"], "created_by": row["created_by"], "created_at": row["created_at"].isoformat()}
    if "size" in row:
        view["size"] = row["size"]
    if "source" in row:
        view["source"] = row["source"]
    return view


class FunctionVersions(_Functions):
    """GET the 50 newest earlier versions (admin, super_admin), newest first."""

    def on_get(self, req, resp, name):
        self._source_reader(req)
        fe.check_known(self._db, name)
        resp.media = {"items": [version_view(v) for v in fe.versions(self._db, name)], "next": None}


class FunctionVersion(_Functions):
    """GET one earlier version with its source (admin, super_admin)."""

    def on_get(self, req, resp, name, version):
        self._source_reader(req)
        fe.check_known(self._db, name)
        resp.media = version_view(fe.version(self._db, name, version))


class FunctionRestore(_Resource):
    """POST .../versions/{version}/restore (super_admin): saves that version's source as a new save would
    (the current one becomes a version), audited as function.restore."""

    def on_post(self, req, resp, name, version):
        user = self._super(req)
        fe.check_known(self._db, name)
        previous = fe.restore(self._db, self._actor(req, user), name, version)
        resp.media = {"name": name, "restored": int(version), "previous_version": previous,
                      "source": fe.definition(self._db, name)}
