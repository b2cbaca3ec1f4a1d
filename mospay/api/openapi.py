"""The OpenAPI 3.1 description of MosPay's HTTP API: the one place it is written (served at
/api/v1/openapi.json, rendered at /docs, and checked against the real routes by a test)."""

from __future__ import annotations

import copy
import functools

from .openapi_samples import PAYMENT_CURL, STATUS_CURL, STATUS_POST_CURL, TOKEN_CURL, WEBHOOK_CHECK
# The companions (openapi_<area>.py) import _ref and _NEW_F010 from here, with the other helpers.
from .openapi_schemas import _F010, _NEW_F010, SCHEMAS, _ref

BASE = "http://127.0.0.1:5000"
_JSON = "application/json"


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _errors(*codes: int) -> dict:
    text = {400: "malformed JSON, duplicate keys, not an object", 401: "bad or missing credentials",
            403: "not allowed (f003 not yours, service or route not assigned, role)", 404: "not found",
            409: "f010 reused with another body, or still in flight", 413: "body too large",
            415: "Content-Type is not application/json", 422: "a field is invalid",
            429: "too many failed authentications from this address (or for these credentials), or over "
                 "the client's payment rate limit: retry after Retry-After seconds",
            502: "the client's PostgreSQL function is missing or failed",
            503: "database unavailable or busy"}
    found = {str(c): _json(_ref("Error"), text[c]) for c in codes}
    if 429 in codes:
        found["429"]["headers"] = {"Retry-After": {"required": True, "description": "seconds to wait",
                                                   "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
    return found


# Every /api/ request passes the failed-authentication throttle (429 once its address is blocked),
# and every request that reads a body or the database may get these.
_ANY = (429, 503)
_BODY = (400, 413, 415, 422)


def _curl(source: str) -> list[dict]:
    # x-codeSamples is the vendor extension Redoc and others read; /docs renders it too.
    return [{"lang": "shell", "label": "curl", "source": source.strip()}]


CLIENT_AUTH = [{"bearer": []}, {"basic": [], "appId": []}]
ADMIN_AUTH = [{"bearer": []}]


def _op(summary: str, tag: str, *, security=None, request=None, responses=None, curl=None,
        description=None, parameters=None, operation_id=None) -> dict:
    """operation_id: the stable name generated clients call (camelCase verb + noun); it is part of the
    API, so it stays when a path changes. Or set op["operationId"] on the dict returned."""
    op = {"summary": summary, "tags": [tag], "responses": responses or {}}
    if operation_id:
        op["operationId"] = operation_id
    if description:
        op["description"] = description
    op["security"] = security if security is not None else []
    if parameters:
        op["parameters"] = parameters
    if request:
        op["requestBody"] = {"required": True, "content": {_JSON: {"schema": request}}}
    if curl:
        op["x-codeSamples"] = _curl(curl)
    return op


class _Paths(dict):
    """The paths object. update() merges a path item method by method: a module documenting GET on a
    path that already has a POST adds to it instead of replacing it; the same operation twice is a bug."""

    def update(self, other=(), **more):
        for path, item in dict(other, **more).items():
            mine = self.setdefault(path, {})
            twice = sorted(set(mine) & set(item) & _METHODS)
            if twice:
                raise ValueError(f"{path}: {', '.join(twice)} described twice")
            mine.update(item)


_METHODS = {"get", "post", "put", "patch", "delete"}


def _admin_post(summary: str, request_props: dict, required: list[str], created: dict, extra=(), **kw) -> dict:
    body = {"type": "object", "required": required, "properties": request_props}
    return {"post": _op(summary, "admin", security=ADMIN_AUTH, request=body,
                        responses={"201": _json(created, "created"),
                                   **_errors(*_BODY, 401, 403, 409, *extra, *_ANY)},
                        **kw)}


def _paths() -> dict:
    pay_responses = {
        "200": _json(_ref("PaymentResult"), "SUCCESSFUL"),
        "202": _json(_ref("PaymentResult"), "PENDING or UNKNOWN (the outcome will be settled later)"),
        "402": _json(_ref("PaymentResult"), "FAILED"),
        **_errors(*_BODY, 401, 403, 404, 409, 502, *_ANY),
    }
    status_responses = {"200": _json(_ref("Transaction"), "the client's own transaction"),
                        **_errors(401, 404, 422, *_ANY)}
    name = {"type": "string"}
    # Optional admin fields: null or "" means "not given" (the default applies).
    optional = {"type": ["string", "null"]}
    seconds = {"type": ["number", "string", "null"], "description": "seconds; a decimal string is accepted too"}
    credential_path = [{"name": "service", "in": "path", "required": True, "schema": name},
                       {"name": "name", "in": "path", "required": True, "schema": name}]
    paths = _Paths({
        "/api/v1/auth/token": {"post": _op(
            "Get a bearer token", "client", security=[{"basic": [], "appId": []}], curl=TOKEN_CURL,
            operation_id="getToken",
            responses={"200": _json(_ref("Token"), "a token valid expires_in seconds"), **_errors(401, *_ANY)})},
        "/api/v1/payment/process": {"post": _op(
            "Process one payment", "client", security=CLIENT_AUTH, request=_ref("PaymentRequest"),
            curl=PAYMENT_CURL, responses=pay_responses, operation_id="processPayment",
            description="Idempotent on f010: the same f010 with the same non-secret fields returns the "
                        "stored answer; with different fields 409 idempotency_conflict. A payment that was "
                        "recorded always answers with its transaction_id (202 UNKNOWN when its outcome could "
                        "not be recorded, or when the first request for the f010 is gone); a 503 means "
                        "nothing was sent to the provider for this request: retry with the same f010.")},
        "/api/v1/payment/{f010}": {"get": _op(
            "A transaction by f010", "client", security=CLIENT_AUTH, curl=STATUS_CURL, operation_id="getPayment",
            description="An f010 made only of dots (refused for new payments) cannot be sent in a URL path: "
                        "HTTP clients remove . and .. segments. Read one by POST /api/v1/payment/status.",
            parameters=[{"name": "f010", "in": "path", "required": True,
                         "schema": {"type": "string", **_NEW_F010}}],
            responses=status_responses)},
        "/api/v1/payment/status": {"post": _op(
            "A transaction by f010 (the original API)", "client", security=CLIENT_AUTH, curl=STATUS_POST_CURL,
            operation_id="getPaymentStatus",
            request={"type": "object", "required": ["f010"], "properties": {"f010": {"type": "string", **_F010}}},
            responses={**status_responses, **_errors(*_BODY)})},
        "/api/v1/admin/token": {"post": _op(
            "Get an admin bearer token", "admin", security=[{"basic": []}], operation_id="getAdminToken",
            responses={"200": _json(_ref("Token"), "admin token"), **_errors(401, 403, *_ANY)})},
        "/api/v1/admin/password": {"post": _op(
            "Change an admin's password (required first for admin/admin123)", "admin",
            security=[{"basic": []}], operation_id="changeAdminPassword",
            request={"type": "object", "required": ["new_password"],
                     "properties": {"new_password": {
                         "type": "string", "minLength": 8, "maxLength": 72,
                         "description": "8-72 characters, at most 72 bytes in UTF-8 (bcrypt's limit)"}}},
            responses={"204": {"description": "changed"}, **_errors(*_BODY, 401, *_ANY)})},
        "/api/v1/admin/services": _admin_post(
            "Create a service (with fields f000-f010)",
            {"name": name, "service_url": {"type": "string", "format": "uri"}, "display_name": optional,
             "timeout_s": seconds, "connect_timeout_s": seconds, "currency": optional},
            ["name", "service_url"], _ref("Service"), operation_id="createService"),
        "/api/v1/admin/clients": _admin_post(
            "Create a client (its API secret is shown once)",
            {"company_name": name, "app_id": optional, "contact_email": optional, "callback_url": optional},
            ["company_name"], _ref("Credentials"), operation_id="createClient"),
        "/api/v1/admin/clients/{app_id}/services": {"post": {
            **_admin_post("Assign a service and routes (creates the client's functions)",
                          {"service": name, "routes": {"type": "array", "items": name}},
                          ["service", "routes"], _ref("Assignment"), extra=(404,),
                          operation_id="assignService")["post"],
            "parameters": [{"name": "app_id", "in": "path", "required": True, "schema": name}]}},
        "/api/v1/admin/clients/{app_id}/limits": {"put": {
            **_op("Set a client's rate limit and amount limits (null: default / none)", "admin",
                  security=ADMIN_AUTH, operation_id="setClientLimits",
                  request={"type": "object", "properties": {
                      "rate_limit_per_minute": {"type": ["integer", "null"]},
                      "max_amount_per_transaction": {"type": ["string", "null"]},
                      "max_amount_per_day": {"type": ["string", "null"]}}},
                  responses={"200": _json(_ref("ClientLimits"), "the limits now in force"),
                             **_errors(*_BODY, 401, 403, 404, *_ANY)}),
            "parameters": [{"name": "app_id", "in": "path", "required": True, "schema": name}]}},
        "/api/v1/admin/services/{service}/credentials": {"get": {
            **_op("List a service's provider credentials: name, last 4 characters, dates (never the value)",
                  "admin", security=ADMIN_AUTH, operation_id="listProviderCredentials",
                  responses={"200": _json({"type": "object", "properties": {"credentials": {
                      "type": "array", "items": _ref("ProviderCredential")}}}, "the credentials"),
                             **_errors(401, 403, 422, *_ANY)}),
            "parameters": [{"name": "service", "in": "path", "required": True, "schema": name}]}},
        "/api/v1/admin/services/{service}/credentials/{name}": {
            "put": {**_op("Set or rotate a provider credential (functions refer to it as {{credential:name}})",
                          "admin", security=ADMIN_AUTH, operation_id="setProviderCredential",
                          request={"type": "object", "required": ["value"], "properties": {
                              "value": {"type": "string", "minLength": 8, "maxLength": 4096},
                              "app_id": {"type": ["string", "null"], "description":
                                         "only for this client (its value wins over the service's)"}}},
                          responses={"200": _json(_ref("ProviderCredential"), "rotated"),
                                     "201": _json(_ref("ProviderCredential"), "created"),
                                     **_errors(*_BODY, 401, 403, 404, *_ANY)}),
                    "parameters": credential_path},
            "delete": {**_op("Delete a provider credential", "admin", security=ADMIN_AUTH,
                             operation_id="deleteProviderCredential",
                             responses={"204": {"description": "deleted"}, **_errors(401, 403, 404, 422, *_ANY)}),
                       "parameters": [*credential_path,
                                      {"name": "app_id", "in": "query", "required": False, "schema": name}]}},
        "/api/v1/callbacks/{service}": {
            method: {**_op("A provider's asynchronous result (a hint: confirmed by a status query before "
                           "anything is written)", "providers",
                           request={"type": "object"},
                           operation_id="receiveProviderCallback" + ("" if method == "post" else "Put"),
                           responses={"200": _json({"type": "object"}, "received"),
                                      **_errors(400, 404, 413, *_ANY)}),
                     "parameters": [{"name": "service", "in": "path", "required": True, "schema": name}]}
            for method in ("post", "put")},
        "/api/v1/openapi.json": {"get": _op(
            "This document", "meta", operation_id="getOpenApiDocument",
            responses={"200": _json({"type": "object"}, "OpenAPI 3.1 JSON"), **_errors(429)})},
    })
    # Each admin area adds its operations below, one line each: paths.update(openapi_<area>.paths())
    from . import openapi_records
    paths.update(openapi_records.paths())
    from . import openapi_catalogue  # services, fields, clients, functions
    paths.update(openapi_catalogue.paths())
    from . import openapi_keys  # admin API keys and users
    paths.update(openapi_keys.paths())
    from . import openapi_statements  # provider statements and their exception queue
    paths.update(openapi_statements.paths())
    from . import openapi_refunds  # refunds: the client's and the operator's
    paths.update(openapi_refunds.paths())
    from . import openapi_merchant_users  # a client's merchant-portal users
    paths.update(openapi_merchant_users.paths())
    from . import openapi_alerts  # alert rules, the alert history, acknowledgement
    paths.update(openapi_alerts.paths())
    from . import openapi_analytics  # analytics, client statements and their email delivery
    paths.update(openapi_analytics.paths())
    from . import openapi_batches  # batches: the client API and the admin API
    paths.update(openapi_batches.paths())
    return paths


def _webhooks() -> dict:
    return {"payment.final": {"post": {
        "summary": "Sent to the client's callback_url when a payment reaches its final state",
        "operationId": "paymentFinalWebhook",
        "description": "Verify `MosPay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\">` "
                       "with your webhook secret, reject timestamps older than 5 minutes, and compare "
                       "in constant time. See examples/client.py.",
        "parameters": [{"name": "MosPay-Signature", "in": "header", "required": True,
                        "schema": {"type": "string", "examples": ["t=1767225600,v1=5f2b..."]}}],
        "requestBody": {"content": {_JSON: {"schema": _ref("WebhookEvent")}}},
        "responses": {"2XX": {"description": "received; anything else is retried"}},
        "x-codeSamples": _curl(WEBHOOK_CHECK),
    }}, **_refund_webhooks()}


def _refund_webhooks() -> dict:
    from .openapi_refunds import webhooks
    return webhooks()


@functools.lru_cache(maxsize=1)
def _document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "MosPay", "version": "1",
                 "description": "One REST API in front of many mobile-money microservices. Every error is "
                                "JSON `{\"error\": {\"code\", \"message\", \"field\"?}}`; every response carries "
                                "`X-Request-ID`."},
        "servers": [{"url": BASE, "description": "a local `python run.py`"}],
        "tags": [{"name": "client", "description": "for merchant clients"},
                 {"name": "admin", "description": "for operators and scripts"},
                 {"name": "meta", "description": "about the API itself"}],
        "paths": dict(_paths()),
        "webhooks": _webhooks(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic",
                          "description": "API username and secret (clients) or admin username and password"},
                "appId": {"type": "apiKey", "in": "header", "name": "App-ID",
                          "description": "the client's App ID, with Basic credentials (X-App-ID also accepted)"},
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                           "description": "a token from /api/v1/auth/token (clients) or /api/v1/admin/token "
                                          "(admins); on /api/v1/admin/ an API key (mpk_<id>_<secret>) too"},
            },
        },
    }


def document() -> dict:
    """A copy of the document, so a caller cannot change what the next request is served."""
    return copy.deepcopy(_document())


def operations(doc: dict | None = None) -> set[tuple[str, str]]:
    """(path, METHOD) for every operation the document describes."""
    doc = doc or _document()
    return {(path, method.upper()) for path, item in doc["paths"].items() for method in item
            if method in ("get", "post", "put", "patch", "delete")}
