"""/portal/keys and /portal/webhooks: the API username and each secret's last use, Roll secret with an
overlap (the new secret shown once); the callback URL, Send test event, the 30-day delivery log with
Resend, and the webhook secret's rotation (the new one shown once)."""

from __future__ import annotations

import falcon

from .. import client_keys, errors, merchant_keys, webhooks
from .web import actor, form, render, see_other


class Keys:
    actions = {"GET": "keys", "POST": "keys"}

    def __init__(self, db, config):
        self._db, self._key = db, config.secret_key

    def _show(self, req, resp, status=falcon.HTTP_200, error=None):
        render(req, resp, "merchant/keys.html", status=status, error=error,
               overlap_choices=client_keys.OVERLAP_CHOICES, **merchant_keys.keys(self._db, req.context.merchant))

    def on_get(self, req, resp):
        self._show(req, resp)

    def on_post(self, req, resp):
        """Roll the secret: the answer is the only place the new one is ever shown (never stored in clear,
        never in a cookie or a redirect)."""
        try:
            rolled = merchant_keys.roll_secret(self._db, actor(req), self._key, req.context.merchant,
                                               form(req).get("overlap_s"))
        except errors.InvalidField as exc:
            return self._show(req, resp, status=falcon.HTTP_422, error=exc)
        resp.cache_control = ["no-store"]
        render(req, resp, "merchant/key_rolled.html", rolled=rolled)


class Webhooks:
    actions = {"GET": "webhooks"}

    def __init__(self, db, config):
        self._db, self._key = db, config.secret_key

    def show(self, req, resp, status=falcon.HTTP_200, error=None, sent=None):
        me = req.context.merchant
        try:
            events, after = webhooks.delivery_log(self._db, me.client_id, req.get_param("after"))
        except errors.InvalidField:  # a hand-edited cursor: the first page
            events, after = webhooks.delivery_log(self._db, me.client_id)
        resp.vary = ("HX-Request",)
        render(req, resp, "merchant/webhooks.html", partial="merchant/_webhook_log.html", status=status,
               error=error, sent=sent, events=events, next_url=f"/portal/webhooks?after={after}" if after else None,
               first_url="/portal/webhooks" if req.get_param("after") else None,
               callback_url=merchant_keys.callback_url(self._db, me), queued=req.get_param("sent") == "1",
               overlap_choices=merchant_keys.WEBHOOK_OVERLAP_CHOICES, days=webhooks.LOG_DAYS)

    def on_get(self, req, resp):
        self.show(req, resp)


class WebhookTest(Webhooks):
    """POST /portal/webhooks/test: a test.ping through the outbox, signed like every event."""
    actions = {"POST": "webhooks"}

    def on_get(self, req, resp):
        see_other(resp, "/portal/webhooks")

    def on_post(self, req, resp):
        merchant_keys.send_test_event(self._db, actor(req), req.context.merchant)
        see_other(resp, "/portal/webhooks?sent=1")


class WebhookResend(Webhooks):
    """POST /portal/webhooks/{event_id}/resend: one of the client's own events, again (same event id)."""
    actions = {"POST": "webhooks"}

    def on_get(self, req, resp, event_id):
        webhooks.own_event(self._db, req.context.merchant.client_id, event_id)  # 404 for another client's id
        see_other(resp, "/portal/webhooks")

    def on_post(self, req, resp, event_id):
        merchant_keys.resend(self._db, actor(req), req.context.merchant, event_id)
        see_other(resp, "/portal/webhooks")


class WebhookSecret(Webhooks):
    """POST /portal/webhooks/secret: a new webhook secret shown once; the old one signs too for the overlap."""
    actions = {"POST": "webhooks"}

    def on_get(self, req, resp):
        see_other(resp, "/portal/webhooks")

    def on_post(self, req, resp):
        try:
            rotated = merchant_keys.rotate_webhook_secret(self._db, actor(req), self._key, req.context.merchant,
                                                          form(req).get("overlap_s"))
        except errors.InvalidField as exc:
            return self.show(req, resp, status=falcon.HTTP_422, error=exc)
        resp.cache_control = ["no-store"]
        render(req, resp, "merchant/webhook_secret.html", rotated=rotated)
