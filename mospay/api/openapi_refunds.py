"""OpenAPI operations of refunds: a client's refund of its payment (mospay/api/refunds.py) and the admin
API's (mospay/api/admin_refunds.py). Merged into the document by openapi._paths()."""

from __future__ import annotations

from .openapi import _ANY, _BODY, _JSON, _NEW_F010, ADMIN_AUTH, CLIENT_AUTH, _errors, _json, _op

_TEXT = {"type": "string"}
_AMOUNT = {"type": "string", "pattern": "^[0-9]{1,15}(\\.[0-9]{1,2})?$", "examples": ["500.00"]}
_STATUS = {"type": "string", "enum": ["RECEIVED", "PENDING", "SUCCESSFUL", "FAILED", "UNKNOWN"]}
_KEY = {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$",
        "description": "your idempotency key for this refund (unique per client)"}
REFUND = {
    "type": "object", "required": ["id", "refund_id", "transaction_id", "f010", "status", "amount", "currency"],
    "properties": {"id": {"type": "string", "examples": ["rfd_5c1e..."]}, "refund_id": _TEXT,
                   "transaction_id": {"type": "string", "description": "the payment's"},
                   "f010": {"type": "string", "description": "the payment's"}, "status": _STATUS,
                   "amount": _AMOUNT, "currency": _TEXT, "reason": {"type": ["string", "null"]},
                   "result": {"type": ["object", "null"], "description": "what the refund RESPONSE function returned"}},
}
_CURL = """
curl -s -X POST http://127.0.0.1:5000/api/v1/payment/order-1001/refund \\
  -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
  -d '{"refund_id": "refund-1001-1", "amount": "400.00", "reason": "one item returned"}'
"""
_AMOUNT_IN = {"type": ["string", "number", "null"],
              "description": "at most 2 decimals; absent or null: what is left to refund"}
_KEY_IN = {**_KEY, "type": ["string", "null"]}  # an operator's may be absent or null: one is made up
_ANSWERS = {"200": _json(REFUND, "SUCCESSFUL"),
            "202": _json(REFUND, "PENDING or UNKNOWN (the reconciler settles it; a webhook follows)"),
            "402": _json(REFUND, "FAILED: declined by the provider (the amount is free to refund again)")}
_RULES = ("Refusals: 404 transaction_not_found; 422 refund_exceeds_payment (the non-failed refunds and this one "
          "would pass the payment's amount), 422 payment_not_refundable (the payment is not SUCCESSFUL, its "
          "service's refund window has passed, or it has 10 refunds already); 409 idempotency_conflict (the "
          "refund_id was used with another body). The same refund_id with the same body answers the first "
          "answer, and never calls the provider twice.")


def paths() -> dict:
    client = _op("Refund a payment (all of what is left, or part)", "client", security=CLIENT_AUTH, curl=_CURL,
                 operation_id="refundPayment", description=_RULES,
                 request={"type": "object", "required": ["refund_id"], "additionalProperties": False,
                          "properties": {"refund_id": _KEY, "amount": _AMOUNT_IN,
                                         "reason": {"type": ["string", "null"], "maxLength": 500}}},
                 # Not only dots: HTTP clients resolve "." and ".." path segments away (as for GET .../{f010}).
                 parameters=[{"name": "f010", "in": "path", "required": True, "schema": {"type": "string", **_NEW_F010}}],
                 responses={**_ANSWERS, **_errors(*_BODY, 401, 404, 409, 502, *_ANY)})
    transaction = [{"name": "transaction_id", "in": "path", "required": True, "schema": _TEXT}]
    listing = _op("A payment's refunds, oldest first", "admin", security=ADMIN_AUTH, operation_id="listRefunds",
                  description="Read by every role (viewer, admin, super_admin).", parameters=transaction,
                  responses={"200": _json({"type": "object", "required": ["items"], "properties": {
                      "items": {"type": "array", "items": {"type": "object", "additionalProperties": True}}}},
                      "the refunds"), **_errors(401, 403, 404, *_ANY)})
    create = _op("Refund a payment as an operator (reason required; audited)", "admin", security=ADMIN_AUTH,
                 operation_id="createRefund", parameters=transaction,
                 description="admin and super_admin. Without refund_id one is made up (a retry is then another "
                             "refund). " + _RULES,
                 request={"type": "object", "required": ["reason"], "additionalProperties": False,
                          "properties": {"refund_id": _KEY_IN, "amount": _AMOUNT_IN,
                                         "reason": {"type": "string", "minLength": 3, "maxLength": 500}}},
                 responses={**_ANSWERS, **_errors(*_BODY, 401, 403, 404, 409, 502, *_ANY)})
    resolve = _op("Settle an open refund by hand (after asking the provider; audited)", "admin",
                  security=ADMIN_AUTH, operation_id="resolveRefund",
                  parameters=[*transaction, {"name": "refund", "in": "path", "required": True, "schema": _TEXT,
                                             "description": "the refund's id (rfd_...)"}],
                  description="admin and super_admin. 404 for a refund that is not this payment's, 409 "
                              "already_final for one that is final.",
                  request={"type": "object", "required": ["status", "reason"], "additionalProperties": False,
                           "properties": {"status": {"type": "string", "enum": ["SUCCESSFUL", "FAILED"]},
                                          "reason": {"type": "string", "minLength": 3, "maxLength": 500}}},
                  responses={"200": _json({"type": "object", "required": ["id", "transaction_id", "status"],
                                           "properties": {"id": _TEXT, "transaction_id": _TEXT, "status": _STATUS}},
                                          "settled"), **_errors(*_BODY, 401, 403, 404, 409, *_ANY)})
    return {"/api/v1/payment/{f010}/refund": {"post": client},
            "/api/v1/admin/transactions/{transaction_id}/refunds": {"get": listing, "post": create},
            "/api/v1/admin/transactions/{transaction_id}/refunds/{refund}/resolve": {"post": resolve}}


def webhooks() -> dict:
    return {"refund.final": {"post": {
        "summary": "Sent to the client's callback_url when a refund reaches its final state "
                   "(type refund.succeeded or refund.failed), signed as payment events are",
        "operationId": "refundFinalWebhook",
        "requestBody": {"content": {_JSON: {"schema": {"type": "object", "description":
                        "data: id (rfd_...), refund_id, transaction_id and f010 (the payment's), status, amount, "
                        "currency, reason, result, updated_at"}}}},
        "responses": {"2XX": {"description": "received; anything else is retried"}},
    }}}
