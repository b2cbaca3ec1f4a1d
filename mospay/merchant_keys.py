"""What a merchant user does to its own client's keys and webhooks: roll the API secret with an overlap,
rotate the webhook secret, send a test event, resend an event. Each audited with the merchant user; each
acts on the signed-in user's client only (its id and App ID come from the session, never from a form)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import actions, client_keys, webhooks
from .audit import Actor, audit
from .db import Database

if TYPE_CHECKING:
    from .merchant_roles import MerchantUser

# The webhook secret's overlap choices (the old one signs too meanwhile); 24 hours is the operator's default.
WEBHOOK_OVERLAP_CHOICES = ((86400, "24 hours"), (3600, "1 hour"), (3 * 86400, "3 days"), (7 * 86400, "7 days"),
                           (0, "none: the old secret stops signing now"))


def keys(db: Database, me: MerchantUser) -> dict:
    """The keys page: the API username (the App ID is the other half), and each secret generation's
    state and last use."""
    client = actions.client(db, me.app_id)
    generations = client_keys.generations(db, me.client_id)
    return {"app_id": me.app_id, "api_username": client["api_username"], "generations": generations,
            "last_used": client_keys.last_used(generations)}


def callback_url(db: Database, me: MerchantUser) -> str | None:
    """Where the client's webhooks go. An operator sets it (admin portal or API): a merchant-set URL would
    make the sender, which shows the start of each answer, a way to read internal addresses."""
    return actions.client(db, me.app_id)["callback_url"]


def roll_secret(db: Database, actor: Actor, secret_key: str, me: MerchantUser, overlap) -> dict:
    """A new API secret shown once; the old one keeps working for the overlap the user picked (0-7 days).
    The same audited action as the operator's rotation (client.rotate_credentials)."""
    return actions.rotate_credentials(db, actor, secret_key, me.app_id, client_keys.overlap_seconds(overlap))


def rotate_webhook_secret(db: Database, actor: Actor, secret_key: str, me: MerchantUser, overlap) -> dict:
    return actions.rotate_webhook_secret(db, actor, secret_key, me.app_id, client_keys.overlap_seconds(overlap))


def send_test_event(db: Database, actor: Actor, me: MerchantUser) -> dict:
    sent = webhooks.send_test_event(db, me.client_id)
    audit(db, actor, "webhook.test", "client", me.app_id, None, {"event_id": sent["event_id"]})
    return sent


def resend(db: Database, actor: Actor, me: MerchantUser, event_id: str) -> dict:
    """Queue one of the client's own events again (another client's event id: 404, nothing queued)."""
    result = webhooks.resend(db, event_id, client_id=me.client_id)
    audit(db, actor, "webhook.resend", "webhook_event", event_id, None, {"event_id": event_id})
    return result
