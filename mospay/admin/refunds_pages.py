"""The admin portal's refunds on the transaction page: refund a payment (mandatory reason) and settle an open
refund by hand, through mospay.refunds (the admin API's actions too: audited with the operator)."""

from __future__ import annotations

import falcon

from .. import errors, refunds
from .operations import TransactionItem
from .web import actor, form, see_other

OUTCOME_ERRORS = (errors.InvalidField, errors.Conflict, errors.ServiceUnavailable, errors.FunctionError)


class TransactionRefund(TransactionItem):
    """POST amount (empty: what is left) + reason (admin, super_admin). A refusal (no reason, more than is
    left, not refundable) re-renders the page with its message and the draft kept; success is a 303 back."""

    def __init__(self, db, caller: refunds.RefundCaller):
        super().__init__(db)
        self._caller = caller

    def on_get(self, req, resp, public_id):
        see_other(resp, f"/admin/transactions/{public_id}#refunds")

    def on_post(self, req, resp, public_id):
        data = form(req)
        draft = {"amount": (data.get("amount") or "").strip()[:32], "reason": (data.get("reason") or "")[:500]}
        try:
            refunds.refund_by_operator(self._db, self._caller, actor(req), public_id,
                                       {"amount": draft["amount"] or None, "reason": data.get("reason")})
        except OUTCOME_ERRORS as exc:
            status = {409: falcon.HTTP_409, 503: falcon.HTTP_503, 502: falcon.HTTP_502}.get(exc.status, falcon.HTTP_422)
            return self.show(req, resp, public_id, status=status, refund_error=exc, refund_draft=draft)
        see_other(resp, f"/admin/transactions/{public_id}#refunds")


class RefundResolve(TransactionItem):
    """POST status + reason (admin, super_admin): an open refund becomes SUCCESSFUL or FAILED (after asking the
    provider). A missing reason re-renders the page with 422; one already final with 409."""

    def on_post(self, req, resp, public_id, refund):
        data = form(req)
        try:
            refunds.resolve_by_operator(self._db, actor(req), public_id, refund, data.get("status"),
                                        data.get("reason"))
        except (errors.InvalidField, errors.Conflict) as exc:
            status = falcon.HTTP_409 if isinstance(exc, errors.Conflict) else falcon.HTTP_422
            return self.show(req, resp, public_id, status=status, refund_error=exc)
        see_other(resp, f"/admin/transactions/{public_id}#refunds")
