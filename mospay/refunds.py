"""Refunds, free of HTTP: a client's (or an operator's) refund of a SUCCESSFUL payment through the client's
refund functions, with the payment path's money rules. PostgreSQL decides (mospay.start_refund); this reads it.

Two round trips around the provider call, as a payment: start_refund (the cap, window and count limit under
the payment's row lock; the refund recorded RECEIVED; the request function's plan), finish_refund.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import secrets
import time
from decimal import Decimal

from . import errors, functions, validators
from .audit import Actor, audit
from .breaker import Breakers
from .credentials import CredentialStore
from .db import Database
from .function_editor import install
from .metrics import Metrics
from .payments import F010_RE, MAX_REPLAY_WAIT_S, LogFacts, Outcome, RequestMeta
from .plans import call_service
from .provider import Provider
from .redact import mask

log = logging.getLogger("mospay.refunds")
MAX_REFUNDS_PER_PAYMENT = 10  # Hyperswitch's limit: every refund attempt counts, failed ones too
MAX_REASON = 500
REFUSALS = {"refund_exceeds_payment", "payment_not_refundable"}


@dataclasses.dataclass(frozen=True)
class RefundCaller:
    """What a refund needs to reach the provider: the app's shared provider client, breakers and metrics
    (Components), the credential store, and the base URL a provider may call back."""
    provider: Provider
    breakers: Breakers
    metrics: Metrics
    credentials: CredentialStore | None = None
    callback_base: str | None = None


def check_body(data: dict) -> dict:
    """{"refund_id", "amount"?, "reason"?}: the refund_id as an f010 (1-64 of A-Za-z0-9_.:-), the amount as
    a payment's (text or a JSON number, at most 2 decimals), a reason of at most 500 characters."""
    if not isinstance(data, dict):
        raise errors.BadRequest("the body must be a JSON object", code="malformed_json")
    unknown = sorted(set(data) - {"refund_id", "amount", "reason"})
    if unknown:
        raise errors.InvalidField("unknown field; known: refund_id, amount, reason", field=str(unknown[0])[:40],
                                  code="unknown_field")
    refund_id = data.get("refund_id")
    if not isinstance(refund_id, str) or not F010_RE.fullmatch(refund_id):
        raise errors.InvalidField("is required: 1-64 letters, digits or _.:-", field="refund_id")
    amount = data.get("amount")
    if amount is not None:
        if isinstance(amount, bool) or not isinstance(amount, (str, int, Decimal)):
            raise errors.InvalidField("must be a positive decimal with at most 2 places, like 500.00", field="amount")
        text = str(amount) if not isinstance(amount, Decimal) else format(amount, "f")
        amount = validators.amount(text, "amount").quantize(Decimal("0.01"))
    reason = data.get("reason")
    if reason is not None:
        if not isinstance(reason, str) or len(reason) > MAX_REASON:
            raise errors.InvalidField(f"must be text of at most {MAX_REASON} characters", field="reason")
        reason = reason.strip() or None
    return {"refund_id": refund_id, "amount": amount, "reason": reason}


