"""A payment request's fields: the shape every request must have before the database is asked, each value
against its service's field definitions, the masked copy that is stored, and the hash that tells a replay
from a different request with the same f010. Also the eleven standard fields a new service starts with."""

from __future__ import annotations

import hashlib
import json
import re

from . import errors, functions, patterns, validators
from .redact import MASK

MSISDN_RE = re.compile(r"\+?[1-9][0-9]{6,14}")
INTEGER_RE = re.compile(r"-?[0-9]{1,18}")
F010_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # what a lookup accepts: every f010 ever stored
# A new payment's f010 must not be only dots: HTTP clients resolve "." and ".." path segments away, so
# GET /api/v1/payment/{f010} could never reach it (older ones stay readable by POST /api/v1/payment/status).
DOTS_RE = re.compile(r"\.+")

# The eleven standard fields every new service starts with (editable per service later).
STANDARD_FIELDS = [
    # code, label, type, required, max_length, pattern, secret
    ("f000", "Microservice name", "string", True, 24, "[a-z0-9]+", False),
    ("f001", "Service", "string", True, 64, None, False),
    ("f002", "Route", "string", True, 24, "[a-z0-9]+", False),
    ("f003", "App ID", "string", True, 24, "[A-Za-z0-9]+", False),
    ("f004", "Amount", "amount", True, None, None, False),
    ("f005", "Mobile number", "msisdn", True, None, None, False),
    ("f006", "Username", "string", True, 64, None, False),
    ("f007", "Encrypted password", "string", True, 1024, None, True),
    ("f008", "Password", "string", True, 256, None, True),
    ("f009", "Device ID", "string", True, 128, None, False),
    ("f010", "Unique ID", "string", True, 64, "[A-Za-z0-9_.:-]+", False),
]


def check_shape(body: dict) -> dict:
    """Only f-codes, only strings, and the routing fields present: before anything touches the database."""
    for key, value in body.items():
        if not validators.is_field_code(key):
            raise errors.InvalidField(f"unknown field {key[:40]!r}; only f000-f999 are accepted",
                                      field=key[:40], code="unknown_field")
        if not isinstance(value, str):
            raise errors.InvalidField("must be a string", field=key, code="invalid_type")
    for code in ("f000", "f002", "f003", "f010"):
        if not body.get(code):
            raise errors.InvalidField("is required", field=code, code="missing_field")
    if not functions.NAME_RE.fullmatch(body["f000"]):
        raise errors.NotFound("unknown service", field="f000", code="service_not_found")
    if not functions.NAME_RE.fullmatch(body["f002"]):
        raise errors.InvalidField("must be 1-24 lowercase letters or digits", field="f002")
    if not F010_RE.fullmatch(body["f010"]):
        raise errors.InvalidField("must be 1-64 letters, digits or _.:-", field="f010")
    if DOTS_RE.fullmatch(body["f010"]):
        raise errors.InvalidField("must not be only dots: HTTP clients drop . and .. from a URL path",
                                  field="f010")
    return body


def validate_fields(body: dict, fields: list[dict]) -> None:
    """Each value against its service_fields definition (type, required, max length, pattern)."""
    defined = {f["code"]: f for f in fields}
    for key in body:
        if key not in defined:
            raise errors.InvalidField("is not a field of this service", field=key, code="unknown_field")
    for code, spec in sorted(defined.items()):
        value = body.get(code)
        if value is None or value == "":
            if spec["required"]:
                raise errors.InvalidField("is required", field=code, code="missing_field")
            continue
        if spec["max_length"] and len(value) > spec["max_length"]:
            raise errors.InvalidField(f"is longer than {spec['max_length']} characters", field=code)
        kind = spec["type"]
        if kind == "amount":
            validators.amount(value, code)
        elif kind == "msisdn" and not MSISDN_RE.fullmatch(value):
            raise errors.InvalidField("must be a phone number like +250788123456", field=code)
        elif kind == "integer" and not INTEGER_RE.fullmatch(value):
            raise errors.InvalidField("must be a whole number", field=code)
        if spec["pattern"] and not patterns.fullmatch(spec["pattern"], value, code):
            raise errors.InvalidField("has an invalid format", field=code)


def masked_request(body: dict, fields: list[dict]) -> dict:
    secret = {f["code"] for f in fields if f["secret"]}
    return {k: (MASK if k in secret and v else v) for k, v in body.items()}


def request_hash(masked: dict, fields: list[dict]) -> str:
    """Canonical hash of the non-secret fields: the same f010 with another body is a conflict."""
    secret = {f["code"] for f in fields if f["secret"]}
    canonical = json.dumps({k: v for k, v in masked.items() if k not in secret}, sort_keys=True,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
