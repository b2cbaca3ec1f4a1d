"""Admin API for refunds: a payment's refunds, an operator's refund of it and an operator's resolution of an
open refund (mospay.refunds, the functions the admin portal calls too: a reason is required, audited)."""

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


class RefundResolve(AdminResource):
    """POST {"status": "SUCCESSFUL"|"FAILED", "reason"}: an operator settles an open refund of this payment
    (admin, super_admin; audited); 404 for a refund not this payment's, 409 for one already final."""

    def on_post(self, req, resp, transaction_id, refund):
        user = self._writer(req)
        data = strict_body(req, self._config, ("status", "reason"))
        resp.media = refunds.resolve_by_operator(self._db, self._actor(req, user), transaction_id, refund,
                                                 data.get("status"), data.get("reason"))
