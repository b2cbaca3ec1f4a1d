"""OpenAPI operations of the admin API's services, fields, clients and functions (api/admin_catalogue.py,
admin_clients.py, admin_functions.py); merged into the document by openapi._paths()."""

from __future__ import annotations

from .openapi import _BODY, _ANY, ADMIN_AUTH, _errors, _json, _op, _ref

_STR = {"type": "string"}
_NULLABLE = {"type": ["string", "null"]}
_STAMP = {"type": ["string", "null"], "description": "ISO 8601"}
FIELD_TYPES = ["string", "amount", "msisdn", "integer"]

SERVICE = {"type": "object", "required": ["name", "service_url", "currency", "timeout_s", "active"], "properties": {
    "name": _STR, "display_name": _STR, "service_url": _STR, "currency": _STR, "timeout_s": {"type": "number"},
    "connect_timeout_s": {"type": "number"}, "active": {"type": "boolean"}, "created_at": _STAMP,
    "refund_window_days": {"type": "integer", "description": "days after a payment in which it may be refunded"},
    "clients": {"type": "integer", "description": "in lists: how many clients it is assigned to"}}}
FIELD = {"type": "object", "required": ["code", "label", "field_type", "required", "secret"], "properties": {
    "code": _STR, "label": _STR, "field_type": {"enum": FIELD_TYPES}, "required": {"type": "boolean"},
    "max_length": {"type": ["integer", "null"]}, "pattern": _NULLABLE, "secret": {"type": "boolean"}}}
CLIENT = {"type": "object", "required": ["app_id", "company_name", "active"], "properties": {
    "app_id": _STR, "company_name": _STR, "contact_email": _NULLABLE, "callback_url": _NULLABLE,
    "api_username": _STR, "active": {"type": "boolean"}, "created_at": _STAMP, "updated_at": _STAMP},
    "description": "never a secret or its hash"}
ASSIGNMENT = {"type": "object", "properties": {
    "service": _STR, "display_name": _STR, "routes": {"type": "array", "items": _STR}, "active": {"type": "boolean"},
    "created_at": _STAMP, "functions": {"type": "array", "items": _STR, "description": "request function names"}}}
LIMITS = {"type": "object", "properties": {
    "app_id": _STR, "rate_limit_per_minute": {"type": ["integer", "null"]},
    "max_amount_per_transaction": _NULLABLE, "max_amount_per_day": _NULLABLE}}
WEBHOOK_SECRET = {"type": "object", "required": ["app_id", "webhook_secret"], "properties": {
    "app_id": _STR, "webhook_secret": {"type": "string", "description": "shown this once"},
    "previous_valid_until": {"type": "string", "description": "the old secret signs too until then"}}}
FUNCTION = {"type": "object", "properties": {
    "app_id": _STR, "company_name": _STR, "service": _STR, "route": _STR, "request": _STR, "response": _STR}}
FUNCTION_SOURCE = {"type": "object", "properties": {
    **FUNCTION["properties"], "name": _STR, "kind": {"enum": ["request", "response"]}, "source": _NULLABLE}}
VERSION = {"type": "object", "required": ["id", "created_by", "created_at"], "properties": {
    "id": {"type": "integer"}, "created_by": _STR, "created_at": _STAMP, "size": {"type": "integer"},
    "source": _STR}}
SAVED = {"type": "object", "properties": {
    "name": _STR, "previous_version": {"type": "integer", "description": "the id the replaced source was kept as"},
    "restored": {"type": "integer"}, "source": _NULLABLE}}
DRY_RUN = {"type": "object", "required": ["ok"], "properties": {
    "ok": {"type": "boolean"}, "result": {"description": "what the function returned (rolled back)"}}}

