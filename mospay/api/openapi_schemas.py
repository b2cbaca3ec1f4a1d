"""The OpenAPI document's shared schemas (components/schemas): the payment request with the standard fields'
rules, its answer and transaction, credentials, services, assignments, limits, errors and the webhook event.
Part of the document mospay/api/openapi.py assembles."""

from __future__ import annotations


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


_PAYMENT_FIELDS = {
    "f000": "microservice (service) name, e.g. mtnmomorwa", "f001": "service, e.g. collection",
    "f002": "route, e.g. collection", "f003": "your App ID", "f004": "amount, e.g. 1000.00",
    "f005": "mobile number, e.g. +250788123456", "f006": "username",
    "f007": "encrypted password (secret: never stored or logged)",
    "f008": "password (secret: never stored or logged)", "f009": "device id",
    "f010": "your unique id: the idempotency key, 1-64 of A-Za-z0-9_.:-, not only dots",
}

# The checks mospay.payments applies with the standard field definitions (STANDARD_FIELDS), as JSON Schema.
_NAME = {"pattern": "^[a-z0-9]{1,24}$"}
_F010 = {"pattern": "^[A-Za-z0-9_.:-]{1,64}$"}  # any stored f010: what POST /api/v1/payment/status reads
# A new payment's f010 (mospay.payment_fields.check_shape): not only dots, which HTTP clients drop from a URL path.
_NEW_F010 = {"minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_.:-]*[A-Za-z0-9_:-][A-Za-z0-9_.:-]*$"}
_PAYMENT_RULES = {
    "f000": _NAME, "f001": {"minLength": 1, "maxLength": 64}, "f002": _NAME,
    "f003": {"pattern": "^[A-Za-z0-9]{1,24}$"}, "f004": {"pattern": "^[0-9]{1,15}(\\.[0-9]{1,2})?$"},
    "f005": {"pattern": "^\\+?[1-9][0-9]{6,14}$"}, "f006": {"minLength": 1, "maxLength": 64},
    "f007": {"minLength": 1, "maxLength": 1024}, "f008": {"minLength": 1, "maxLength": 256},
    "f009": {"minLength": 1, "maxLength": 128}, "f010": _NEW_F010,
}
_TEXT = {"type": "string"}
_WHEN = {"type": "string", "format": "date-time"}

