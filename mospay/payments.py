"""The payment flow, free of HTTP: validate, record, ask the request function, call the provider,
interpret the answer through the RESPONSE function, record the final state.

Three database round trips in all: the context (client + service), start_payment (records the
transaction and calls the request function), finish_payment (RESPONSE function, final state, API log).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time

from . import errors, functions, metrics, validators
from .auth import BAD_CREDENTIALS, BasicCredentials, check_secret
from .breaker import BREAKERS, Breakers
from .db import Database
from .provider import Provider
from .redact import MASK, mask

MSISDN_RE = re.compile(r"\+?[1-9][0-9]{6,14}")
INTEGER_RE = re.compile(r"-?[0-9]{1,18}")
F010_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
HTTP_STATUS = {"SUCCESSFUL": 200, "FAILED": 402, "PENDING": 202, "UNKNOWN": 202, "RECEIVED": 202}
MAX_REPLAY_WAIT_S = 15.0  # a replay of an in-flight payment waits at most this long for its answer

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


@dataclasses.dataclass(frozen=True)
class ClientCredentials:
    """Who the caller says it is: Basic (username + secret + App-ID header) or verified token claims."""
    app_id: str
    basic: BasicCredentials | None = None
    token_version: int | None = None


@dataclasses.dataclass(frozen=True)
class Outcome:
    http_status: int
    body: dict


def authenticate(row: dict | None, creds: ClientCredentials, secret_key: str) -> dict:
    """Check credentials against the client row; every failure is the same 401."""
    if row is None or not row["client_active"]:
        raise errors.Unauthorized(BAD_CREDENTIALS)
    if creds.basic is not None:
        ok = check_secret(creds.basic.secret, row["api_secret_hash"], secret_key)
        ok = ok and creds.basic.username == row["api_username"]
    else:
        ok = creds.token_version == row["credential_version"]
    if not ok:
        raise errors.Unauthorized(BAD_CREDENTIALS)
    return row


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
        if spec["pattern"] and not re.fullmatch(spec["pattern"], value):
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


class PaymentGateway:
    def __init__(self, db: Database, provider: Provider, secret_key: str, breakers: Breakers = BREAKERS,
                 callback_base: str | None = None, admit=None):
        self._db = db
        self._callback_base = callback_base
        self._provider = provider
        self._secret_key = secret_key
        self._admit = admit  # per-client rate limit (mospay.security.RateLimiter.admit_context), or None
        self._breakers = breakers

    def process(self, creds: ClientCredentials, body: dict, log: dict) -> Outcome:
        """One payment, top to bottom. `log` collects the API log fields as they become known."""
        check_shape(body)
        ctx = self._db.one("payment_context", app_id=creds.app_id, service=body["f000"])
        authenticate(ctx, creds, self._secret_key)
        log["client_id"] = ctx["client_id"]
        if self._admit is not None:
            self._admit(ctx)
        if body["f003"] != ctx["app_id"]:
            raise errors.Forbidden("f003 must be your App ID", field="f003", code="app_id_mismatch")
        if ctx["service_id"] is None or not ctx["service_active"]:
            raise errors.NotFound("unknown service", field="f000", code="service_not_found")
        if not ctx["assignment_active"]:
            raise errors.Forbidden("this service is not assigned to you", field="f000",
                                   code="service_not_assigned")
        if body["f002"] not in (ctx["routes"] or []):
            raise errors.Forbidden("this route is not assigned to you", field="f002", code="route_not_assigned")
        fields = ctx["fields"] or []
        validate_fields(body, fields)
        masked = masked_request(body, fields)
        log["request_body"] = masked
        breaker = self._breakers.get(body["f000"])
        breaker.allow()  # a provider that keeps failing gets no new calls: 503 before anything is written

        function = functions.request_function_name(ctx["app_id"], body["f000"], body["f002"])
        started = self._db.one(
            "start_payment", client_id=ctx["client_id"], service_id=ctx["service_id"], route=body["f002"],
            f010=body["f010"], amount=body.get("f004") or None, msisdn=body.get("f005"),
            request=json.dumps(masked), request_hash=request_hash(masked, fields), function=function,
            data=json.dumps(self._function_input(body)))
        if started["o_replay"]:
            breaker.release()
            wait_s = min(MAX_REPLAY_WAIT_S, float(ctx["connect_timeout_s"] + ctx["timeout_s"]) + 1)
            return self._replay(started, request_hash(masked, fields), time.monotonic() + wait_s)

        plan = started["o_plan"]
        answer, result = None, None
        action = plan.get("action") if isinstance(plan, dict) else None
        if action == "SERVICE":
            answer = self._provider.call(
                str(plan.get("method") or "POST").upper(), plan.get("serviceurl"), plan.get("headers"),
                plan.get("servicepayload"), float(ctx["connect_timeout_s"]), float(ctx["timeout_s"]))
            metrics.observe_provider_call(body["f000"], answer.status, answer.failure, answer.elapsed_ms)
            breaker.record(transport_failure=answer.failure in ("timeout", "connection"))
            if not answer.answered:
                result = _no_answer_result(answer.failure)
                answer = None
        elif action == "OUTPUT":
            result = {"status": str(plan.get("status") or "SUCCESSFUL"), "message": plan.get("message"),
                      "output": plan.get("servicepayload"), "reason": "request function output"}
        else:
            result = {"status": "FAILED", "message": str(plan.get("message") if isinstance(plan, dict) else "")
                      or "refused by the request function", "reason": "request function error"}
        if action != "SERVICE":
            breaker.release()

        log["duration_ms"] = round((time.perf_counter() - log.pop("started")) * 1000, 2)
        finished = self._db.one(
            "finish_payment", id=started["o_id"],
            function=functions.response_function_name_unchecked(function) if answer else None,
            f010=body["f010"], data=json.dumps(masked), code=answer.status if answer else None,
            output=json.dumps(mask(answer.body)) if answer else None,
            result=json.dumps(result) if result is not None else None, log=json.dumps(log, default=str))
        log["written"] = True
        metrics.observe_payment(body["f000"], str((finished["o_response_body"] or {}).get("status", "UNKNOWN")))
        return Outcome(finished["o_response_code"], finished["o_response_body"])

    def _function_input(self, body: dict) -> dict:
        """What the request function receives: the fields, and where the provider may call back."""
        if not self._callback_base:
            return body
        return {**body, "_callback_url": f"{self._callback_base}/api/v1/callbacks/{body['f000']}"}

    def _replay(self, row: dict, body_hash: str, deadline: float) -> Outcome:
        """The first request's answer. While the first is still in flight (in any process), wait for
        it, bounded by the provider call's own timeouts; never call the provider a second time."""
        if row["o_request_hash"] != body_hash:
            raise errors.Conflict("f010 was already used with a different request", field="f010",
                                  code="idempotency_conflict")
        code, answer, pause = row["o_response_code"], row["o_response_body"], 0.02
        while answer is None and time.monotonic() + pause < deadline:
            time.sleep(pause)
            pause = min(pause * 2, 0.25)
            stored = self._db.query("stored_answer", id=row["o_id"])[0]
            code, answer = stored["response_code"], stored["response_body"]
        if answer is None:
            raise errors.Conflict("a payment with this f010 is still in progress; retry shortly", field="f010",
                                  code="in_progress", headers={"Retry-After": "2"})
        return Outcome(code, answer)

    def lookup(self, creds: ClientCredentials, f010: str, log: dict) -> Outcome:
        """The client's own transaction by f010 (other clients' f010s are simply not found)."""
        client = authenticate(self._db.one("client_by_app_id", app_id=creds.app_id), creds, self._secret_key)
        log["client_id"] = client["client_id"]
        if not isinstance(f010, str) or not F010_RE.fullmatch(f010):
            raise errors.InvalidField("must be 1-64 letters, digits or _.:-", field="f010")
        row = self._db.one("transaction_by_f010", client_id=client["client_id"], f010=f010)
        if row is None:
            raise errors.NotFound("no transaction with this f010", field="f010", code="transaction_not_found")
        row["amount"] = str(row["amount"])
        for key in ("created_at", "updated_at"):
            row[key] = row[key].isoformat()
        return Outcome(200, row)


def _no_answer_result(failure: str | None) -> dict:
    """No HTTP answer: the money may have moved, so the outcome is UNKNOWN, never FAILED.
    The one exception is a plan we never sent: nothing left the gateway, so it did fail."""
    if failure == "invalid_request":
        return {"status": "FAILED", "message": "the request function produced an unusable service call",
                "reason": "invalid service call"}
    messages = {"timeout": "the provider did not answer in time; outcome unknown, it will be checked",
                "connection": "the provider could not be reached; outcome unknown, it will be checked"}
    return {"status": "UNKNOWN", "message": messages.get(failure, "outcome unknown"),
            "reason": f"provider {failure}"}
