"""OpenAPI operations of alerting (mospay/api/admin_alerts.py): alert rules, test notifications, the alert
history and acknowledgement, the webhook signing secret. Merged into the document by openapi._paths()."""

from __future__ import annotations

from .. import alert_metrics, alert_rules
from .openapi import _ANY, _BODY, ADMIN_AUTH, _errors, _json, _op

_BASE = "/api/v1/admin"
_TEXT = {"type": "string"}
_INT = {"type": "integer"}
_READ = "Read by every role (viewer, admin, super_admin)."
_WRITE = "admin and super_admin; audited with the admin's name."
_CHANNEL = {"oneOf": [
    {"type": "object", "additionalProperties": False, "required": ["type", "url"],
     "properties": {"type": {"const": "webhook"}, "url": {"type": "string", "format": "uri", "maxLength": 500}}},
    {"type": "object", "additionalProperties": False, "required": ["type", "to"],
     "properties": {"type": {"const": "email"},
                    "to": {"oneOf": [{"type": "string", "format": "email"},
                                     {"type": "array", "minItems": 1, "maxItems": 10,
                                      "items": {"type": "string", "format": "email"}}]}}}]}
_METRICS = "; ".join(f"`{k}`: {v}" for k, v in alert_metrics.MEANINGS.items())
_RULE_FIELDS = {
    "name": {"type": "string", "minLength": 1, "maxLength": 100},
    "metric": {"type": "string", "enum": list(alert_rules.METRICS), "description": _METRICS},
    "service": {"type": ["string", "null"], "description": "one service (default or null: every service, one "
                                                           "alert each)"},
    "app_id": {"type": ["string", "null"], "description": "one client's payments (default or null: all clients)"},
    "op": {"type": "string", "enum": ["<", ">"], "description": "fires when the value is below (<) or above (>)"},
    "threshold": {"type": ["number", "string"], "description": "percent for success_rate and provider_errors, "
                                                              "ms for latency_p95_ms, else a count or amount"},
    "measure": {"type": "string", "enum": ["count", "amount"], "description": "volume only (default count)"},
    "window_s": {"type": "integer", "minimum": 10, "maximum": 604800,
                 "description": "the window the metric is computed over (open_payments: the age)"},
    "min_count": {"type": "integer", "minimum": 0, "description": "fewer observations than this never fire"},
    "for_s": {"type": "integer", "minimum": 0, "maximum": 86400,
              "description": "how long the breach must last before the alert fires (pending meanwhile)"},
    "repeat_s": {"type": "integer", "minimum": 60, "maximum": 604800,
                 "description": "a firing, unacknowledged alert is announced again this often (default 14400)"},
    "severity": {"type": "string", "enum": list(alert_rules.SEVERITIES)},
    "channels": {"type": "array", "maxItems": 10, "items": _CHANNEL},
    "enabled": {"type": "boolean"},
}
_RULE = {"type": "object", "additionalProperties": True,
         "properties": {"id": _INT, **_RULE_FIELDS, "firing": {"type": "integer", "description": "firing alerts"},
                        # A stored rule says null for a metric other than volume.
                        "measure": {"type": ["string", "null"], "enum": ["count", "amount", None]},
                        "created_by": _TEXT, "created_at": _TEXT, "updated_at": _TEXT}}
_NEW_RULE = {"type": "object", "additionalProperties": False, "required": ["name", "metric", "window_s", "severity"],
             "properties": _RULE_FIELDS}
_CHANGE = {"type": "object", "additionalProperties": False, "properties": _RULE_FIELDS}
_ALERT = {"type": "object", "additionalProperties": True,
          "properties": {"id": _INT, "rule_id": _INT, "rule": _TEXT, "metric": _TEXT, "severity": _TEXT,
                         "service": {"type": ["string", "null"]}, "app_id": {"type": ["string", "null"]},
                         "state": {"type": "string", "enum": ["pending", "firing", "resolved"]},
                         "value": {"type": ["string", "null"]}, "created_at": _TEXT,
                         "fired_at": {"type": ["string", "null"]}, "resolved_at": {"type": ["string", "null"]},
                         "acknowledged_by": {"type": ["string", "null"]}}}
_TEST = {"type": "object", "required": ["delivered", "response"],
         "properties": {"delivered": {"type": "boolean"}, "response": _TEXT, "duration_ms": {"type": "number"},
                        "channel": {"type": "object"}}}
_CURL_RULE = """
curl -s -X POST http://127.0.0.1:5000/api/v1/admin/alert-rules -H "Authorization: Bearer $ADMIN_TOKEN" \\
  -H "Content-Type: application/json" -d '{"name": "MTN success rate", "metric": "success_rate",
  "service": "mtnmomorwa", "op": "<", "threshold": 80, "window_s": 300, "min_count": 20, "for_s": 120,
  "severity": "critical", "channels": [{"type": "webhook", "url": "https://hooks.slack.com/services/T/B/X"},
  {"type": "email", "to": "oncall@example.com"}]}'
"""


