"""OpenAPI operations of provider statements (mospay/api/admin_statements.py): upload, the column mapping,
statements and the exception queue. Merged into the document by openapi._paths()."""

from __future__ import annotations

from .openapi import _ANY, _BODY, ADMIN_AUTH, _errors, _json, _op

_BASE = "/api/v1/admin"
_TEXT = {"type": "string"}
_INT = {"type": "integer"}
_READ = "Read by every role (viewer, admin, super_admin)."
_WRITE = "admin and super_admin; audited with the admin's name."
_KINDS = ["missing_in_gateway", "missing_at_provider", "amount_mismatch", "status_mismatch", "currency_mismatch",
          "duplicate"]
_CURL_UPLOAD = """
curl -s -X POST http://127.0.0.1:5000/api/v1/admin/services/mtnmomorwa/statements?filename=nov.csv \\
  -H "Authorization: Bearer $ADMIN_TOKEN" -H "Content-Type: text/csv" --data-binary @statement.csv
"""
_COUNTS = {"type": "object", "required": ["statement_id", "lines", "matched", *_KINDS],
           "properties": {"statement_id": _INT, "lines": _INT, "matched": _INT, **{k: _INT for k in _KINDS}}}
_COLUMNS = {"type": "object", "additionalProperties": False,
            "properties": {f: {"type": "string", "minLength": 1, "maxLength": 100}
                           for f in ("reference", "amount", "currency", "status", "date")}}
_FORMAT = {"type": "object", "properties": {"service": _TEXT, "columns": _COLUMNS}}
_ROW = {"type": "object", "additionalProperties": True}
_EXCEPTION = {"type": "object", "additionalProperties": True,
              "properties": {"id": _INT, "statement_id": _INT, "kind": {"type": "string", "enum": _KINDS},
                             "line_no": {"type": ["integer", "null"]},
                             "transaction_id": {"type": ["string", "null"]},
                             "detail": {"type": "object", "description": "why: the provider's and the "
                                                                         "gateway's values"},
                             "resolved_at": {"type": ["string", "null"]},
                             "resolution": {"type": ["string", "null"]}}}
_REASON = {"type": "object", "additionalProperties": False, "required": ["reason"],
           "properties": {"reason": {"type": "string", "minLength": 3, "maxLength": 500}}}


