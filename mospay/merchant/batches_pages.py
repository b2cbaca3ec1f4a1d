"""Batches in the merchant portal: the client's own batches and the CSV upload form, a batch's page (validation
report, HTMX-polled progress that a plain refresh also shows, downloads) and its decisions. Thin over
mospay.merchant_batches; a refusal (the uploader approving, a wrong state) re-renders the page with its reason."""

from __future__ import annotations

import falcon

from .. import batch_pages, batch_upload, batches, credentials, errors, merchant_batches as mb
from .web import actor, form, is_fragment, render, see_other

UPLOAD_REFUSALS = (errors.BadRequest, errors.InvalidField, errors.PayloadTooLarge, errors.UnsupportedMediaType,
                   errors.Conflict)
DECISION_REFUSALS = (errors.Conflict, errors.Forbidden, errors.InvalidField)
DECISIONS = ("approve", "reject", "pause", "resume", "cancel")


class Batches:
    """GET /portal/batches: the client's batches (?status=, keyset ?after=). POST: a multipart form with `name`
    (optional) and `file` (CSV); the CSRF token rides in the action's query string (the guard reads it there)."""
    actions = {"GET": "read", "POST": "batches_upload"}

    def __init__(self, db, parts):
        self._db = db
        self._parts = parts

    def show(self, req, resp, *, status=falcon.HTTP_200, error=None):
        me, chosen = req.context.merchant, req.get_param("status") or None
        try:
            items, nxt = mb.page(self._db, me, after=req.get_param("after") or None, status_filter=chosen)
        except errors.InvalidField as exc:
            items, nxt, error, status = [], None, exc, falcon.HTTP_422
        render(req, resp, "merchant/batches.html", status=status, error=error, items=items, next=nxt,
               chosen=chosen, statuses=batches.STATUSES, max_mb=self._parts.config.batch_max_bytes // 2 ** 20)

    def on_get(self, req, resp):
        self.show(req, resp)

    def on_post(self, req, resp):
        config = self._parts.config
        spooled = None
        try:
            name, spooled, sha256 = _upload_form(req, config.batch_max_bytes)
            answer = mb.upload(self._db, self._parts.gateway, actor(req), req.context.merchant, spooled, sha256, name,
                               store_key=credentials.store_key(config.credentials_key, config.secret_key))
        except UPLOAD_REFUSALS as exc:
            return self.show(req, resp, status=falcon.code_to_http_status(exc.status), error=exc)
        finally:
            if spooled is not None:
                spooled.close()
        see_other(resp, f"/portal/batches/{answer['batch_id']}")


def _upload_form(req, limit: int):
    """(name, spooled CSV, sha256) of the form; the whole body is read, so a form cut short is a 400."""
    if not (req.content_type or "").startswith("multipart/form-data"):
        raise errors.UnsupportedMediaType("upload the batch with the form (a CSV file)")
    if req.content_length is not None and req.content_length > limit + 64 * 1024:
        raise errors.PayloadTooLarge(f"the batch is larger than {limit} bytes", code="batch_too_large")
    name, spooled, sha256 = None, None, None
    try:
        for part in req.get_media():
            if part.name == "name" and name is None:
                name = part.get_text()[:300].strip()
            elif part.name == "file" and spooled is None:
                spooled, sha256 = batch_upload.spool(part.stream, limit)
    except falcon.MediaMalformedError:
        if spooled is not None:
            spooled.close()
        raise errors.BadRequest("the form is malformed or cut short", code="bad_batch") from None
    except BaseException:
        if spooled is not None:
            spooled.close()
        raise
    if spooled is None:
        raise errors.BadRequest("choose a CSV file to upload", code="bad_batch")
    return name, spooled, sha256


class BatchPage:
    """GET /portal/batches/{batch_id}: status, counts, the validation report (line, field, message) and the
    decisions the role allows; an HTMX poll gets the progress partial only (admin/_batch_progress.html)."""
    actions = {"GET": "read"}

    def __init__(self, db):
        self._db = db

    def show(self, req, resp, batch_id, *, status=falcon.HTTP_200, error=None):
        me = req.context.merchant
        doc = mb.status(self._db, me, batch_id)  # 404 for another client's batch
        resp.vary = ("HX-Request",)
        render(req, resp, "merchant/batch.html", partial="admin/_batch_progress.html", status=status, error=error,
               b=doc, **batch_pages.progress(req, self._db, batch_id, me.client_id, doc), who=mb.who(me),
               poll_url=f"/portal/batches/{doc['batch_id']}",
               webhook_events=[] if is_fragment(req) else mb.webhook_events(self._db, me, doc["batch_id"]))

    def on_get(self, req, resp, batch_id):
        self.show(req, resp, batch_id)


class BatchWebhookResend:
    """POST /portal/batches/{batch_id}/webhooks/{event_id}/resend (the roles that resend a payment's events):
    one of the batch's own events again, same event id; another client's batch or event: 404, nothing queued."""
    actions = {"POST": "webhooks"}

    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp, batch_id, event_id):  # the form's URL opened or reloaded: back to the list
        mb.status(self._db, req.context.merchant, batch_id)
        see_other(resp, f"/portal/batches/{batch_id}#webhooks")

    def on_post(self, req, resp, batch_id, event_id):
        me = req.context.merchant
        mb.status(self._db, me, batch_id)  # another client's batch: the error page's 404
        mb.resend_webhook(self._db, actor(req), me, batch_id, event_id)
        see_other(resp, f"/portal/batches/{batch_id}#webhooks")


class BatchDecision:
    """POST /portal/batches/{batch_id}/{approve|reject|pause|resume|cancel} (owner, finance): 303 back to the
    batch; a refusal re-renders the page with its status (403 the uploader approving, 409 state, 422 reason)."""
    actions = {"POST": mb.DECISION_ACTION}

    def __init__(self, db, decision: str):
        self._db = db
        self._decision = decision
        self._page = BatchPage(db)

    def on_post(self, req, resp, batch_id):
        data = form(req)
        mb.status(self._db, req.context.merchant, batch_id)  # another client's batch: the error page's 404
        try:
            mb.decide(self._db, actor(req), req.context.merchant, batch_id, self._decision, data.get("reason"))
        except DECISION_REFUSALS as exc:
            return self._page.show(req, resp, batch_id, status=falcon.code_to_http_status(exc.status), error=exc)
        see_other(resp, f"/portal/batches/{batch_id}")


class BatchDownload:
    """GET /portal/batches/{batch_id}/errors.csv (read) and /results.csv (export: it lists payments), streamed."""

    def __init__(self, db, what: str):
        self._db = db
        self._what = what
        self.actions = {"GET": "export" if what == "results" else "read"}

    def on_get(self, req, resp, batch_id):
        resp.cache_control = ["no-store"]
        batch_pages.send_csv(resp, self._db, batch_id, req.context.merchant.client_id, self._what)
