"""The merchant portal's refund form on the transaction page (owner, finance): mospay.merchant_refunds, the
API's refund scoped to the signed-in client. A refusal re-renders the page with its message; a refund is a 303."""

from __future__ import annotations

import falcon

from .. import errors, merchant_refunds, refunds
from .records_pages import TransactionItem
from .web import actor, form, see_other

# What re-renders the form with a message (nothing was refunded); anything else is the error page.
REFUSALS = (errors.InvalidField, errors.Conflict, errors.ServiceUnavailable, errors.FunctionError)
KEEP_TOKEN = {"in_progress"}  # the first submit may still refund: a retry must stay the same refund


class TransactionRefund(TransactionItem):
    """POST /portal/transactions/{transaction_id}/refunds: refund_id (the form's token), amount (empty: what is
    left), reason. Another client's transaction is a 404 and nothing is written."""
    actions = {"GET": "read", "POST": "refund"}

    def __init__(self, db, caller: refunds.RefundCaller):
        super().__init__(db)
        self._caller = caller

    def on_get(self, req, resp, transaction_id):
        merchant_refunds.of_payment(self._db, req.context.merchant, transaction_id)  # 404 for another's
        see_other(resp, f"/portal/transactions/{transaction_id}#refunds")

    def on_post(self, req, resp, transaction_id):
        data, me = form(req), req.context.merchant
        draft = {"amount": (data.get("amount") or "").strip()[:32], "reason": (data.get("reason") or "")[:500]}
        try:
            outcome = merchant_refunds.refund(self._db, self._caller, actor(req), me, transaction_id,
                                              {"refund_id": data.get("refund_id"), "amount": draft["amount"],
                                               "reason": data.get("reason")})
        except REFUSALS as exc:
            if exc.code in KEEP_TOKEN:
                draft["refund_id"] = data.get("refund_id")
            status = {409: falcon.HTTP_409, 503: falcon.HTTP_503, 502: falcon.HTTP_502}.get(exc.status,
                                                                                          falcon.HTTP_422)
            return self.show(req, resp, transaction_id, status=status, refund_error=exc, refund_draft=draft)
        query = falcon.to_query_str({"refund": outcome.body.get("id")}) if outcome.body.get("id") else ""
        see_other(resp, f"/portal/transactions/{transaction_id}{query}#refunds")
