"""OpenAPI operations of batches: the client API (mospay/api/batches.py) and the admin API
(mospay/api/admin_batches.py). Merged into the document by openapi._paths()."""

from __future__ import annotations

from .openapi import _ANY, _BODY, ADMIN_AUTH, CLIENT_AUTH, _errors, _json, _op
from .openapi_statements import _LIMIT, _named, _page, _path, _query

_INT = {"type": "integer"}
_TEXT = {"type": "string"}
_NTEXT = {"type": ["string", "null"]}
_STATES = ["VALIDATED", "AWAITING_APPROVAL", "APPROVED", "RUNNING", "PAUSED", "COMPLETED", "REJECTED", "CANCELLED"]
_KEYS = ["queued", "RECEIVED", "PENDING", "UNKNOWN", "SUCCESSFUL", "FAILED", "cancelled"]
_CREATED = {"type": "object", "required": ["batch_id", "status", "rows", "valid_rows", "invalid_rows"],
            "properties": {"batch_id": _TEXT, "name": _NTEXT, "status": {"type": "string", "enum": _STATES},
                           "rows": _INT, "valid_rows": _INT, "invalid_rows": _INT, "total_amount": _TEXT}}
_STATUS = {"type": "object", "additionalProperties": True,
           "required": ["batch_id", "name", "status", "rows", "counts", "amounts", "started_at", "finished_at",
                        "rate_per_s", "eta_s"],
           "properties": {"batch_id": _TEXT, "name": _NTEXT, "status": {"type": "string", "enum": _STATES},
                          "rows": _INT, "counts": {"type": "object", "properties": {k: _INT for k in _KEYS}},
                          "amounts": {"type": "object", "properties": {k: _TEXT for k in _KEYS}},
                          "started_at": _NTEXT, "finished_at": _NTEXT,
                          "rate_per_s": {"type": ["number", "null"]}, "eta_s": {"type": ["number", "null"]}}}
_ITEM = {"type": "object", "additionalProperties": True}
_ERRORS = {"type": "object", "properties": {"batch_id": _TEXT, "errors": {"type": "array", "items": {
    "type": "object", "properties": {"line": {"type": ["integer", "null"]}, "field": _NTEXT, "message": _TEXT,
                                     "code": _NTEXT}}}}}
