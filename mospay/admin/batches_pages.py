"""Batches in the admin portal: every client's batches, a batch's page with its progress (HTMX-polled,
a plain refresh without JavaScript), the upload report, downloads, the decisions, and the operators'
settings (a client's auto-approval threshold, a service's batch limits). Thin: mospay/batches.py decides."""

from __future__ import annotations

import falcon

from .. import actions, batch_pages, batches, errors, webhooks
from .web import EDITORS, actor, form, is_fragment, render, see_other


def _who(req) -> str:
    return batches.actor_name("admin", req.context.user["username"])


class Batches:
    """GET: every client's batches (?status=), and the settings forms. POST: the settings."""

    write_roles = EDITORS

    def __init__(self, db):
        self._db = db

    def show(self, req, resp, *, status=falcon.HTTP_200, error=None):
        chosen = req.get_param("status") or None
        try:
            items, nxt = batches.page(self._db, None, limit=50, after=req.get_param("after") or None,
                                      status_filter=chosen)
        except errors.InvalidField as exc:
            items, nxt, error, status = [], None, exc, falcon.HTTP_422
        render(req, resp, "admin/batches.html", status=status, error=error, items=items, next=nxt, chosen=chosen,
               statuses=batches.STATUSES, services=actions.services(self._db))

    def on_get(self, req, resp):
        self.show(req, resp)

    def on_post(self, req, resp):
        data = form(req)
        try:
            if data.get("kind") == "client":
                batches.set_auto_approve(self._db, actor(req), (data.get("app_id") or "").strip()[:64],
                                         data.get("auto_approve_max") or None)
            elif data.get("kind") == "service":
                batches.set_service_limits(self._db, actor(req), (data.get("service") or "")[:64], data)
            else:
                raise errors.InvalidField("unknown setting", field="kind")
        except (errors.InvalidField, errors.NotFound) as exc:
            return self.show(req, resp, status=falcon.code_to_http_status(exc.status), error=exc)
        see_other(resp, "/admin/batches")


class BatchPage:
    """GET /admin/batches/{batch_id}: the status document, progress (the `_batch_progress.html` partial
    for HTMX polls), the upload report and the decisions an operator may take."""

    def __init__(self, db):
        self._db = db

    def show(self, req, resp, batch_id, *, status=falcon.HTTP_200, error=None):
        doc = batches.status(self._db, batch_id, None)
        render(req, resp, "admin/batch.html", partial="admin/_batch_progress.html", status=status, error=error,
               b=doc, **batch_pages.progress(req, self._db, batch_id, None, doc), me=_who(req),
               webhook_events=[] if is_fragment(req) else webhooks.events_of_batch(self._db, doc["batch_id"]))

    def on_get(self, req, resp, batch_id):
        self.show(req, resp, batch_id)


class BatchWebhookResend:
    """POST /admin/batches/{batch_id}/webhooks/{event_id}/resend (admin, super_admin): one of the batch's own
    events again at the next delivery pass (same event id), audited against the batch; 303 to its list."""

    write_roles = EDITORS

    def __init__(self, db):
        self._db = db

    def on_post(self, req, resp, batch_id, event_id):
        batches.status(self._db, batch_id, None)  # an unknown batch: the batch's 404, before the event's
        actions.resend_batch_webhook(self._db, actor(req), batch_id, event_id)
        see_other(resp, f"/admin/batches/{batch_id}#webhooks")


class BatchDecision:
    """POST /admin/batches/{batch_id}/{approve|reject|pause|resume|cancel}: 303 back to the batch; a
    refusal (same person, wrong state, no reason) re-renders the page with the reason."""

    write_roles = EDITORS

    def __init__(self, db, decision: str):
        self._db = db
        self._decision = decision
        self._page = BatchPage(db)

    def on_post(self, req, resp, batch_id):
        data = form(req)
        try:
            batches.decide(self._db, actor(req), _who(req), batch_id, self._decision, client_id=None,
                           reason=data.get("reason"))
        except (errors.Conflict, errors.Forbidden, errors.InvalidField) as exc:
            return self._page.show(req, resp, batch_id, status=falcon.code_to_http_status(exc.status), error=exc)
        see_other(resp, f"/admin/batches/{batch_id}")


class BatchDownload:
    """GET /admin/batches/{batch_id}/results.csv and /errors.csv, streamed."""

    def __init__(self, db, what: str):
        self._db = db
        self._what = what

    def on_get(self, req, resp, batch_id):
        batch_pages.send_csv(resp, self._db, batch_id, None, self._what)
