"""OpenAPI operations of analytics and client statements (mospay/api/admin_reports.py): the analytics
figures, a statement as JSON or CSV, statement recipients and the delivery log. Merged by openapi._paths()."""

from __future__ import annotations

from .openapi import _ANY, _BODY, ADMIN_AUTH, _errors, _json, _op

_BASE = "/api/v1/admin"
_TEXT = {"type": "string"}
_INT = {"type": "integer"}
_NUMBER_OR_NULL = {"type": ["number", "null"]}
_MONEY = {"type": "object", "description": "currency -> amount (a decimal string)",
          "additionalProperties": {"type": "string", "examples": ["1000.00"]}}
_READ = "Read by every role (viewer, admin, super_admin)."
_WRITE = "admin and super_admin; audited with the admin's name."
_CURL_ANALYTICS = """
curl -s "http://127.0.0.1:5000/api/v1/admin/analytics?range=7&by=service" -H "Authorization: Bearer $ADMIN_TOKEN"
"""
_CURL_STATEMENT = """
curl -s "http://127.0.0.1:5000/api/v1/admin/reports/statement.csv?client=akaliza&period=2026-11" \\
  -H "Authorization: Bearer $ADMIN_TOKEN" -o statement.csv
"""

_FIGURES = {
    "type": "object",
    "properties": {
        "payments": _INT,
        "statuses": {"type": "object", "additionalProperties": _INT,
                     "description": "SUCCESSFUL, FAILED, PENDING, UNKNOWN"},
        "value": {**_MONEY, "description": "successful payments' amount, per currency"},
        "attempted_value": {**_MONEY, "description": "every payment's amount, per currency"},
        "success_rate": {**_NUMBER_OR_NULL, "description": "SUCCESSFUL / (SUCCESSFUL + FAILED); open ones left out"},
        "latency_ms": {"type": "object", "description": "the provider call's duration: p50 and p95 from a histogram "
                                                        "(docs/decisions.md, \"Analytics rollups\")",
                       "properties": {"p50": _NUMBER_OR_NULL, "p95": _NUMBER_OR_NULL, "mean": _NUMBER_OR_NULL,
                                      "count": _INT}},
        "reconciliation": {"type": "object", "description": "payments whose outcome the reconciler, a callback or an "
                                                            "operator decided (or that are still open), and the mean "
                                                            "seconds from created to settled of the settled ones",
                           "properties": {"payments": _INT, "share": _NUMBER_OR_NULL, "settled": _INT,
                                          "mean_settle_s": _NUMBER_OR_NULL}}}}
_ANALYTICS = {
    "type": "object", "required": ["range_days", "by", "since", "until", "total", "groups", "failure_reasons", "series"],
    "properties": {
        "range_days": {"type": "integer", "enum": [1, 7, 30, 90]}, "by": {"type": "string"},
        "since": _TEXT, "until": _TEXT, "step": {"type": "string", "enum": ["hour", "day"]},
        "filters": {"type": "object"}, "total": _FIGURES,
        "groups": {"type": "array", "items": {**_FIGURES, "properties": {"group": _TEXT, **_FIGURES["properties"]}}},
        "failure_reasons": {"type": "array", "maxItems": 10, "items": {"type": "object", "properties": {
            "http_status": {"type": ["integer", "null"]}, "code": _TEXT, "message": _TEXT, "payments": _INT,
            "services": _TEXT}}},
        "series": {"type": "array", "items": {"type": "object", "additionalProperties": True}}}}
_COUNT = {"type": "object", "properties": {"payments": _INT, "amount": _MONEY}}
_STATEMENT = {
    "type": "object",
    "required": ["scope", "period", "generated_at", "transactions", "by_status", "opening_open_items",
                 "closing_open_items"],
    "properties": {
        "scope": {"type": "object", "properties": {"client": {"type": ["string", "null"]},
                                                   "company_name": {"type": ["string", "null"]},
                                                   "service": {"type": ["string", "null"]}}},
        "period": {"type": "object", "properties": {"kind": {"type": "string", "enum": ["daily", "monthly"]},
                                                    "label": _TEXT, "start": _TEXT, "end": _TEXT}},
        "generated_at": _TEXT, "transactions": _COUNT,
        "by_status": {"type": "array", "items": {"type": "object", "properties": {"status": _TEXT, **_COUNT["properties"]}}},
        "opening_open_items": _COUNT, "closing_open_items": _COUNT}}
_RECIPIENT = {"type": "object", "properties": {"id": _INT, "app_id": _TEXT, "company_name": _TEXT, "email": _TEXT,
                                               "daily": {"type": "boolean"}, "monthly": {"type": "boolean"},
                                               "created_by": _TEXT, "created_at": _TEXT}}
_NEW_RECIPIENT = {"type": "object", "additionalProperties": False, "required": ["client", "email"],
                  "properties": {"client": {"type": "string", "description": "the client's app id"},
                                 "email": {"type": "string", "maxLength": 254},
                                 "daily": {"type": "boolean", "default": True},
                                 "monthly": {"type": "boolean", "default": True}}}
_DELIVERY = {"type": "object", "properties": {
    "id": _INT, "app_id": _TEXT, "email": _TEXT, "kind": {"type": "string", "enum": ["daily", "monthly"]},
    "period_start": _TEXT, "state": {"type": "string", "enum": ["sending", "sent", "failed", "gave_up"]},
    "attempts": _INT, "last_error": {"type": ["string", "null"]}, "created_at": _TEXT,
    "sent_at": {"type": ["string", "null"]}}}


