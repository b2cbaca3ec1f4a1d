"""OpenAPI operations of the admin API's records (mospay/api/admin_records.py): transactions, webhook
resends, API logs, security events, audit. Merged into the document by openapi._paths()."""

from __future__ import annotations

from .openapi import _ANY, _BODY, ADMIN_AUTH, _errors, _json, _op, _ref

_BASE = "/api/v1/admin"
_TEXT = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TEXT = {"type": ["string", "null"]}
_STATUSES = ["RECEIVED", "PENDING", "SUCCESSFUL", "FAILED", "UNKNOWN"]
_READ = "Read by every role (viewer, admin, super_admin)."
_WRITE = "admin and super_admin; audited with the admin's name."

_CURL_STUCK = """
curl -s "http://127.0.0.1:5000/api/v1/admin/transactions?stuck=true&limit=100" -H "Authorization: Bearer $ADMIN_TOKEN"
"""
_CURL_RESOLVE = """
curl -s -X POST http://127.0.0.1:5000/api/v1/admin/transactions/$TXN/resolve \\
  -H "Authorization: Bearer $ADMIN_TOKEN" -H "Content-Type: application/json" \\
  -d '{"status": "FAILED", "reason": "payer never approved (provider ticket 123)"}'
"""
_CURL_CSV = """
curl -s "http://127.0.0.1:5000/api/v1/admin/transactions.csv?status=SUCCESSFUL&from=2026-01-01&to=2026-01-31" \\
  -H "Authorization: Bearer $ADMIN_TOKEN" -o transactions.csv
"""


