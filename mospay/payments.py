"""The payment flow, free of HTTP: validate, record, ask the request function, call the provider,
interpret the answer through the RESPONSE function, record the final state.

Two database round trips in all: start_payment (checks that the cached client + service context is
current, records the transaction and calls the request function), finish_payment (RESPONSE function,
final state, API log row).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time

from . import client_keys, errors, functions
from .auth import BAD_CREDENTIALS, BasicCredentials
from .breaker import Breakers
from .credentials import CredentialStore
from .db import Database
from .metrics import Metrics
from .payment_fields import (
    DOTS_RE,
    F010_RE,
    INTEGER_RE,
    MSISDN_RE,
    STANDARD_FIELDS,
    check_shape,
    masked_request,
    request_hash,
    validate_fields,
)
from .plans import call_service
from .provider import Provider
from .redact import mask
from .security import RateLimits

# The request's field rules live in payment_fields.py; their names stay importable from here, where
# callers (the API, reports, callbacks, tests) have always found them.
__all__ = ["DOTS_RE", "F010_RE", "INTEGER_RE", "MAX_REPLAY_WAIT_S", "MSISDN_RE", "STANDARD_FIELDS",
           "ClientCredentials", "LogFacts", "Outcome", "PaymentGateway", "RequestMeta", "authenticate",
           "authenticate_key", "authorise", "check_shape", "masked_request", "request_hash", "unrecorded_answer",
           "validate_fields"]
log = logging.getLogger("mospay.payments")
MAX_CACHED_CONTEXTS = 10_000  # (app id, service) pairs; the whole cache is dropped past this
MAX_REPLAY_WAIT_S = 15.0  # a replay of an in-flight payment waits at most this long for its answer


@dataclasses.dataclass(frozen=True)
class ClientCredentials:
    """Who the caller says it is: Basic (username + secret + App-ID header) or verified token claims."""
    app_id: str
    basic: BasicCredentials | None = None
    token_version: int | None = None
    # A batch row: the client authenticated when it uploaded the batch, and a second person approved it
    # (mospay/batches.py); the client must still be active when the row is paid.
    batch: bool = False


@dataclasses.dataclass(frozen=True)
class RequestMeta:
    """What the API log row says about the HTTP request itself, handed in by the API layer."""
    request_id: str
    endpoint: str
    method: str
    ip: str | None
    user_agent: str | None
    started: float  # time.perf_counter() when the request arrived

    def log_row(self, client_id: int | None, app_id: str | None, key_generation: int | None = None) -> dict:
        """key_generation: the API secret generation that authenticated (its last use is recorded)."""
        return {"request_id": self.request_id, "client_id": client_id, "app_id": app_id,
                "key_generation": key_generation,
                "endpoint": self.endpoint, "method": self.method, "ip": self.ip, "user_agent": self.user_agent,
                "duration_ms": round((time.perf_counter() - self.started) * 1000, 2)}


@dataclasses.dataclass
class LogFacts:
    """What a payment call learned that belongs in its API log row, and whether it wrote the row itself."""
    client_id: int | None = None
    request_body: dict | None = None  # masked
    written: bool = False
    key_generation: int | None = None  # which API secret generation authenticated (client_keys)


@dataclasses.dataclass(frozen=True)
class Outcome:
    http_status: int
    body: dict
    facts: LogFacts = dataclasses.field(default_factory=LogFacts)


def authenticate(row: dict | None, creds: ClientCredentials, secret_key: str) -> dict:
    """Check credentials against the client row; every failure is the same 401."""
    authenticate_key(row, creds, secret_key)
    return row


def authenticate_key(row: dict | None, creds: ClientCredentials, secret_key: str) -> int | None:
    """The generation of the API secret (or of the token's secret) that the credentials match: the
    current one, or an older one still in its overlap after a roll (client_keys). Else the same 401."""
    if row is None or not row["client_active"]:
        raise errors.Unauthorized(BAD_CREDENTIALS)
    if creds.batch:  # a batch row: no API secret presented now (the upload was authenticated)
        return None
    generation = client_keys.matching_generation(row, creds.basic, creds.token_version, secret_key)
    if generation is None:
        raise errors.Unauthorized(BAD_CREDENTIALS)
    return generation


def authorise(ctx: dict, body: dict) -> list[dict]:
    """What an authenticated client may ask for: its own app id, an assigned service and route, and
    fields valid for that service. Returns the service's field definitions."""
    if body["f003"] != ctx["app_id"]:
        raise errors.Forbidden("f003 must be your App ID", field="f003", code="app_id_mismatch")
    if ctx["service_id"] is None or not ctx["service_active"]:
        raise errors.NotFound("unknown service", field="f000", code="service_not_found")
    if not ctx["assignment_active"]:
        raise errors.Forbidden("this service is not assigned to you", field="f000", code="service_not_assigned")
    if body["f002"] not in (ctx["routes"] or []):
        raise errors.Forbidden("this route is not assigned to you", field="f002", code="route_not_assigned")
    fields = ctx["fields"] or []
    validate_fields(body, fields)
    return fields


class PaymentGateway:
    def __init__(self, db: Database, provider: Provider, secret_key: str, breakers: Breakers | None = None,
                 callback_base: str | None = None, limits: RateLimits | None = None, metrics: Metrics | None = None,
                 credentials: CredentialStore | None = None):
        """`breakers` and `metrics` come from create_app (shared with the reconciler and /metrics);
        without them the gateway keeps private ones. Without `limits`, no per-client rate limit.
        `credentials`: where `{{credential:name}}` in a plan is looked up (without it, a plan naming
        one fails before anything is sent)."""
        self._db = db
        self._credentials = credentials
        self._callback_base = callback_base
        self._provider = provider
        self._secret_key = secret_key
        self._limits = limits
        self._rate_default = limits.default_per_minute if limits is not None else 0
        self._breakers = breakers if breakers is not None else Breakers()
        self._metrics = metrics if metrics is not None else Metrics()
        # (app_id, service) -> the payment context last read, stamp included: start_payment records
        # only when the stamp is still current, so a stale entry costs one round trip, never a wrong decision.
        self._contexts: dict[tuple[str, str], dict] = {}

    def process(self, creds: ClientCredentials, body: dict, request: RequestMeta) -> Outcome:
        """One payment, top to bottom: two database round trips around the provider call. A refusal
        raised from here carries what the API log row should say (`exc.log_facts`)."""
        check_shape(body)
        facts = LogFacts()
        try:
            return self._process(creds, body, request, facts)
        except errors.MosPayError as exc:
            exc.log_facts = facts
            raise

    def _process(self, creds: ClientCredentials, body: dict, request: RequestMeta, facts: LogFacts) -> Outcome:
        ctx, started, breaker, function, masked_json, body_hash = self._start(creds, body, facts)
        if started["o_replay"]:
            breaker.release()
            wait_s = min(MAX_REPLAY_WAIT_S, float(ctx["connect_timeout_s"] + ctx["timeout_s"]) + 1)
            return Outcome(*self._replay(started, body_hash, time.monotonic() + wait_s), facts)

        plan = started["o_plan"]
        answer, result, provider_ms = None, None, None
        action = plan.get("action") if isinstance(plan, dict) else None
        if action == "SERVICE":
            answer, result, provider_ms = call_service(
                self._provider, breaker, self._metrics, body["f000"], plan, float(ctx["connect_timeout_s"]),
                float(ctx["timeout_s"]), credentials=self._credentials, app_id=ctx["app_id"], log=log,
                what=f"payment {started['o_public_id']}")
        elif action == "OUTPUT":
            breaker.release()
            result = {"status": str(plan.get("status") or "SUCCESSFUL"), "message": plan.get("message"),
                      "output": plan.get("servicepayload"), "reason": "request function output"}
        else:
            breaker.release()
            result = {"status": "FAILED", "message": str(plan.get("message") if isinstance(plan, dict) else "")
                      or "refused by the request function", "reason": "request function error"}

        try:
            finished = self._db.one(
                "finish_payment", id=started["o_id"],
                function=functions.response_function_name_unchecked(function) if answer else None,
                reference=started["o_reference"], data=masked_json, code=answer.status if answer else None,
                output=json.dumps(mask(answer.body)) if answer else None,
                result=json.dumps(result) if result is not None else None,
                log=json.dumps({**request.log_row(facts.client_id, creds.app_id, facts.key_generation),
                                "provider_ms": provider_ms}))
        except Exception as exc:
            # The transaction is committed (RECEIVED) and the provider may have moved the money: the
            # answer can no longer be "nothing was recorded". It is UNKNOWN with the transaction id;
            # the reconciler settles the row once its call's deadline has passed.
            log.warning("payment %s: could not record the outcome (%s); answering UNKNOWN",
                        started["o_public_id"], getattr(exc, "message", type(exc).__name__),
                        exc_info=not isinstance(exc, errors.MosPayError))  # a bug's traceback, not an outage's
            self._metrics.observe_payment(body["f000"], "UNKNOWN")
            return Outcome(202, unrecorded_answer(started["o_public_id"], body["f010"]), facts)
        facts.written = True  # finish_payment wrote the API log row in the same round trip
        self._metrics.observe_payment(body["f000"], str((finished["o_response_body"] or {}).get("status", "UNKNOWN")))
        return Outcome(finished["o_response_code"], finished["o_response_body"], facts)

    def _start(self, creds: ClientCredentials, body: dict, facts: LogFacts):
        """Round trip 1: decide on the context (cached, or read through start_payment itself), then
        record. Every refusal taken on a cached context is taken again on a fresh one before it stands."""
        key = (creds.app_id, body["f000"])
        ctx, cached = self._contexts.get(key), True
        for _attempt in range(3):  # a context changed under every attempt is not worth waiting for
            if ctx is None:
                ctx, cached = self._read_context(key), False
            try:
                facts.client_id = None
                facts.key_generation = authenticate_key(ctx, creds, self._secret_key)
                facts.client_id = ctx["client_id"]
                fields = authorise(ctx, body)
            except errors.MosPayError:
                if not cached:
                    raise
                self._contexts.pop(key, None)
                ctx = None
                continue
            masked = masked_request(body, fields)
            facts.request_body = masked
            breaker = self._breakers.get(body["f000"])
            breaker.allow()  # a provider that keeps failing gets no new calls: 503 before anything is written
            function = functions.request_function_name(ctx["app_id"], body["f000"], body["f002"])
            masked_json, body_hash = json.dumps(masked), request_hash(masked, fields)
            started = self._db.one(
                "start_payment", app_id=creds.app_id, service=body["f000"], stamp=ctx["stamp"],
                route=body["f002"], f010=body["f010"], amount=body.get("f004") or None, msisdn=body.get("f005"),
                request=masked_json, request_hash=body_hash, function=function,
                data=json.dumps(self._function_input(body)), rate_default=self._rate_default)
            if started["o_id"] is not None:
                return ctx, started, breaker, function, masked_json, body_hash
            breaker.release()  # nothing was recorded: over the rate limit, or the context changed since cached
            if started["o_retry_after"]:
                self._limits.check(ctx, "payment", started["o_retry_after"])
            ctx, cached = self._remember(key, started["o_context"]), False
        raise errors.ServiceUnavailable("the client's configuration is changing; retry shortly")

    def context(self, app_id: str, service: str) -> dict | None:
        """The client's current payment context for a service (fields, routes, assignment), as the payment
        path itself decides on it: what a batch upload validates its rows against."""
        return self._read_context((app_id, service))

    def _read_context(self, key: tuple[str, str]) -> dict | None:
        """start_payment without a stamp records nothing and answers the current context."""
        row = self._db.one("start_payment", app_id=key[0], service=key[1], stamp=None, route=None, f010=None,
                           amount=None, msisdn=None, request=None, request_hash=None, function=None, data=None,
                           rate_default=self._rate_default)
        return self._remember(key, row["o_context"])

    def _remember(self, key: tuple[str, str], ctx: dict | None) -> dict | None:
        if ctx is None:  # unknown app id: nothing to cache
            self._contexts.pop(key, None)
            return None
        if len(self._contexts) >= MAX_CACHED_CONTEXTS:
            self._contexts.clear()
        self._contexts[key] = ctx
        return ctx

    def _function_input(self, body: dict) -> dict:
        """What the request function receives: the fields, and where the provider may call back."""
        if not self._callback_base:
            return body
        return {**body, "_callback_url": f"{self._callback_base}/api/v1/callbacks/{body['f000']}"}

    def _replay(self, row: dict, body_hash: str, deadline: float) -> tuple[int, dict]:
        """The first request's answer. While the first is still in flight (in any process), wait for
        it, bounded by the provider call's own timeouts; once it is gone, the current state (a 202).
        Never call the provider a second time."""
        if row["o_request_hash"] != body_hash:
            raise errors.Conflict("f010 was already used with a different request", field="f010",
                                  code="idempotency_conflict")
        code, answer, pause = row["o_response_code"], row["o_response_body"], 0.02
        while answer is None and time.monotonic() + pause < deadline:
            time.sleep(pause)
            pause = min(pause * 2, 0.25)
            stored = self._db.query("stored_answer", id=row["o_id"])[0]
            # No stored answer, but the first request is known to be gone (its call's deadline passed,
            # its process's database session closed, or the reconciler has moved the row): nothing will
            # store one until the row is final, so the answer is the current state, as a 202.
            if stored["response_body"] is not None:
                code, answer = stored["response_code"], stored["response_body"]
            elif stored["open_answer"] is not None:
                code, answer = stored["open_code"], stored["open_answer"]
        if answer is None:
            raise errors.Conflict("a payment with this f010 is still in progress; retry shortly", field="f010",
                                  code="in_progress", headers={"Retry-After": "2"})
        return code, answer

    def lookup(self, creds: ClientCredentials, f010: str) -> Outcome:
        """The client's own transaction by f010 (other clients' f010s are simply not found)."""
        facts = LogFacts()
        try:
            client = self._db.one("client_by_app_id", app_id=creds.app_id)
            facts.key_generation = authenticate_key(client, creds, self._secret_key)
            facts.client_id = client["client_id"]
            if not isinstance(f010, str) or not F010_RE.fullmatch(f010):
                raise errors.InvalidField("must be 1-64 letters, digits or _.:-", field="f010")
            per_minute = self._limits.per_minute(client) if self._limits is not None else 0
            row = self._db.one("transaction_by_f010", client_id=client["client_id"], f010=f010, per_minute=per_minute)
            wait = row.pop("retry_after")
            if wait:  # only ever non-zero with limits: per_minute 0 takes no token
                self._limits.check(client, "status", wait)
            if row["transaction_id"] is None:
                raise errors.NotFound("no transaction with this f010", field="f010", code="transaction_not_found")
        except errors.MosPayError as exc:
            exc.log_facts = facts
            raise
        row["amount"] = str(row["amount"])
        for key in ("created_at", "updated_at"):
            row[key] = row[key].isoformat()
        return Outcome(200, row, facts)


def unrecorded_answer(transaction_id: str, f010: str) -> dict:
    """The answer when the payment was recorded (and maybe sent to the provider) but its outcome could
    not be: the same shape as mospay.public_answer, status UNKNOWN."""
    result = {"status": "UNKNOWN", "message": "the outcome could not be recorded (database unavailable); "
                                              "it will be checked"}
    return {"transaction_id": transaction_id, "f010": f010, "status": "UNKNOWN", "result": result}