def _query(name: str, description: str, schema: dict | None = None, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema or {"type": "string", "minLength": 1}}


def _named(op: dict, operation_id: str, *parameters) -> dict:
    op["operationId"] = operation_id
    if parameters:
        op["parameters"] = [*op.get("parameters", []), *parameters]
    return op


_CLIENT = _query("client", "one client's (its app id)")
_SERVICE = _query("service", "one service's (its name)")
_PERIOD = _query("period", "a UTC day (2026-11-30: daily) or month (2026-11: monthly)",
                 {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}(-[0-9]{2})?$"}, required=True)


def paths() -> dict:
    figures = _named(_op(
        "Payment analytics for 1, 7, 30 or 90 days, split by service, client or route", "admin",
        security=ADMIN_AUTH, curl=_CURL_ANALYTICS,
        description="Read from the hourly rollups (exact: a late settle moves a payment to its final status). "
                    "Payments count from their first outcome, in the UTC hour they were created. " + _READ,
        responses={"200": _json(_ANALYTICS, "the figures"), **_errors(401, 403, 404, 422, *_ANY)}),
        "getAnalytics", _query("range", "days: 1, 7 (default), 30 or 90", {"type": "string", "enum": ["1", "7", "30", "90"]}),
        _query("by", "the split (default service)", {"type": "string", "enum": ["service", "client", "route"]}),
        _CLIENT, _SERVICE)
    statement = _named(_op(
        "A client's or a service's statement for a day or a month", "admin", security=ADMIN_AUTH,
        description="Transactions created in the period, counted and summed per status (as they stand now) and "
                    "currency; the items open at the period's start and end. Name a client, a service or both. "
                    "The numbers equal GET /api/v1/admin/transactions filtered the same way. " + _READ,
        responses={"200": _json(_STATEMENT, "the statement"), **_errors(401, 403, 404, 422, *_ANY)}),
        "getStatementReport", _CLIENT, _SERVICE, _PERIOD)
    statement_csv = _named(_op(
        "The same statement as CSV", "admin", security=ADMIN_AUTH, curl=_CURL_STATEMENT,
        description="The figures (section,status,currency,payments,amount), a blank line, then the line items: "
                    "exactly what GET /api/v1/admin/transactions.csv answers for the same filters. " + _READ,
        responses={"200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                   **_errors(401, 403, 404, 422, *_ANY)}),
        "getStatementReportCsv", _CLIENT, _SERVICE, _PERIOD)
    recipients = _named(_op(
        "Who receives each client's scheduled statements", "admin", security=ADMIN_AUTH, description=_READ,
        responses={"200": _json({"type": "object", "properties": {"items": {"type": "array", "items": _RECIPIENT}}},
                                "the recipients"), **_errors(401, 403, 404, 422, *_ANY)}),
        "listReportRecipients", _CLIENT)
    add = _named(_op(
        "Add a statement recipient for a client (or change which statements it gets)", "admin",
        security=ADMIN_AUTH, request=_NEW_RECIPIENT,
        description="The recipient gets yesterday's statement every day (daily) and last month's on the 1st "
                    "(monthly), UTC, by email through MOSPAY_SMTP_URL, once per period. " + _WRITE,
        responses={"201": _json(_RECIPIENT, "saved"), **_errors(*_BODY, 401, 403, 404, *_ANY)}),
        "addReportRecipient")
    path_id = {"name": "recipient_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}
    one = _named(_op("One statement recipient", "admin", security=ADMIN_AUTH, description=_READ,
                     responses={"200": _json(_RECIPIENT, "the recipient"), **_errors(401, 403, 404, *_ANY)}),
                 "getReportRecipient", path_id)
    remove = _named(_op("Remove a statement recipient", "admin", security=ADMIN_AUTH, description=_WRITE,
                        responses={"204": {"description": "removed"}, **_errors(401, 403, 404, *_ANY)}),
                    "deleteReportRecipient", path_id)
    deliveries = _named(_op(
        "The scheduled statements' delivery log, newest first", "admin", security=ADMIN_AUTH,
        description="One row per recipient, kind and period: sent, failed (retried at the next run, up to 5 "
                    "attempts) or gave_up. " + _READ,
        responses={"200": _json({"type": "object", "required": ["items", "next"], "properties": {
            "items": {"type": "array", "items": _DELIVERY}, "next": {"type": ["string", "null"]}}}, "one page"),
            **_errors(401, 403, 404, 422, *_ANY)}),
        "listReportDeliveries", _CLIENT, _query("after", "the `next` cursor of the previous page"),
        _query("limit", "rows per page (default 50)", {"type": "integer", "minimum": 1, "maximum": 200}))
    return {
        f"{_BASE}/analytics": {"get": figures},
        f"{_BASE}/reports/statement": {"get": statement},
        f"{_BASE}/reports/statement.csv": {"get": statement_csv},
        f"{_BASE}/report-recipients": {"get": recipients, "post": add},
        f"{_BASE}/report-recipients/{{recipient_id}}": {"get": one, "delete": remove},
        f"{_BASE}/report-deliveries": {"get": deliveries},
    }
