"""Client-facing resources: token, payment, payment status."""

from __future__ import annotations

import falcon

from .. import errors
from ..auth import Tokens
from ..payments import PaymentGateway, authenticate_key
from ..security import RateLimits
from .common import client_credentials, read_json


class TokenResource:
    """POST /api/v1/auth/token: Basic credentials + App-ID in, a bearer token out."""

    def __init__(self, db, tokens: Tokens, secret_key: str, limits: RateLimits | None = None):
        self._db = db
        self._limits = limits
        self._tokens = tokens
        self._secret_key = secret_key

    def on_post(self, req, resp):
        creds = client_credentials(req, self._tokens)
        if creds.basic is None:
            raise errors.Unauthorized("a token is issued for Basic credentials only")
        client = self._db.one("client_by_app_id", app_id=creds.app_id)
        # The token carries the generation of the secret it was issued for: a token issued with a rolled
        # secret stops working when that secret does (client_keys).
        generation = authenticate_key(client, creds, self._secret_key)
        req.context.log["client_id"] = client["client_id"]
        req.context.log["key_generation"] = generation
        if self._limits is not None:
            self._limits.take(client, "token")  # after authentication: a stranger cannot spend the bucket
        token = self._tokens.issue("client", client["app_id"], generation)
        resp.media = {"access_token": token, "token_type": "Bearer", "expires_in": self._tokens.ttl_s}
        resp.cache_control = ["no-store"]


class PaymentCollection:
    """POST /api/v1/payment/process."""

    def __init__(self, gateway: PaymentGateway, tokens: Tokens, max_body: int):
        self._gateway = gateway
        self._tokens = tokens
        self._max_body = max_body

    def on_post(self, req, resp):
        creds = client_credentials(req, self._tokens)
        body = read_json(req, self._max_body)
        outcome = self._gateway.process(creds, body, req.context.request)
        req.context.log_facts = outcome.facts  # ApiLog decides what to write from them
        resp.status = falcon.code_to_http_status(outcome.http_status)
        resp.media = outcome.body


class PaymentItem:
    """GET /api/v1/payment/{f010}, and POST /api/v1/payment/status with {"f010": ...} (the original API)."""

    def __init__(self, gateway: PaymentGateway, tokens: Tokens, max_body: int):
        self._gateway = gateway
        self._tokens = tokens
        self._max_body = max_body

    def on_get(self, req, resp, f010):
        creds = client_credentials(req, self._tokens)
        self._answer(req, resp, self._gateway.lookup(creds, f010))

    def on_post_status(self, req, resp):
        creds = client_credentials(req, self._tokens)
        body = read_json(req, self._max_body)
        self._answer(req, resp, self._gateway.lookup(creds, body.get("f010")))

    @staticmethod
    def _answer(req, resp, outcome):
        req.context.log_facts = outcome.facts
        resp.media = outcome.body