def _path(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": _TEXT}


def _query(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string", "minLength": 1}}


def _named(op: dict, operation_id: str, *parameters) -> dict:
    op["operationId"] = operation_id
    if parameters:
        op["parameters"] = [*op.get("parameters", []), *parameters]
    return op


def paths() -> dict:
    listing = _named(_op("List alert rules", "admin", security=ADMIN_AUTH, description=_READ,
                         responses={"200": _json({"type": "object", "properties": {
                             "items": {"type": "array", "items": _RULE}}}, "every rule, by name"),
                             **_errors(401, 403, 422, *_ANY)}), "listAlertRules")
    create = _named(_op("Create an alert rule", "admin", security=ADMIN_AUTH, request=_NEW_RULE, curl=_CURL_RULE,
                        description="Evaluated every MOSPAY_ALERT_INTERVAL_S by the scheduler; one alert per "
                                    "(rule, service, client). 404 for an unknown service or app_id, 409 for a "
                                    "name in use. " + _WRITE,
                        responses={"201": _json(_RULE, "created"), **_errors(*_BODY, 401, 403, 404, 409, *_ANY)}),
                    "createAlertRule")
    get = _named(_op("One alert rule", "admin", security=ADMIN_AUTH, description=_READ,
                     responses={"200": _json(_RULE, "the rule"), **_errors(401, 403, 404, *_ANY)}),
                 "getAlertRule", _path("rule_id"))
    change = _named(_op("Change an alert rule", "admin", security=ADMIN_AUTH, request=_CHANGE,
                        description="The fields given replace the stored ones; the whole rule is checked again. "
                                    + _WRITE,
                        responses={"200": _json(_RULE, "the rule"), **_errors(*_BODY, 401, 403, 404, 409, *_ANY)}),
                    "updateAlertRule", _path("rule_id"))
    delete = _named(_op("Delete an alert rule, its alerts and their delivery log", "admin", security=ADMIN_AUTH,
                        description=_WRITE, responses={"204": {"description": "deleted"},
                                                       **_errors(401, 403, 404, *_ANY)}),
                    "deleteAlertRule", _path("rule_id"))
    test = _named(_op("Send a test notification to one of the rule's channels", "admin", security=ADMIN_AUTH,
                      description="`index` is the channel's position in `channels`, from 0. Sent now, once (no "
                                  "retry); 200 either way, `delivered` and `response` say what the channel "
                                  "answered. Logged in the delivery log. " + _WRITE,
                      responses={"200": _json(_TEST, "the channel's answer"), **_errors(401, 403, 404, *_ANY)}),
                  "testAlertChannel", _path("rule_id"), _path("index"))
    history = _named(_op("The alert history, newest first", "admin", security=ADMIN_AUTH, description=_READ,
                         responses={"200": _json({"type": "object", "required": ["items", "next"], "properties": {
                             "items": {"type": "array", "items": _ALERT}, "next": {"type": ["string", "null"]}}},
                             "one page"), **_errors(401, 403, 422, *_ANY)}),
                     "listAlerts",
                     _query("state", "pending, firing, resolved, or open (pending and firing)",
                            {"type": "string", "enum": ["pending", "firing", "resolved", "open"]}),
                     _query("rule_id", "one rule's", {"type": "string", "pattern": "^[0-9]+$"}),
                     _query("severity", "one severity", {"type": "string", "enum": list(alert_rules.SEVERITIES)}),
                     _query("service", "one service's"), _query("app_id", "one client's"),
                     _query("since", "started at or after (ISO 8601)"),
                     _query("after", "the `next` cursor of the previous page"),
                     _query("limit", "rows per page (default 50)", {"type": "integer", "minimum": 1, "maximum": 200}))
    item = _named(_op("One alert with its deliveries", "admin", security=ADMIN_AUTH, description=_READ,
                      responses={"200": _json(_ALERT, "the alert and `deliveries`"), **_errors(401, 403, 404, *_ANY)}),
                  "getAlert", _path("alert_id"))
    ack = _named(_op("Acknowledge an alert", "admin", security=ADMIN_AUTH,
                     description="No more repeat notices for this alert; its resolution is still announced. "
                                 "409 when resolved or already acknowledged. " + _WRITE,
                     responses={"200": _json(_ALERT, "acknowledged"), **_errors(400, 401, 403, 404, 409, *_ANY)}),
                 "acknowledgeAlert", _path("alert_id"))
    secret = _named(_op("Reveal the secret alert webhooks are signed with", "admin", security=ADMIN_AUTH,
                        description="Alert webhooks carry `MosPay-Signature: t=<unix>,v1=<hex>` as client "
                                    "webhooks do, with this secret (derived from SECRET_KEY, never stored). "
                                    + _WRITE,
                        responses={"200": _json({"type": "object", "properties": {"signing_secret": _TEXT}},
                                                "the secret"), **_errors(400, 401, 403, *_ANY)}),
                    "revealAlertSigningSecret")
    return {
        f"{_BASE}/alert-rules": {"get": listing, "post": create},
        f"{_BASE}/alert-rules/{{rule_id}}": {"get": get, "patch": change, "delete": delete},
        f"{_BASE}/alert-rules/{{rule_id}}/channels/{{index}}/test": {"post": test},
        f"{_BASE}/alerts": {"get": history},
        f"{_BASE}/alerts/{{alert_id}}": {"get": item},
        f"{_BASE}/alerts/{{alert_id}}/acknowledge": {"post": ack},
        f"{_BASE}/alert-signing-secret": {"post": secret},
    }
