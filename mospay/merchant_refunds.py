"""A merchant user's refunds (merchant portal, owner/finance): the API's refund (mospay.refunds) of one of its
client's payments, named by public id and scoped to the client in SQL, with a required reason; audited."""

from __future__ import annotations

import secrets

from . import errors, refunds
from .audit import Actor, audit
from .merchant_roles import MerchantUser, allowed
from .payments import Outcome

FORM_TOKEN_PREFIX = "portal_"
OPEN = ("RECEIVED", "PENDING", "UNKNOWN")


def new_refund_id() -> str:
    """The refund_id a refund form carries (made when the page is drawn): submitting the same form twice
    is the same refund_id, so the second submit replays the first refund instead of refunding again."""
    return FORM_TOKEN_PREFIX + secrets.token_hex(12)


def refund(db, caller: refunds.RefundCaller, actor: Actor, me: MerchantUser, transaction_id: str,
           data: dict) -> Outcome:
    """{"refund_id", "amount"? (empty: what is left), "reason"} for the client's payment `transaction_id`
    (404 when it is not this client's). A reason of 3-500 characters is required, as an operator's. The answer
    is refunds.refund's (200/202/402); refusals raise (422, 409, 503). Audited with the merchant user."""
    if not allowed(me.role, "refund"):
        raise errors.Forbidden("your role does not allow refunds", code="insufficient_role")
    if not isinstance(data, dict):
        raise errors.BadRequest("the body must be a form", code="malformed_form")
    payment = refunds.client_payment(db, me.client_id, transaction_id)  # first: another's id is a 404, whatever else
    reason = data.get("reason")
    if not isinstance(reason, str) or len(reason) > refunds.MAX_REASON or len(reason.strip()) < 3:
        raise errors.InvalidField(f"a reason of 3-{refunds.MAX_REASON} characters is required", field="reason")
    body = {"refund_id": data.get("refund_id"), "reason": reason.strip()}
    if data.get("amount") not in (None, ""):
        body["amount"] = data["amount"]
    outcome = refunds.refund(db, caller, me.client_id, payment["f010"], body, operator=actor.username)
    audit(db, actor, "transaction.refund", "transaction", transaction_id, None,
          {k: outcome.body.get(k) for k in ("id", "refund_id", "amount", "currency", "status", "reason")})
    return outcome


def of_payment(db, me: MerchantUser, transaction_id: str) -> list[dict]:
    """The client's own payment's refunds, oldest first (404 when the payment is not this client's)."""
    return refunds.of_client_payment(db, me.client_id, transaction_id)


def notice(rows: list[dict], refund_public_id: str | None) -> dict | None:
    """The message the page shows after a refund (the 303 names it): from the client's own refund rows only,
    so a refund id from elsewhere shows nothing. {"kind": "ok" | "wait" | "failed", "text"}."""
    row = next((r for r in rows if refund_public_id and r["id"] == refund_public_id), None)
    if row is None:
        return None
    amount = f"{row['amount']:.2f} {row['currency']}"
    if row["status"] == "SUCCESSFUL":
        return {"kind": "ok", "text": f"Refunded {amount} ({row['id']})."}
    if row["status"] in OPEN:
        return {"kind": "wait", "text": f"Refund of {amount} sent; the provider has not confirmed it yet "
                                        f"({row['status']}). This page shows the outcome when it is known."}
    result = row.get("result") if isinstance(row.get("result"), dict) else {}
    why = result.get("message") or result.get("reason") or row.get("status_reason") or "declined"
    return {"kind": "failed", "text": f"The refund of {amount} was declined: {why}."}