def request_hash(f010: str, body: dict) -> str:
    """The same refund_id with another body (payment, amount or reason) is a conflict."""
    canonical = json.dumps({"f010": f010, "refund_id": body["refund_id"], "reason": body["reason"],
                            "amount": None if body["amount"] is None else str(body["amount"])},
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def ensure_functions(db: Database, app_id: str, service: str) -> None:
    """Create the client's refund functions for a service from the default template when they are missing:
    assignments made before refunds existed (an upgraded database) get theirs on their first refund."""
    names = functions.refund_function_names(app_id, service)
    if names is None:
        return
    with db.transaction() as tx:
        if tx.one("refund_functions_present", names=list(names))["n"] == len(names):
            return  # another process created them meanwhile
        install(tx, functions.create_refund_function_ddl(app_id, service), list(names))
    log.info("created the default refund functions of %s for %s", app_id, service)


def refund(db: Database, caller: RefundCaller, client_id: int, f010: str, data: dict, *,
           operator: str | None = None, request: RequestMeta | None = None) -> Outcome:
    """Refund the client's payment `f010`. `operator`: who asked, for an operator's refund (admin portal or API);
    `request`: the client API call, whose API log row is written with the outcome. The answer's HTTP status
    is 200 SUCCESSFUL, 202 PENDING / UNKNOWN, 402 FAILED; refusals raise (404, 409, 422)."""
    facts = LogFacts(client_id=client_id)
    try:
        return _refund(db, caller, client_id, f010, data, operator, request, facts)
    except errors.MosPayError as exc:
        exc.log_facts = facts
        raise


def _refund(db, caller, client_id, f010, data, operator, request, facts) -> Outcome:
    body = check_body(data)
    facts.request_body = {"f010": f010, **body, "amount": None if body["amount"] is None else str(body["amount"])}
    if not isinstance(f010, str) or not F010_RE.fullmatch(f010):
        raise errors.InvalidField("must be 1-64 letters, digits or _.:-", field="f010")
    payment = db.one("refund_payment", client_id=client_id, f010=f010)
    if payment is None:
        raise errors.NotFound("no payment with this f010", field="f010", code="transaction_not_found")
    names = functions.refund_function_names(payment["app_id"], payment["service"])
    if names is None:
        raise errors.InvalidField("refunds are not available for this service: the app id and service name are "
                                  "too long for PostgreSQL's function names", code="payment_not_refundable")
    body_hash = request_hash(f010, body)
    breaker = caller.breakers.get(payment["service"])
    breaker.allow()  # a provider that keeps failing gets no refund calls: 503 before anything is written
    callback = (f"{caller.callback_base}/api/v1/callbacks/{payment['service']}" if caller.callback_base else None)
    params = dict(client_id=client_id, f010=f010, refund_id=body["refund_id"],
                  amount=None if body["amount"] is None else str(body["amount"]), reason=body["reason"],
                  request_hash=body_hash, function=names[0],
                  data=json.dumps({"_callback_url": callback} if callback else {}),
                  max_refunds=MAX_REFUNDS_PER_PAYMENT, operator=operator)
    try:
        try:
            started = db.one("start_refund", **params)
        except errors.FunctionError as exc:
            if exc.code != "function_missing":
                raise
            ensure_functions(db, payment["app_id"], payment["service"])
            started = db.one("start_refund", **params)
    except BaseException:
        breaker.release()
        raise
    outcome = started["o_outcome"]
    if outcome != "started":
        breaker.release()
    if outcome == "payment_not_found":
        raise errors.NotFound("no payment with this f010", field="f010", code="transaction_not_found")
    if outcome in REFUSALS:
        raise errors.InvalidField(started["o_message"], code=outcome,
                                  field="amount" if outcome == "refund_exceeds_payment" else None)
    if outcome == "replay":
        if started["o_request_hash"] != body_hash:
            raise errors.Conflict("refund_id was already used with a different request", field="refund_id",
                                  code="idempotency_conflict")
        wait_s = min(MAX_REPLAY_WAIT_S, float(payment["connect_timeout_s"] + payment["timeout_s"]) + 1)
        return Outcome(*_replay(db, started, time.monotonic() + wait_s), facts)
    answer, result = _call(caller, payment, started, breaker)
    try:
        finished = db.one(
            "finish_refund", id=started["o_id"], function=names[1] if answer else None,
            code=answer.status if answer else None, output=json.dumps(mask(answer.body)) if answer else None,
            result=json.dumps(result) if result is not None else None,
            log=json.dumps(request.log_row(client_id, payment["app_id"])) if request else None)
    except Exception as exc:
        # Recorded (RECEIVED) and maybe sent: never "nothing happened". The reconciler settles it.
        log.warning("refund %s: could not record the outcome (%s); answering UNKNOWN", started["o_id"],
                    getattr(exc, "message", type(exc).__name__), exc_info=not isinstance(exc, errors.MosPayError))
        return Outcome(202, unrecorded_answer(db, started["o_id"]), facts)
    facts.written = request is not None
    return Outcome(finished["o_response_code"], finished["o_response_body"], facts)


def _call(caller: RefundCaller, payment: dict, started: dict, breaker):
    """The provider call the refund request function planned: (answer, None), or (None, the gateway's result)."""
    plan = started["o_plan"]
    action = plan.get("action") if isinstance(plan, dict) else None
    if action == "SERVICE":
        answer, result, _ = call_service(caller.provider, breaker, caller.metrics, payment["service"], plan,
                                         float(payment["connect_timeout_s"]), float(payment["timeout_s"]),
                                         credentials=caller.credentials, app_id=payment["app_id"], log=log,
                                         what=f"refund {started['o_id']}")
        return answer, result
    breaker.release()
    if action == "OUTPUT":
        return None, {"status": str(plan.get("status") or "SUCCESSFUL"), "message": plan.get("message"),
                      "reason": "request function output"}
    return None, {"status": "FAILED", "reason": "request function error",
                  "message": str(plan.get("message") if isinstance(plan, dict) else "") or "refused by the refund function"}


def _replay(db: Database, row: dict, deadline: float) -> tuple[int, dict]:
    """The first refund's answer; while it is in flight (any process), wait for it within the provider call's
    deadline; then the current state as a 202. The provider is never called a second time."""
    code, answer, pause = row["o_response_code"], row["o_response_body"], 0.02
    while answer is None and time.monotonic() + pause < deadline:
        time.sleep(pause)
        pause = min(pause * 2, 0.25)
        stored = db.one("refund_stored_answer", id=row["o_id"])
        if stored["response_body"] is not None:
            code, answer = stored["response_code"], stored["response_body"]
        elif stored["open_answer"] is not None:
            code, answer = stored["open_code"], stored["open_answer"]
    if answer is None:
        raise errors.Conflict("a refund with this refund_id is still in progress; retry shortly", field="refund_id",
                              code="in_progress", headers={"Retry-After": "2"})
    return code, answer


def unrecorded_answer(db: Database, refund_uuid) -> dict:
    """Recorded, maybe sent, outcome not recordable: UNKNOWN, in the answer's usual shape when readable."""
    result = {"status": "UNKNOWN", "message": "the outcome could not be recorded; it will be checked"}
    try:
        row = db.one("refund_current_answer", id=refund_uuid)
    except errors.MosPayError:
        row = None
    known = row["answer"] if row else {"id": "rfd_" + refund_uuid.hex}  # public_id's rule (schema/35_refunds.sql)
    return {**known, "status": "UNKNOWN", "result": result}


def refund_by_operator(db: Database, caller: RefundCaller, actor: Actor, transaction_id: str, data: dict) -> Outcome:
    """An operator refunds a client's payment (admin portal and API): a reason of 3-500 characters is
    required; without a refund_id one is made up (then a retry is a new refund). Audited with the operator."""
    if not isinstance(data, dict):
        raise errors.BadRequest("the body must be a JSON object", code="malformed_json")
    reason = data.get("reason")
    if not isinstance(reason, str) or len(reason) > MAX_REASON or len(reason.strip()) < 3:
        raise errors.InvalidField(f"a reason of 3-{MAX_REASON} characters is required", field="reason")
    payment = payment_of(db, transaction_id)
    refund_id = data.get("refund_id")  # absent or null: made up (then a retry is another refund)
    body = {"refund_id": "op_" + secrets.token_hex(8) if refund_id is None else refund_id, "reason": reason.strip()}
    if data.get("amount") is not None:
        body["amount"] = data["amount"]
    outcome = refund(db, caller, payment["client_id"], payment["f010"], body, operator=actor.username)
    audit(db, actor, "transaction.refund", "transaction", transaction_id, None,
          {k: outcome.body.get(k) for k in ("id", "refund_id", "amount", "currency", "status", "reason")})
    return outcome


def resolve_by_operator(db: Database, actor: Actor, transaction_id: str, refund_public_id: str, status,
                        reason) -> dict:
    """An operator settles an open (typically stuck) refund of this payment as SUCCESSFUL or FAILED after asking
    the provider, with a reason: through the refund state machine (history with who and why, webhook), audited.
    404 for a refund that is not this payment's, 409 for one already final."""
    if status not in ("SUCCESSFUL", "FAILED"):
        raise errors.InvalidField("must be SUCCESSFUL or FAILED", field="status")
    if not isinstance(reason, str) or len(reason) > MAX_REASON or len(reason.strip()) < 3:
        raise errors.InvalidField(f"a reason of 3-{MAX_REASON} characters is required", field="reason")
    found = db.one("refund_of_transaction", public_id=refund_public_id, transaction_id=transaction_id) if (
        isinstance(refund_public_id, str) and isinstance(transaction_id, str)
        and len(refund_public_id) <= 64 and len(transaction_id) <= 64) else None
    if found is None:
        raise errors.NotFound("this payment has no such refund", field="refund", code="refund_not_found")
    try:
        db.query("resolve_refund", public_id=refund_public_id, status=status, actor=actor.username,
                 reason=reason.strip())
    except errors.Conflict:
        raise errors.Conflict("this refund is already final", field="status", code="already_final") from None
    audit(db, actor, "refund.resolve", "refund", refund_public_id, {"status": found["status"]},
          {"status": status, "reason": reason.strip(), "transaction_id": transaction_id})
    return {"id": refund_public_id, "transaction_id": transaction_id, "status": status}


def payment_of(db: Database, transaction_id: str) -> dict:
    """A payment by its public id, for an operator (any client's): 404 when there is none."""
    row = db.one("refund_payment_by_public_id", public_id=transaction_id) if (
        isinstance(transaction_id, str) and len(transaction_id) <= 64) else None
    if row is None:
        raise errors.NotFound("no such transaction", field="transaction_id", code="transaction_not_found")
    return row


def of_transaction(db: Database, transaction_id: str) -> list[dict]:
    """An operator's view of a payment's refunds (404 for an unknown payment)."""
    payment = payment_of(db, transaction_id)
    return of_payment(db, payment["client_id"], payment["id"])


def refund_client_payment(db: Database, caller: RefundCaller, client_id: int, transaction_id: str, data: dict, *,
                          operator: str) -> Outcome:
    """A merchant user's refund of one of its client's payments, named by its public id (the merchant portal):
    404 for any payment that is not this client's. The caller checks the user's role and audits."""
    return refund(db, caller, client_id, client_payment(db, client_id, transaction_id)["f010"], data,
                  operator=operator)


def of_client_payment(db: Database, client_id: int, transaction_id: str) -> list[dict]:
    """A client's own payment's refunds, by the payment's public id (404 when it is not this client's)."""
    return of_payment(db, client_id, client_payment(db, client_id, transaction_id)["id"])


def client_payment(db: Database, client_id: int, transaction_id: str) -> dict:
    row = db.one("client_payment_f010", client_id=client_id, public_id=transaction_id) if (
        isinstance(transaction_id, str) and len(transaction_id) <= 64) else None
    if row is None:
        raise errors.NotFound("no such transaction", field="transaction_id", code="transaction_not_found")
    return row


def of_payment(db: Database, client_id: int, transaction_id: int) -> list[dict]:
    """A payment's refunds, oldest first (the portals' transaction pages)."""
    return db.query("refunds_of_payment", client_id=client_id, transaction_id=transaction_id)


def history(db: Database, refund_public_id: str) -> list[dict]:
    return db.query("refund_history", public_id=refund_public_id)