_CSV = {"description": "CSV (formula-like cells are prefixed with ')", "content": {"text/csv": {"schema": _TEXT}}}
_CURL = """
curl -s -X POST 'http://127.0.0.1:5000/api/v1/batches?name=november-salaries' \\
  -H "Authorization: Bearer $TOKEN" -H "Content-Type: text/csv" -H "Idempotency-Key: nov-2026" \\
  --data-binary @salaries.csv
"""
_AFTER = _query("after", "the `next` cursor of the previous page")
_STATUS_Q = _query("status", "only batches in this state", {"type": "string", "enum": _STATES})
_REASON = {"type": "object", "additionalProperties": False, "required": ["reason"],
           "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 500}}}
_NOBODY = {"type": "object", "additionalProperties": False, "properties": {}}


def _client_paths() -> dict:
    upload = _op("Upload a batch of payments (CSV or JSON)", "client", security=CLIENT_AUTH, curl=_CURL,
                 description="`text/csv`: a header row of f-codes, then one payment per row (separators `,` `;` "
                             "or tab; UTF-8, a BOM is fine); or `application/json` `{\"rows\": [{...}], \"name\"}` "
                             "(at most 8 MiB). f003 may be omitted (your App ID). Every row is validated with the "
                             "rules of POST /api/v1/payment/process, f010 unique in the file and unused by you, "
                             "and your amount limits over the whole file. A clean file waits for approval by a "
                             "second person (or is approved under your auto-approval threshold); a file with "
                             "invalid rows stays VALIDATED: read /errors, fix and upload again. `Idempotency-Key` "
                             "makes the upload idempotent (200 and the same batch; 409 for another body). 413 "
                             "beyond MOSPAY_BATCH_MAX_BYTES.",
                 responses={"201": _json(_CREATED, "stored and validated"),
                            "200": _json(_CREATED, "this Idempotency-Key's batch"),
                            **_errors(*_BODY, 401, 409, *_ANY)})
    upload["requestBody"] = {"required": True, "content": {
        "text/csv": {"schema": _TEXT},
        "application/json": {"schema": {"type": "object", "required": ["rows"], "properties": {
            "rows": {"type": "array", "items": {"type": "object"}}, "name": _TEXT}}}}}
    upload["parameters"] = [_query("name", "a name for the batch", {"type": "string", "maxLength": 200}),
                            {"name": "Idempotency-Key", "in": "header", "required": False,
                             "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,200}$"}}]
    upload["operationId"] = "uploadBatch"
    listing = _named(_op("Your batches, newest first", "client", security=CLIENT_AUTH,
                         responses={"200": _json(_page(_ITEM), "one page"), **_errors(401, 422, *_ANY)}),
                     "listBatches", _AFTER, _LIMIT, _STATUS_Q)
    item = _named(_op("A batch's status: counts and amounts per state, rate and ETA", "client", security=CLIENT_AUTH,
                      responses={"200": _json(_STATUS, "the batch"), **_errors(401, 404, *_ANY)}),
                  "getBatch", _path("batch_id"))
    errs = _named(_op("A batch's invalid rows (line, field, message)", "client", security=CLIENT_AUTH,
                      description="JSON, or CSV with `Accept: text/csv`.",
                      responses={"200": {**_json(_ERRORS, "the errors"), **{"content": {
                          **_json(_ERRORS, "")["content"], **_CSV["content"]}}}, **_errors(401, 404, *_ANY)}),
                  "getBatchErrors", _path("batch_id"))
    results = _named(_op("A batch's results as CSV: line,f010,status,transaction_id,message", "client",
                         security=CLIENT_AUTH, responses={"200": _CSV, **_errors(401, 404, *_ANY)}),
                     "getBatchResults", _path("batch_id"))
    paths = {"/api/v1/batches": {"post": upload, "get": listing},
             "/api/v1/batches/{batch_id}": {"get": item},
             "/api/v1/batches/{batch_id}/errors": {"get": errs},
             "/api/v1/batches/{batch_id}/results": {"get": results}}
    for decision, what in (("pause", "Pause your batch (rows not yet started wait)"),
                           ("resume", "Resume your paused batch"),
                           ("cancel", "Cancel your batch: rows not yet started never will; started rows finish")):
        paths[f"/api/v1/batches/{{batch_id}}/{decision}"] = {"post": _named(_op(
            what, "client", security=CLIENT_AUTH, description="409 when the batch's state does not allow it.",
            responses={"200": _json(_STATUS, "the batch"), **_errors(401, 404, 409, *_ANY)}),
            f"{decision}Batch", _path("batch_id"))}
    return paths


