"""Money-safety in the portal: the transaction detail page with the operator's resolution and the webhook
deliveries (manual resend), and the stuck queue the reconciler could not settle."""

from __future__ import annotations

import falcon

from .. import errors, reconciler, refunds, reports, webhooks
from .. import actions as ps
from .web import actor, form, render, see_other


class TransactionItem:
    """GET: summary, status history (with who resolved it and why), webhook events and their attempts."""

    def __init__(self, db):
        self._db = db

    def show(self, req, resp, public_id, *, status=falcon.HTTP_200, error=None, draft=None, refund_error=None,
             refund_draft=None):
        t = reports.transaction(self._db, public_id)
        events = [{**e, "attempts_made": webhooks.attempts(self._db, e["event_id"])}
                  for e in webhooks.events_of_transaction(self._db, public_id)]
        render(req, resp, "admin/transaction.html", status=status, t=t, webhook_events=events, error=error,
               draft=draft or {}, final_statuses=reconciler.FINAL,
               is_open=t["status"] not in reconciler.FINAL, refunds=refunds.of_transaction(self._db, public_id),
               refund_error=refund_error, refund_draft=refund_draft or {})

    def on_get(self, req, resp, public_id):
        self.show(req, resp, public_id)


class TransactionResolve(TransactionItem):
    """POST status + reason (admin, super_admin): an open transaction becomes SUCCESSFUL or FAILED.
    A missing reason or bad status re-renders the page with 422, an already final one with 409."""

    def on_post(self, req, resp, public_id):
        data = form(req)
        try:
            ps.resolve_transaction(self._db, actor(req), public_id, data.get("status"), data.get("reason"))
        except (errors.InvalidField, errors.Conflict) as exc:
            status = falcon.HTTP_409 if isinstance(exc, errors.Conflict) else falcon.HTTP_422
            return self.show(req, resp, public_id, status=status, error=exc,
                             draft={"status": data.get("status") or "", "reason": (data.get("reason") or "")[:500]})
        see_other(resp, f"/admin/transactions/{public_id}")


class WebhookResend:
    """POST (admin, super_admin): deliver this event again at the next delivery pass."""

    def __init__(self, db):
        self._db = db

    def on_post(self, req, resp, public_id, event_id):
        ps.resend_webhook(self._db, actor(req), public_id, event_id)
        see_other(resp, f"/admin/transactions/{public_id}#webhooks")


class Stuck:
    """Transactions whose reconciliation schedule ran out (reconciler.stuck_queue), oldest first."""

    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        render(req, resp, "admin/stuck.html", rows=reconciler.stuck_queue(self._db),
               backlog=reports.reconciler_backlog(self._db))
