"""Admin API for refunds: a payment's refunds, and an operator's refund of it (mospay.refunds, the function
the admin portal calls too: a reason is required, the refund is audited with the operator)."""

from __future__ import annotations

import falcon

from .. import refunds
from ..auth import Tokens
from .admin import AdminResource
from .admin_records import plain
from .common import strict_body


class TransactionRefunds(AdminResource):
    """GET: the payment's refunds, oldest first (every role). POST {"refund_id"?, "amount"?, "reason"}: refund
    it (admin, super_admin); answers as the client API does: 200 SUCCESSFUL, 202 PENDING / UNKNOWN, 402 FAILED."""

    def __init__(self, db, tokens: Tokens, config, caller: refunds.RefundCaller):
        super().__init__(db, tokens, config)
        self._caller = caller

    def on_get(self, req, resp, transaction_id):
        self._reader(req)
        resp.media = {"items": [plain(row) for row in refunds.of_transaction(self._db, transaction_id)]}
        resp.cache_control = ["no-store"]

    def on_post(self, req, resp, transaction_id):
        user = self._writer(req)
        data = strict_body(req, self._config, ("refund_id", "amount", "reason"))
        outcome = refunds.refund_by_operator(self._db, self._caller, self._actor(req, user), transaction_id, data)
        resp.status = falcon.code_to_http_status(outcome.http_status)
        resp.media = outcome.body