def _query(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string", "minLength": 1}}


def _path(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": _TEXT}


_PAGING = [_query("after", "the `next` cursor of the previous page"),
           _query("limit", "rows per page (default 50)", {"type": "integer", "minimum": 1, "maximum": 200})]
_DATES = [_query("from", "first day, UTC, like 2026-01-31"), _query("to", "last day (inclusive), UTC")]
_CLIENT = _query("client", "a client's app_id")
_TRANSACTION_FILTERS = [
    _query("status", "exactly this status", {"type": "string", "enum": _STATUSES}), _CLIENT,
    _query("service", "a service name"), _query("f010", "the client's f010, exactly"),
    _query("msisdn", "a mobile number, with or without +"),
    _query("stuck", "true: open transactions the reconciler gave up on, waiting for an operator; false: "
                    "all others", {"type": "string", "enum": ["true", "false"]}),
    *_DATES, _query("q", "an f010, transaction_id or msisdn (the portal's search box)")]


def _page_of(item: dict) -> dict:
    return {"type": "object", "required": ["items", "next"],
            "properties": {"items": {"type": "array", "items": item},
                           "next": {"type": ["string", "null"], "description": "pass as ?after= for the next page"}}}


def _list(summary: str, operation_id: str, item: dict, parameters: list, curl: str | None = None) -> dict:
    op = _op(summary, "admin", security=ADMIN_AUTH, parameters=[*parameters, *_PAGING], curl=curl,
             description=f"Newest first, keyset pages (no offsets: every page costs the same). {_READ}",
             responses={"200": _json(_page_of(item), "one page"), **_errors(401, 403, 422, *_ANY)})
    op["operationId"] = operation_id
    return {"get": op}


_ROW = {"type": "object", "additionalProperties": True}
_TRANSACTION_ROW = {
    "type": "object", "additionalProperties": True,
    "properties": {"transaction_id": _TEXT, "f010": _TEXT, "status": _ref("PaymentStatus"),
                   "amount": {"type": "string", "description": "a decimal, as text"}, "currency": _TEXT,
                   "msisdn": _NULLABLE_TEXT, "app_id": _TEXT, "service": _TEXT, "route": _TEXT,
                   "created_at": _TIME, "updated_at": _TIME}}
_EVENT = {"type": "object", "properties": {"from": _NULLABLE_TEXT, "to": _TEXT, "cause": _TEXT,
                                           "actor": _NULLABLE_TEXT, "note": _NULLABLE_TEXT, "at": _TIME}}
_WEBHOOK_EVENT = {"type": "object", "additionalProperties": True,
                  "properties": {"event_id": _TEXT, "event_type": _TEXT,
                                 "transaction_id": {"type": ["string", "null"],
                                                    "description": "null for a test event (test.ping)"},
                                 "state": {"type": "string", "enum": ["PENDING", "DELIVERED", "GAVE_UP"]},
                                 "attempts": {"type": "integer"}}}
_TRANSACTION_DETAIL = {
    "type": "object", "additionalProperties": True,
    "properties": {**_TRANSACTION_ROW["properties"], "stuck": {"type": "boolean"},
                   "request": {"description": "the payment request, secrets masked"},
                   "events": {"type": "array", "items": _EVENT, "description": "the status history"},
                   "webhook_events": {"type": "array", "items": _WEBHOOK_EVENT}}}


def paths() -> dict:
    resolve = _op("Resolve an open transaction: SUCCESSFUL or FAILED, with a reason", "admin",
                  security=ADMIN_AUTH, curl=_CURL_RESOLVE,
                  request={"type": "object", "additionalProperties": False, "required": ["status", "reason"],
                           "properties": {"status": {"type": "string", "enum": ["SUCCESSFUL", "FAILED"]},
                                          "reason": {"type": "string", "minLength": 3, "maxLength": 500}}},
                  description="The operator's decision for a RECEIVED, PENDING or UNKNOWN transaction (usually a "
                              "stuck one): recorded in its status history with the admin and the reason, and in "
                              "the audit trail; the client's webhook follows. 409 when it is already final. "
                              + _WRITE,
                  responses={"200": _json(_TRANSACTION_DETAIL, "the transaction, now final"),
                             **_errors(*_BODY, 401, 403, 404, 409, *_ANY)})
    resolve["operationId"] = "resolveTransaction"
    resolve["parameters"] = [_path("transaction_id")]
    detail = _op("A transaction with its status history and webhook deliveries", "admin", security=ADMIN_AUTH,
                 parameters=[_path("transaction_id")], description=_READ,
                 responses={"200": _json(_TRANSACTION_DETAIL, "the transaction"), **_errors(401, 403, 404, *_ANY)})
    detail["operationId"] = "getTransaction"
    export = _op("Export transactions as CSV (streamed; the list's filters)", "admin", security=ADMIN_AUTH,
                 parameters=_TRANSACTION_FILTERS, curl=_CURL_CSV,
                 description="A header row, then every matching transaction, newest first, fetched in keyset "
                             "batches. A cell that a spreadsheet would compute (starting with =, @, or + or - "
                             "when not a number) is prefixed with '. " + _READ,
                 responses={"200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                            **_errors(401, 403, 422, *_ANY)})
    export["operationId"] = "exportTransactionsCsv"
    resend = _op("Resend a webhook event (same event id) at the next delivery pass", "admin",
                 security=ADMIN_AUTH, parameters=[_path("event_id")], description=_WRITE,
                 responses={"200": _json(_WEBHOOK_EVENT, "queued"), **_errors(401, 403, 404, *_ANY)})
    resend["operationId"] = "resendWebhookEvent"
    log = _op("One API call with its bodies (secrets masked)", "admin", security=ADMIN_AUTH,
              parameters=[_path("log_id")], description=_READ,
              responses={"200": _json(_ROW, "the call"), **_errors(401, 403, 404, *_ANY)})
    log["operationId"] = "getApiLog"
    return {
        f"{_BASE}/transactions": _list("List transactions (?stuck=true: the operator's queue)", "listTransactions",
                                       _TRANSACTION_ROW, _TRANSACTION_FILTERS, curl=_CURL_STUCK),
        f"{_BASE}/transactions.csv": {"get": export},
        f"{_BASE}/transactions/{{transaction_id}}": {"get": detail},
        f"{_BASE}/transactions/{{transaction_id}}/resolve": {"post": resolve},
        f"{_BASE}/webhook-events/{{event_id}}/resend": {"post": resend},
        f"{_BASE}/api-logs": _list("List API calls", "listApiLogs", _ROW, [
            _CLIENT, _query("status", "the status class: 2 for 2xx ... 5 for 5xx",
                            {"type": "string", "enum": ["2", "3", "4", "5"]}),
            *_DATES, _query("q", "an endpoint prefix or a request id")]),
        f"{_BASE}/api-logs/{{log_id}}": {"get": log},
        f"{_BASE}/security-events": _list("List security events (failed or throttled sign-ins, rate limits)",
                                          "listSecurityEvents", _ROW, [
            _query("kind", "a kind like auth_failure"), _CLIENT, *_DATES,
            _query("q", "an IP address or username, exactly")]),
        f"{_BASE}/audit": _list("List the audit trail", "listAuditEvents", _ROW, [
            _query("q", "part of an action's name, a username or a target id")]),
    }
