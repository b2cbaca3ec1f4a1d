"""POST /api/v1/payment/{f010}/refund: a client refunds its own payment (client auth as the payment endpoints)."""

from __future__ import annotations

import falcon

from .. import refunds
from ..auth import Tokens
from ..db import Database
from ..payments import LogFacts, authenticate
from .common import client_credentials, read_json


class PaymentRefund:
    def __init__(self, db: Database, caller: refunds.RefundCaller, tokens: Tokens, secret_key: str, max_body: int):
        self._db = db
        self._caller = caller
        self._tokens = tokens
        self._secret_key = secret_key
        self._max_body = max_body

    def on_post(self, req, resp, f010):
        creds = client_credentials(req, self._tokens)
        client = authenticate(self._db.one("client_by_app_id", app_id=creds.app_id), creds, self._secret_key)
        req.context.log_facts = LogFacts(client_id=client["client_id"])
        body = read_json(req, self._max_body)
        outcome = refunds.refund(self._db, self._caller, client["client_id"], f010, body,
                                 request=req.context.request)
        req.context.log_facts = outcome.facts
        resp.status = falcon.code_to_http_status(outcome.http_status)
        resp.media = outcome.body