def _path(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": _TEXT}


def _query(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string", "minLength": 1}}


def _page(item: dict) -> dict:
    return {"type": "object", "required": ["items", "next"],
            "properties": {"items": {"type": "array", "items": item}, "next": {"type": ["string", "null"]}}}


_LIMIT = _query("limit", "rows per page (default 50)", {"type": "integer", "minimum": 1, "maximum": 200})


def _named(op: dict, operation_id: str, *parameters) -> dict:
    op["operationId"] = operation_id
    if parameters:
        op["parameters"] = [*op.get("parameters", []), *parameters]
    return op


def paths() -> dict:
    upload = _op("Upload a provider statement (CSV) and match it", "admin", security=ADMIN_AUTH, curl=_CURL_UPLOAD,
                 description="The service's column mapping names the columns (default "
                             "`reference,amount,currency,status,date`; separators `,` `;` tab `|`; UTF-8). "
                             "`reference` is the reference MosPay sent or the provider's financialTransactionId; "
                             "a line without one is matched by amount (± MOSPAY_STATEMENT_AMOUNT_TOLERANCE) "
                             "within MOSPAY_STATEMENT_DATE_WINDOW. The same file again answers 200 with the "
                             "same statement. A portal-style multipart form with a `file` part is accepted too. "
                             "400 names the line that cannot be read; 413 beyond MOSPAY_STATEMENT_MAX_BYTES. "
                             + _WRITE,
                 responses={"201": _json(_COUNTS, "matched: the counts of each outcome"),
                            "200": _json(_COUNTS, "this file was uploaded before: the same statement"),
                            **_errors(400, 413, 415, 422, 401, 403, 404, *_ANY)})
    upload["requestBody"] = {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    _named(upload, "uploadStatement", _path("service"),
           _query("filename", "the file's name, kept with the statement", {"type": "string", "maxLength": 200}))
    get_format = _named(_op("A service's statement column mapping", "admin", security=ADMIN_AUTH, description=_READ,
                            responses={"200": _json(_FORMAT, "field -> header"), **_errors(401, 403, 404, 422, *_ANY)}),
                        "getStatementFormat", _path("service"))
    set_format = _named(_op("Change a service's statement column mapping", "admin", security=ADMIN_AUTH,
                            request={"type": "object", "additionalProperties": False, "required": ["columns"],
                                     "properties": {"columns": _COLUMNS}},
                            description="Fields left out keep their default header. Last writer wins. " + _WRITE,
                            responses={"200": _json(_FORMAT, "the mapping"),
                                       **_errors(*_BODY, 401, 403, 404, *_ANY)}),
                        "updateStatementFormat", _path("service"))
    listing = _named(_op("List statements, newest first", "admin", security=ADMIN_AUTH, description=_READ,
                         responses={"200": _json(_page(_ROW), "one page"), **_errors(401, 403, 422, *_ANY)}),
                     "listStatements", _query("after", "the `next` cursor of the previous page"), _LIMIT)
    item = _named(_op("A statement with its counts and open exceptions", "admin", security=ADMIN_AUTH,
                      description=_READ,
                      responses={"200": _json(_ROW, "the statement"), **_errors(401, 403, 404, *_ANY)}),
                  "getStatement", _path("statement_id"))
    queue = _named(_op("The exception queue, oldest first", "admin", security=ADMIN_AUTH, description=_READ,
                       responses={"200": _json(_page(_EXCEPTION), "one page"), **_errors(401, 403, 422, *_ANY)}),
                   "listStatementExceptions", _query("statement_id", "one statement's", {"type": "string",
                                                                                         "pattern": "^[0-9]+$"}),
                   _query("kind", "one kind", {"type": "string", "enum": _KINDS}),
                   _query("state", "open (default) or all", {"type": "string", "enum": ["open", "all"]}),
                   _query("after", "the `next` cursor of the previous page"), _LIMIT)
    one = _named(_op("One statement exception", "admin", security=ADMIN_AUTH, description=_READ,
                     responses={"200": _json(_EXCEPTION, "the exception"), **_errors(401, 403, 404, *_ANY)}),
                 "getStatementException", _path("exception_id"))
    resolve = _named(_op("Resolve a statement exception with a reason", "admin", security=ADMIN_AUTH,
                         request=_REASON, description="Nothing but the exception changes. 409 when already "
                                                      "resolved. " + _WRITE,
                         responses={"200": _json(_EXCEPTION, "resolved"),
                                    **_errors(*_BODY, 401, 403, 404, 409, *_ANY)}),
                     "resolveStatementException", _path("exception_id"))
    settle = _named(_op("Settle the open transaction of a status mismatch to the provider's status", "admin",
                        security=ADMIN_AUTH, request=_REASON,
                        description="Through the operator's resolution (state machine, status history with the "
                                    "statement line as evidence, the client's webhook), then the exception is "
                                    "resolved. 409 unless it is an open status mismatch on a RECEIVED, PENDING or "
                                    "UNKNOWN transaction with a SUCCESSFUL or FAILED line. " + _WRITE,
                        responses={"200": _json(_EXCEPTION, "settled and resolved"),
                                   **_errors(*_BODY, 401, 403, 404, 409, *_ANY)}),
                    "settleStatementException", _path("exception_id"))
    return {
        f"{_BASE}/services/{{service}}/statements": {"post": upload},
        f"{_BASE}/services/{{service}}/statement-format": {"get": get_format, "patch": set_format},
        f"{_BASE}/statements": {"get": listing},
        f"{_BASE}/statements/{{statement_id}}": {"get": item},
        f"{_BASE}/statement-exceptions": {"get": queue},
        f"{_BASE}/statement-exceptions/{{exception_id}}": {"get": one},
        f"{_BASE}/statement-exceptions/{{exception_id}}/resolve": {"post": resolve},
        f"{_BASE}/statement-exceptions/{{exception_id}}/settle": {"post": settle},
    }
