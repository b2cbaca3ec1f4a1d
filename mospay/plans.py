"""A request function's SERVICE plan carried out, for a payment and a refund alike: the provider call under
the service's breaker, and the result to record when no answer came back."""

from __future__ import annotations

import logging

from .breaker import Breaker
from .credentials import CredentialStore
from .metrics import Metrics
from .provider import NOT_SENT, Provider, ProviderAnswer, call_planned


def call_service(provider: Provider, breaker: Breaker, metrics: Metrics, service: str, plan: dict,
                 connect_timeout_s: float, timeout_s: float, *, credentials: CredentialStore | None,
                 app_id: str, log: logging.Logger, what: str) -> tuple[ProviderAnswer | None, dict | None, float | None]:
    """(answer, result, provider_ms): the provider's answer, or None and the result to record in its place;
    provider_ms is how long a call that left the gateway took (answered, timed out or unreachable), else None.
    A fault inside the call is logged to `log` under `what` (e.g. "payment <id>")."""
    try:
        answer = call_planned(provider, breaker, metrics, service, plan, connect_timeout_s, timeout_s,
                              default_method="POST", credentials=credentials, app_id=app_id)
    except Exception:
        # A fault of the gateway's own (a bug, the database gone while credentials are read) after the
        # payment or refund was recorded: whether the provider got the call is not known, so it is UNKNOWN
        # and the reconciler asks; never a 500 that a client could read as "nothing happened".
        log.exception("%s: the provider call failed inside the gateway", what)
        breaker.release()
        return None, no_answer_result("gateway_error"), None
    provider_ms = answer.elapsed_ms if answer.failure not in NOT_SENT else None
    if not answer.answered:
        return None, no_answer_result(answer.failure), provider_ms
    return answer, None, provider_ms


def no_answer_result(failure: str | None) -> dict:
    """No HTTP answer: the money may have moved, so the outcome is UNKNOWN, never FAILED.
    The one exception is a plan we never sent: nothing left the gateway, so it did fail."""
    if failure == "invalid_request":
        return {"status": "FAILED", "message": "the request function produced an unusable service call",
                "reason": "invalid service call"}
    if failure == "missing_credential":
        return {"status": "FAILED", "message": "a provider credential the request function names has no value; "
                "nothing was sent to the provider", "reason": "missing credential"}
    if failure == "refused_destination":
        return {"status": "FAILED", "message": "the service URL points where provider calls may not go; "
                "nothing was sent to the provider", "reason": "refused destination"}
    messages = {"timeout": "the provider did not answer in time; outcome unknown, it will be checked",
                "connection": "the provider could not be reached; outcome unknown, it will be checked",
                "gateway_error": "the gateway failed while calling the provider; outcome unknown, it will be checked"}
    return {"status": "UNKNOWN", "message": messages.get(failure, "outcome unknown"),
            "reason": f"provider {failure}"}
