"""A merchant user's batches (merchant portal): the client API's upload and mospay.batches' reads and decisions,
scoped to the signed-in user's client in SQL, with the typed actor `merchant:<user_id>`; audited. No HTTP here."""

from __future__ import annotations

from . import batch_upload, batches, errors, merchant_keys, validators, webhooks
from .audit import Actor
from .merchant_roles import MerchantUser, allowed

DECISION_ACTION = "batches_approve"  # approve and reject; pause, resume and cancel too (the same people)


def who(me: MerchantUser) -> str:
    """The typed actor the database's four-eyes CHECK compares: merchant:<user_id>."""
    return batches.actor_name("merchant", me.user_id)


def upload(db, gateway, actor: Actor, me: MerchantUser, spooled, sha256: str, name, *, store_key: str) -> dict:
    """A CSV (already spooled, with its sha256) uploaded by the merchant user: validated by the payment path's
    rules exactly as a client API upload; answers the batch (its id, status and counts)."""
    if not allowed(me.role, "batches_upload"):
        raise errors.Forbidden("your role does not allow uploading batches", code="insufficient_role")
    name = validators.text({"name": name or None}, "name", required=False)
    client = db.one("batch_client_by_id", client_id=me.client_id)
    if client is None or not client["active"]:
        raise errors.Forbidden("this client is not active", code="client_inactive")
    answer, _ = batch_upload.upload(db, gateway, actor, client, batch_upload.csv_rows(spooled), sha256, name=name,
                                    key=None, store_key=store_key, uploaded_by=who(me))
    return answer


def page(db, me: MerchantUser, *, after: str | None, status_filter: str | None, limit: int = 50):
    return batches.page(db, me.client_id, limit=limit, after=after, status_filter=status_filter)


def status(db, me: MerchantUser, batch_id: str) -> dict:
    return batches.status(db, batch_id, me.client_id)


def decide(db, actor: Actor, me: MerchantUser, batch_id: str, decision: str, reason: str | None = None) -> dict:
    """approve | reject | pause | resume | cancel on the client's own batch (404 for another's), by owner or
    finance. The uploader approving their own batch is refused by the database (403 same_person)."""
    if not allowed(me.role, DECISION_ACTION):
        raise errors.Forbidden("your role does not allow deciding on batches", code="insufficient_role")
    return batches.decide(db, actor, who(me), batch_id, decision, client_id=me.client_id, reason=reason)


def webhook_events(db, me: MerchantUser, batch_id: str) -> list[dict]:
    """The batch's own events (batch.completed, batch.failed) with their attempts, the client's only (in SQL)."""
    return webhooks.events_of_own_batch(db, me.client_id, batch_id)


def resend_webhook(db, actor: Actor, me: MerchantUser, batch_id: str, event_id: str) -> dict:
    """One of the batch's own events again (same event id), by the roles that resend a payment's events;
    audited as every merchant resend (merchant_keys.resend, which scopes the update to the client too)."""
    if not allowed(me.role, "webhooks"):
        raise errors.Forbidden("your role does not allow resending webhooks", code="insufficient_role")
    if event_id not in {e["event_id"] for e in webhook_events(db, me, batch_id)}:
        raise errors.NotFound("this batch has no such webhook event", code="event_not_found")
    return merchant_keys.resend(db, actor, me, event_id)
