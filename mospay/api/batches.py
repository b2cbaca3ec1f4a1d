"""Client API for batches: upload (CSV or JSON), list, status, errors, results, and pause / resume /
cancel. Authenticated exactly as the payment endpoints (Bearer, or Basic + App-ID); every read is the
caller's own (client_id in the SQL)."""

from __future__ import annotations

import re

import falcon

from .. import batch_upload, batches, credentials, errors, validators
from ..audit import Actor
from ..auth import Tokens
from ..payments import PaymentGateway, authenticate
from .common import client_credentials, read_json

CSV_TYPES = ("text/csv", "application/csv", "text/plain")
JSON_MAX_BYTES = 8 * 1024 * 1024
IDEMPOTENCY_KEY_RE = re.compile(r"[\x21-\x7e]{1,200}")


def wants_csv(req) -> bool:
    return "text/csv" in (req.get_header("Accept") or "") or req.get_param("format") == "csv"


def send_csv(resp, filename: str, chunks) -> None:
    resp.content_type = "text/csv; charset=utf-8"
    resp.set_header("Content-Disposition", f'attachment; filename="{filename}"')
    resp.stream = chunks


class _ClientResource:
    def __init__(self, db, gateway: PaymentGateway, tokens: Tokens, config):
        self._db = db
        self._gateway = gateway
        self._tokens = tokens
        self._config = config

    def _client(self, req) -> dict:
        creds = client_credentials(req, self._tokens)
        row = authenticate(self._db.one("client_by_app_id", app_id=creds.app_id), creds, self._config.secret_key)
        req.context.log["client_id"] = row["client_id"]
        return row

    @staticmethod
    def _actor(req, client: dict) -> tuple[Actor, str]:
        who = batches.actor_name("client", client["app_id"])
        return Actor(None, who, "client", req.remote_addr), who


class BatchCollection(_ClientResource):
    """POST /api/v1/batches (text/csv, or application/json {"rows": [...]}), GET: the caller's batches."""

    def on_post(self, req, resp):
        client = self._client(req)
        key = req.get_header("Idempotency-Key")
        if key is not None and not IDEMPOTENCY_KEY_RE.fullmatch(key):
            raise errors.InvalidField("must be 1-200 printable ASCII characters", field="Idempotency-Key")
        name = validators.text({"name": req.get_param("name")}, "name", required=False)
        media = (req.content_type or "").split(";")[0].strip().lower()
        limit = self._config.batch_max_bytes
        if media in CSV_TYPES:
            if req.content_length is not None and req.content_length > limit:
                raise errors.PayloadTooLarge(f"the batch is larger than {limit} bytes", code="batch_too_large")
            spooled, sha256 = batch_upload.spool(req.bounded_stream, limit)
            try:
                answer, created = self._upload(req, client, batch_upload.csv_rows(spooled), sha256, name, key)
            finally:
                spooled.close()
        elif media == "application/json":
            body = read_json(req, min(limit, JSON_MAX_BYTES))
            if name is None:
                name = validators.text(body, "name", required=False)
            answer, created = self._upload(req, client, batch_upload.json_rows(body),
                                           batch_upload.json_sha256(body), name, key)
        else:
            raise errors.UnsupportedMediaType("send the batch as text/csv, or as application/json {\"rows\": [...]}")
        resp.media = answer
        resp.status = falcon.HTTP_201 if created else falcon.HTTP_200
        resp.location = f"/api/v1/batches/{answer['batch_id']}"

    def _upload(self, req, client, rows, sha256, name, key):
        row = self._db.one("batch_client", app_id=client["app_id"])
        actor, _who = self._actor(req, client)
        return batch_upload.upload(self._db, self._gateway, actor, row, rows, sha256, name=name, key=key,
                                   store_key=credentials.store_key(self._config.credentials_key,
                                                                              self._config.secret_key))

    def on_get(self, req, resp):
        client = self._client(req)
        items, nxt = batches.page(self._db, client["client_id"], limit=validators.page_limit(req.params.get("limit")),
                                  after=after_param(req), status_filter=req.get_param("status"))
        resp.media = {"items": items, "next": nxt}


def after_param(req):
    """?after= (the `next` of the previous page): once at most, and never empty."""
    raw = req.params.get("after")
    if raw is not None and (not isinstance(raw, str) or not raw):
        raise errors.InvalidField("is not a valid page cursor", field="after")
    return raw


class BatchItem(_ClientResource):
    """GET /api/v1/batches/{batch_id}: the status document."""

    def on_get(self, req, resp, batch_id):
        client = self._client(req)
        resp.media = batches.status(self._db, batch_id, client["client_id"])


class BatchErrors(_ClientResource):
    """GET /api/v1/batches/{batch_id}/errors: JSON, or CSV with Accept: text/csv."""

    def on_get(self, req, resp, batch_id):
        client = self._client(req)
        rows = batches.error_rows(self._db, batch_id, client["client_id"])
        if wants_csv(req):
            first = list(_first(rows))  # a 404 before any byte is sent
            send_csv(resp, f"{batch_id}-errors.csv",
                     batches.csv_stream(("line", "field", "message", "code"), _chain(first, rows)))
        else:
            resp.media = {"batch_id": batch_id, "errors": list(rows)}


class BatchResults(_ClientResource):
    """GET /api/v1/batches/{batch_id}/results: line,f010,status,transaction_id,message as a streamed CSV."""

    def on_get(self, req, resp, batch_id):
        client = self._client(req)
        rows = batches.result_rows(self._db, batch_id, client["client_id"])
        first = list(_first(rows))
        send_csv(resp, f"{batch_id}-results.csv", batches.csv_stream(batches.RESULT_COLUMNS, _chain(first, rows)))


class BatchAction(_ClientResource):
    """POST /api/v1/batches/{batch_id}/pause | resume | cancel: the client's own batch."""

    def __init__(self, db, gateway, tokens, config, decision: str):
        super().__init__(db, gateway, tokens, config)
        self._decision = decision

    def on_post(self, req, resp, batch_id):
        client = self._client(req)
        actor, who = self._actor(req, client)
        resp.media = batches.decide(self._db, actor, who, batch_id, self._decision, client_id=client["client_id"])


def _first(rows):
    """The first item of a generator (runs its checks), kept for _chain."""
    for row in rows:
        yield row
        return


def _chain(first, rest):
    yield from first
    yield from rest