def _admin_paths() -> dict:
    base = "/api/v1/admin/batches"
    read = "Read by every role (viewer, admin, super_admin)."
    write = "admin and super_admin; audited with the admin's name."
    paths = {
        base: {"get": _named(_op("Every client's batches, newest first", "admin", security=ADMIN_AUTH,
                                 description=read,
                                 responses={"200": _json(_page(_ITEM), "one page"), **_errors(401, 403, 422, *_ANY)}),
                             "listAllBatches", _AFTER, _LIMIT, _STATUS_Q)},
        f"{base}/{{batch_id}}": {"get": _named(_op(
            "Any client's batch status", "admin", security=ADMIN_AUTH, description=read,
            responses={"200": _json(_STATUS, "the batch"), **_errors(401, 403, 404, *_ANY)}),
            "getAnyBatch", _path("batch_id"))},
        f"{base}/{{batch_id}}/errors": {"get": _named(_op(
            "Any client's batch errors (JSON, or CSV with Accept: text/csv)", "admin", security=ADMIN_AUTH,
            description=read, responses={"200": _json(_ERRORS, "the errors"), **_errors(401, 403, 404, *_ANY)}),
            "getAnyBatchErrors", _path("batch_id"))},
        f"{base}/{{batch_id}}/results": {"get": _named(_op(
            "Any client's batch results (CSV)", "admin", security=ADMIN_AUTH, description=read,
            responses={"200": _CSV, **_errors(401, 403, 404, *_ANY)}), "getAnyBatchResults", _path("batch_id"))},
    }
    for decision, what in (("approve", "Approve a batch (never by its uploader: a database constraint)"),
                           ("reject", "Reject a batch with a reason"), ("pause", "Pause a batch"),
                           ("resume", "Resume a paused batch"),
                           ("cancel", "Cancel a batch (started rows finish)")):
        op = _op(what, "admin", security=ADMIN_AUTH, request=_REASON if decision == "reject" else _NOBODY,
                 description=("403 same_person when you uploaded it. " if decision == "approve" else "") +
                 "409 when the batch's state does not allow it. " + write,
                 responses={"200": _json(_STATUS, "the batch"), **_errors(*_BODY, 401, 403, 404, 409, *_ANY)})
        if decision != "reject":
            op["requestBody"]["required"] = False
        paths[f"{base}/{{batch_id}}/{decision}"] = {"post": _named(op, f"{decision}AnyBatch", _path("batch_id"))}
    settings = {"type": "object", "additionalProperties": False, "required": ["auto_approve_max"],
                "properties": {"auto_approve_max": {"type": ["string", "null"], "pattern": "^[0-9]{1,15}(\\.[0-9]{1,2})?$"}}}
    answer = {"type": "object", "required": ["app_id", "auto_approve_max"],
              "properties": {"app_id": _TEXT, "auto_approve_max": {"type": ["string", "null"]}}}
    paths["/api/v1/admin/clients/{app_id}/batch-settings"] = {
        "get": _named(_op("A client's batch auto-approval threshold", "admin", security=ADMIN_AUTH, description=read,
                          responses={"200": _json(answer, "the settings"), **_errors(401, 403, 404, *_ANY)}),
                      "getClientBatchSettings", _path("app_id")),
        "put": _named(_op("Set a client's batch auto-approval threshold (null: every batch needs approval)", "admin",
                          security=ADMIN_AUTH, request=settings, description=write,
                          responses={"200": _json(answer, "the settings"),
                                     **_errors(*_BODY, 401, 403, 404, *_ANY)}),
                      "setClientBatchSettings", _path("app_id"))}
    limits = {"type": "object", "additionalProperties": False,
              "properties": {"max_in_flight": {"type": ["integer", "null"], "minimum": 1, "maximum": 10000},
                             "max_per_second": {"type": ["integer", "null"], "minimum": 1, "maximum": 100000}}}
    limits_answer = {"type": "object", "required": ["service", "max_in_flight", "max_per_second"],
                     "properties": {"service": _TEXT, "max_in_flight": {"type": ["integer", "null"]},
                                    "max_per_second": {"type": ["integer", "null"]}}}
    paths["/api/v1/admin/services/{service}/batch-limits"] = {
        "get": _named(_op("A service's batch limits", "admin", security=ADMIN_AUTH, description=read,
                          responses={"200": _json(limits_answer, "the limits"), **_errors(401, 403, 404, *_ANY)}),
                      "getServiceBatchLimits", _path("service")),
        "put": _named(_op("Set a service's batch limits: rows in flight at once and rows started per second, "
                          "across every process (null: no limit)", "admin", security=ADMIN_AUTH, request=limits,
                          description=write, responses={"200": _json(limits_answer, "the limits"),
                                                        **_errors(*_BODY, 401, 403, 404, *_ANY)}),
                      "setServiceBatchLimits", _path("service"))}
    return paths


def paths() -> dict:
    return {**_client_paths(), **_admin_paths(), **roster_paths()}


def roster_paths() -> dict:
    """GET/POST /api/v1/admin/clients.csv: the client roster export and import."""
    created = {"type": "object", "properties": {"created": {"type": "array", "items": {"type": "object", "properties": {
        k: _TEXT for k in ("app_id", "company_name", "api_username", "api_secret", "webhook_secret")}}}}}
    export = _named(_op("Every client as CSV", "admin", security=ADMIN_AUTH,
                        description="Read by every role. No secret or hash is exported.",
                        responses={"200": _CSV, **_errors(401, 403, *_ANY)}), "exportClients")
    imported = _op("Import new clients from a CSV (all or nothing)", "admin", security=ADMIN_AUTH,
                   description="Header: company_name and optionally app_id, contact_email, callback_url. Every row "
                               "is checked first; one problem and nothing is created (422 with `errors`: line, "
                               "field, message). 201 answers each new client's credentials, this once (CSV with "
                               "`Accept: text/csv`). admin and super_admin; audited.",
                   responses={"201": _json(created, "created; the secrets are shown only here"),
                              **_errors(400, 413, 415, 422, 401, 403, *_ANY)})
    imported["requestBody"] = {"required": True, "content": {"text/csv": {"schema": _TEXT}}}
    imported["operationId"] = "importClients"
    return {"/api/v1/admin/clients.csv": {"get": export, "post": imported}}