_LIMIT = {"name": "limit", "in": "query", "required": False,
          "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}}
_AFTER = {"name": "after", "in": "query", "required": False, "schema": _STR,
          "description": "the `next` of the previous page"}


def _path(*names: str) -> list[dict]:
    return [{"name": n, "in": "path", "required": True, "schema": _STR} for n in names]


def _page(items: dict) -> dict:
    return {"type": "object", "required": ["items", "next"],
            "properties": {"items": {"type": "array", "items": items}, "next": _NULLABLE}}


def _body(props: dict, required=()) -> dict:
    body = {"type": "object", "additionalProperties": False, "properties": props}
    if required:
        body["required"] = list(required)
    return body


def _with(op_id: str, op: dict, params: list[dict]) -> dict:
    op["operationId"] = op_id
    if params:
        op["parameters"] = params
    return op


def _read(op_id: str, summary: str, answer: dict, params=(), *, page=False) -> dict:
    responses = {"200": _json(answer, "found"), **_errors(401, 403, 404, 422, *_ANY)}
    return _with(op_id, _op(summary, "admin", security=ADMIN_AUTH, responses=responses),
                 [*params, *((_LIMIT, _AFTER) if page else ())])


def _write(op_id: str, summary: str, params, *, body=None, answer=None, status="200", extra=(),
           description=None, optional_body=False) -> dict:
    ok = _json(answer, "done") if answer is not None else {"description": "done"}
    responses = {status: ok, **_errors(*(_BODY if body is not None else (422,)), 401, 403, 404, *extra, *_ANY)}
    op = _op(summary, "admin", security=ADMIN_AUTH, request=body, responses=responses, description=description)
    if optional_body:
        op["requestBody"]["required"] = False
    return _with(op_id, op, list(params))


def paths() -> dict:
    svc, cli, fn = _path("service"), _path("app_id"), _path("name")
    field_props = {"label": _STR, "field_type": {"enum": FIELD_TYPES}, "required": {"type": "boolean"},
                   "max_length": {"type": ["integer", "null"], "minimum": 1, "maximum": 4096},
                   "pattern": {"type": ["string", "null"], "description": "a safe regular expression (fullmatch)"},
                   "secret": {"type": "boolean"}}
    seconds = {"type": ["number", "string", "null"], "description": "seconds; null keeps the current value"}
    return {
        "/api/v1/admin/services": {"get": _read("listServices", "List services, newest first", _page(SERVICE),
                                                page=True)},
        "/api/v1/admin/services/{service}": {
            "get": _read("getService", "A service", SERVICE, svc),
            "patch": _write("updateService", "Change a service (what the portal's form edits)", svc,
                            body=_body({"display_name": _STR, "service_url": _STR, "timeout_s": seconds,
                                        "active": {"type": "boolean"},
                                        "refund_window_days": {"type": "integer", "minimum": 0, "maximum": 3650,
                                                               "description": "0: no refunds (default 180)"}}),
                            answer=SERVICE,
                            description="Only the fields sent change; last writer wins. Currency and the "
                                        "connect timeout are set at creation only.")},
        "/api/v1/admin/services/{service}/fields": {
            "get": _read("listServiceFields", "A service's field definitions", _page(FIELD), svc),
            "post": _write("createServiceField", "Add a field definition (f011-f999)", svc, status="201",
                           body=_body({"code": _STR, **field_props}, ["code", "label"]), answer=FIELD,
                           extra=(409,))},
        "/api/v1/admin/services/{service}/fields/{code}": {
            "get": _read("getServiceField", "A field definition", FIELD, _path("service", "code")),
            "patch": _write("updateServiceField", "Change a field definition", _path("service", "code"),
                            body=_body(field_props), answer=FIELD),
            "delete": _write("deleteServiceField", "Remove a field definition (f000-f010 cannot be removed: 422)",
                             _path("service", "code"), status="204")},
        "/api/v1/admin/clients": {"get": _read(
            "listClients", "List clients, newest first; ?q= searches app_id, company and email", _page(CLIENT),
            [{"name": "q", "in": "query", "required": False, "schema": _STR}], page=True)},
        "/api/v1/admin/clients/{app_id}": {
            "get": _read("getClient", "A client (never its secrets)", CLIENT, cli),
            "patch": _write("updateClient", "Change a client's company name, contact email or callback URL", cli,
                            body=_body({"company_name": _STR, "contact_email": _NULLABLE,
                                        "callback_url": _NULLABLE}), answer=CLIENT,
                            description="Only the fields sent change (null clears the optional ones); last "
                                        "writer wins. Use deactivate / reactivate for `active`.")},
        "/api/v1/admin/clients/{app_id}/deactivate": {"post": _write(
            "deactivateClient", "Deactivate a client: its credentials and tokens are refused at once", cli,
            answer=CLIENT)},
        "/api/v1/admin/clients/{app_id}/reactivate": {"post": _write(
            "reactivateClient", "Reactivate a client", cli, answer=CLIENT)},
        "/api/v1/admin/clients/{app_id}/rotate-secret": {"post": _write(
            "rotateClientSecret", "A new API secret, shown this once; by default the old one and its tokens "
            "stop at once", cli, optional_body=True,
            body=_body({"overlap_s": {"type": "integer", "minimum": 0, "maximum": 604800,
                                      "description": "how long the old secret and its tokens keep working "
                                                     "(default 0)"}}),
            answer=_ref("RotatedCredentials"))},
        "/api/v1/admin/clients/{app_id}/secrets": {"get": _read(
            "listClientSecretGenerations", "A client's API secret generations with their state and last use "
            "(when and from which address; at most a minute stale)", _page(_ref("SecretGeneration")), cli)},
        "/api/v1/admin/clients/{app_id}/rotate-webhook-secret": {"post": _write(
            "rotateClientWebhookSecret", "A new webhook secret, shown this once", cli, optional_body=True,
            body=_body({"overlap_s": {"type": "integer", "minimum": 0, "maximum": 604800,
                                      "description": "how long the old secret signs too (default 86400)"}}),
            answer=WEBHOOK_SECRET)},
        "/api/v1/admin/clients/{app_id}/services": {"get": _read(
            "listClientServices", "A client's assigned services and routes", _page(ASSIGNMENT), cli)},
        "/api/v1/admin/clients/{app_id}/services/{service}": {"delete": _write(
            "unassignClientService", "Unassign a service (drops the functions of all its routes)",
            _path("app_id", "service"), status="204")},
        "/api/v1/admin/clients/{app_id}/services/{service}/routes/{route}": {"delete": _write(
            "unassignClientRoute", "Unassign one route (drops its functions; the last one takes the assignment)",
            _path("app_id", "service", "route"), status="204")},
        "/api/v1/admin/clients/{app_id}/limits": {"get": _read(
            "getClientLimits", "A client's limits (null: the default rate / no amount limit)", LIMITS, cli)},
        "/api/v1/admin/functions": {"get": _read(
            "listFunctions", "The per-client functions: one entry per client, service and route (any role)",
            _page(FUNCTION), page=True)},
        "/api/v1/admin/functions/{name}": {
            "get": _read("getFunction", "A function's stored source (admin, super_admin)", FUNCTION_SOURCE, fn),
            "put": _write("saveFunction", "Save a function's source (super_admin): the editor's checks, the old "
                          "source kept as a version", fn, body=_body({"source": _STR}, ["source"]), answer=SAVED)},
        "/api/v1/admin/functions/{name}/dry-run": {"post": _write(
            "dryRunFunction", "Run a source (or the stored one) on sample arguments and roll back (super_admin)",
            fn, answer=DRY_RUN,
            body=_body({"source": _NULLABLE, "data_input": {"type": ["object", "string", "null"]},
                        "code": {"type": ["integer", "string", "null"]},
                        "data_output": {"type": ["object", "string", "null"]}, "unique_id": _STR}),
            description="A source PostgreSQL refuses, or one that fails on these arguments, answers 422 with "
                        "PostgreSQL's message, as a save would. Every run is audited.")},
        "/api/v1/admin/functions/{name}/versions": {"get": _read(
            "listFunctionVersions", "A function's 50 newest earlier versions (admin, super_admin)", _page(VERSION),
            fn)},
        "/api/v1/admin/functions/{name}/versions/{version}": {"get": _read(
            "getFunctionVersion", "One earlier version with its source (admin, super_admin)", VERSION,
            _path("name", "version"))},
        "/api/v1/admin/functions/{name}/versions/{version}/restore": {"post": _write(
            "restoreFunctionVersion", "Save an earlier version again (super_admin)", _path("name", "version"),
            answer=SAVED)},
    }