SCHEMAS = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string", "examples": ["invalid_field"]},
            "message": {"type": "string"},
            "field": {"type": "string", "examples": ["f004"]}}}},
    },
    "Token": {
        "type": "object", "required": ["access_token", "token_type", "expires_in"],
        "properties": {"access_token": {"type": "string"}, "token_type": {"const": "Bearer"},
                       "expires_in": {"type": "integer", "examples": [3600]}},
    },
    "PaymentRequest": {
        "type": "object",
        "required": sorted(_PAYMENT_FIELDS),
        "description": "All values are strings. A service may define extra fields f011-f999 (its "
                       "`service_fields`): send them in the same object, next to f000-f010, e.g. "
                       "`\"f011\": \"INV-7\"`. Any other name, or a field the service does not define, is "
                       "refused (422 unknown_field), and the service's definitions decide which are required. "
                       "The constraints shown are those of the standard field definitions.",
        "properties": {code: {"type": "string", "description": text, **_PAYMENT_RULES[code]}
                       for code, text in _PAYMENT_FIELDS.items()},
        # additionalProperties (not patternProperties, which generators ignore) so that a generated
        # model keeps f011-f999 in its additional properties and sends them; propertyNames keeps the
        # document as strict as the server's check (mospay.payment_fields.check_shape).
        "propertyNames": {"pattern": "^f[0-9]{3}$"},
        "additionalProperties": {"type": "string", "description": "an extra field f011-f999 of the service"},
    },
    "PaymentStatus": {"type": "string", "enum": ["RECEIVED", "PENDING", "SUCCESSFUL", "FAILED", "UNKNOWN"]},
    "PaymentResult": {
        "type": "object", "required": ["transaction_id", "f010", "status", "result"],
        "properties": {"transaction_id": {"type": "string", "examples": ["txn_3f9a..."]},
                       "f010": {"type": "string"}, "status": _ref("PaymentStatus"),
                       "result": {"type": "object", "description": "what the client's RESPONSE function returned"}},
    },
    "Transaction": {
        # What PaymentGateway.lookup returns (the transaction_by_f010 query): every key, always.
        "type": "object",
        "required": ["transaction_id", "f010", "status", "amount", "msisdn", "route", "service", "result",
                     "created_at", "updated_at", "refunded_amount", "refunds"],
        "properties": {"transaction_id": _TEXT, "f010": _TEXT, "status": _ref("PaymentStatus"),
                       "amount": {"type": "string", "examples": ["1000.00"]},
                       "msisdn": {"type": ["string", "null"], "description": "f005, when the payment had one"},
                       "route": {"type": "string", "description": "f002"},
                       "service": {"type": "string", "description": "f000"},
                       "result": {"type": ["object", "null"], "description":
                                  "what the client's RESPONSE function returned (null while RECEIVED)"},
                       "created_at": _WHEN, "updated_at": _WHEN,
                       "refunded_amount": {"type": "string", "description": "the SUCCESSFUL refunds' sum"},
                       "refunds": {"type": "array", "description": "its refunds, oldest first",
                                   "items": {"type": "object", "additionalProperties": True}}},
        "additionalProperties": True,
    },
    "Credentials": {
        # What mospay.accounts.create_client returns.
        "type": "object",
        "required": ["app_id", "company_name", "api_username", "api_secret", "webhook_secret", "active",
                     "created_at"],
        "properties": {"app_id": _TEXT, "company_name": _TEXT, "api_username": _TEXT,
                       "api_secret": {"type": "string", "description": "shown this once"},
                       "webhook_secret": {"type": "string", "description":
                                          "signs the webhooks (MosPay-Signature); shown this once"},
                       "active": {"type": "boolean"}, "created_at": _WHEN},
    },
    "RotatedCredentials": {
        # What mospay.accounts.rotate_credentials returns: a new API secret only (not Credentials: no
        # webhook secret, company or dates).
        "type": "object", "required": ["app_id", "api_username", "api_secret", "generation", "previous_generation",
                                       "previous_expires_at", "overlap_s"],
        "properties": {"app_id": _TEXT, "api_username": _TEXT,
                       "api_secret": {"type": "string", "description": "shown this once"},
                       "generation": {"type": "integer", "description": "the new secret's generation"},
                       "previous_generation": {"type": "integer"},
                       "previous_expires_at": {**_WHEN, "description": "until when the old secret and its "
                                               "tokens keep working (now, with no overlap)"},
                       "overlap_s": {"type": "integer", "minimum": 0, "maximum": 604800}},
    },
    "SecretGeneration": {
        # What mospay.client_keys.generations returns, one per generation: never a hash.
        "type": "object", "required": ["generation", "state", "created_at", "expires_at", "last_used_at",
                                       "last_used_ip"],
        "properties": {"generation": {"type": "integer"}, "state": {"enum": ["current", "overlap", "expired"]},
                       "created_at": _WHEN, "expires_at": {"type": ["string", "null"], "format": "date-time"},
                       "last_used_at": {"type": ["string", "null"], "format": "date-time",
                                        "description": "at most a minute stale"},
                       "last_used_ip": {"type": ["string", "null"]}},
    },
    "Service": {
        # What mospay.catalogue.create_service returns.
        "type": "object",
        "required": ["name", "display_name", "service_url", "currency", "timeout_s", "connect_timeout_s",
                     "active", "created_at"],
        "properties": {"name": _TEXT, "display_name": _TEXT, "service_url": _TEXT, "currency": _TEXT,
                       "timeout_s": {"type": "number"}, "connect_timeout_s": {"type": "number"},
                       "active": {"type": "boolean"}, "created_at": _WHEN},
    },
    "Assignment": {
        # What mospay.catalogue.assign_service returns.
        "type": "object", "required": ["app_id", "service", "routes", "functions"],
        "properties": {"app_id": _TEXT, "service": _TEXT, "routes": {"type": "array", "items": _TEXT},
                       "functions": {"type": "array", "items": _TEXT,
                                     "description": "the PostgreSQL functions (re)created for the routes"}},
    },
    "ClientLimits": {
        # What mospay.security.set_client_limits returns.
        "type": "object",
        "required": ["app_id", "rate_limit_per_minute", "max_amount_per_transaction", "max_amount_per_day"],
        "properties": {"app_id": _TEXT, "rate_limit_per_minute": {"type": ["integer", "null"]},
                       "max_amount_per_transaction": {"type": ["string", "null"]},
                       "max_amount_per_day": {"type": ["string", "null"]}},
    },
    "ProviderCredential": {
        "type": "object", "required": ["service", "name", "last4"],
        "properties": {"service": {"type": "string"}, "app_id": {"type": ["string", "null"]},
                       "name": {"type": "string"}, "last4": {"type": "string", "description": "never the value"},
                       "created_at": {"type": "string"}, "updated_at": {"type": "string"}},
    },
    "Health": {"type": "object", "properties": {"status": {"type": "string"}}},
    "WebhookEvent": {
        "type": "object", "description": "a transaction reaching its final state",
        "properties": {"transaction_id": {"type": "string"}, "f010": {"type": "string"},
                       "status": _ref("PaymentStatus"), "result": {"type": "object"}},
    },
}
