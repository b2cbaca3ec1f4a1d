"""Client webhooks: outbox events (written by the database with the final state) delivered to the
client's callback_url, signed like Stripe (MosPay-Signature: t=<unix>,v1=<hex>), retried with
exponential backoff for up to 3 days, each with a stable event id."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time

import urllib3

from . import errors, functions, reports, validators
from .db import Database

log = logging.getLogger("mospay.webhooks")
FIRST_RETRY_S = 30
MAX_RETRY_S = 6 * 3600
TIMEOUT = urllib3.Timeout(connect=5, read=10)
EXCERPT_CHARS = 500  # of the endpoint's answer, kept with each attempt for the delivery log
LOG_DAYS = 30  # attempts are kept this long (mospay.retention.prune_webhook_attempts)
TEST_EVENT = "test.ping"
TEST_EVENTS_PER_MINUTE = 5  # per client: a test button is not a way to fill the outbox
_EVENT_ID_RE = re.compile(r"[A-Za-z0-9_]{1,64}")


def webhook_secret(secret_key: str, app_id: str, version: int) -> str:
    """Derived, not stored: HMAC of the server key, the App ID and the secret's version."""
    digest = hmac.new(secret_key.encode(), f"webhook:{app_id}:{version}".encode(), hashlib.sha256).digest()
    return "whsec_" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def signature_header(secrets: list[str], body: bytes, timestamp: int) -> str:
    """t=<unix>,v1=<hex>[,v1=<hex>]: one v1 per valid secret (two while a rotation overlaps)."""
    signed = f"{timestamp}.".encode() + body
    return ",".join([f"t={timestamp}"] + [
        "v1=" + hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in secrets])


def verify_signature(header: str, body: bytes, secret: str, tolerance_s: int = 300) -> bool:
    """What a client runs (the snippet in docs/guarantees.md): any v1 matching, and a recent t."""
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    timestamps = [v for k, v in parts if k == "t"]
    if len(timestamps) != 1 or not re.fullmatch(r"[0-9]{1,12}", timestamps[0]):  # isdigit() takes '²'
        return False
    if abs(time.time() - int(timestamps[0])) > tolerance_s:
        return False  # an old signature replayed
    expected = hmac.new(secret.encode(), timestamps[0].encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for k, v in parts if k == "v1")


def event_body(row: dict) -> bytes:
    """The same bytes on every attempt: the event id is what clients deduplicate on."""
    event = {"id": row["event_id"], "type": row["event_type"], "created": int(row["created_at"].timestamp()),
             "data": row["payload"]}
    return json.dumps(event, sort_keys=True, separators=(",", ":")).encode()


def backoff_s(attempts: int) -> int:
    return min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** min(attempts, 20))


class Deliverer:
    def __init__(self, db: Database, secret_key: str, batch: int = 20):
        self._db = db
        self._secret_key = secret_key
        self._batch = batch
        self._http = urllib3.PoolManager(num_pools=32, maxsize=4, retries=False)

    def deliver_due(self) -> dict:
        """One pass over the due events; several processes may run it at once (SKIP LOCKED)."""
        counts = {"delivered": 0, "failed": 0}
        for row in self._db.query("claim_webhooks", limit=self._batch):
            ok = self._deliver(row)
            counts["delivered" if ok else "failed"] += 1
        return counts

    def _deliver(self, row: dict) -> bool:
        url = row["callback_url"]
        secrets = [webhook_secret(self._secret_key, row["app_id"], row["webhook_secret_version"])]
        if row["previous_valid"] and row["webhook_previous_version"]:
            secrets.append(webhook_secret(self._secret_key, row["app_id"], row["webhook_previous_version"]))
        body = event_body(row)
        started = time.perf_counter()
        status, error, excerpt = None, None, None
        if not url:
            error = "the client has no callback_url"
        else:
            try:
                resp = self._http.request("POST", url, body=body, timeout=TIMEOUT, redirect=False, headers={
                    "Content-Type": "application/json", "User-Agent": "MosPay-Webhooks/1",
                    "MosPay-Event-Id": row["event_id"],
                    "MosPay-Signature": signature_header(secrets, body, int(time.time()))},
                    preload_content=False)
                status = resp.status
                excerpt = _excerpt(resp)
                resp.close()  # the rest of the answer is not needed; never let a client's endpoint stall us
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                error = f"{type(exc).__name__}: {str(exc)[:200]}"
        duration = round((time.perf_counter() - started) * 1000, 2)
        if error is None:
            self._db.query("webhook_delivered", id=row["id"], url=url, http_status=status, duration_ms=duration,
                           excerpt=excerpt)
            return True
        state = self._db.query("webhook_failed", id=row["id"], url=url or "-", http_status=status, error=error,
                               duration_ms=duration, delay_s=backoff_s(row["attempts"]), excerpt=excerpt)[0]["state"]
        log.warning("webhook %s to %s failed (%s); %s", row["event_id"], url, error,
                    "gave up" if state == "GAVE_UP" else "will retry")
        return False


def _excerpt(resp) -> str | None:
    """The start of the endpoint's answer (what the delivery log shows): a bounded read, as text."""
    try:
        raw = resp.read(EXCERPT_CHARS * 4, decode_content=False)
    except (urllib3.exceptions.HTTPError, OSError):
        return None
    text = raw.decode("utf-8", errors="replace").replace("\x00", "")[:EXCERPT_CHARS]
    return text or None


def rotate_secret(db: Database, secret_key: str, app_id: str, overlap_s: int = 86400) -> dict:
    """A new webhook secret, shown this once; the previous one stays valid for overlap_s seconds
    (events are signed with both meanwhile), so clients can switch without losing an event."""
    functions.check_app_id(app_id)
    if not isinstance(overlap_s, int) or not 0 <= overlap_s <= 7 * 86400:
        raise errors.InvalidField("must be 0-604800 seconds", field="overlap_s")
    rows = db.query("rotate_webhook_secret", app_id=app_id, overlap_s=overlap_s)
    if not rows:
        raise errors.NotFound("no client with this app_id", field="app_id", code="client_not_found")
    return {"app_id": app_id, "webhook_secret": webhook_secret(secret_key, app_id, rows[0]["webhook_secret_version"]),
            "previous_valid_until": rows[0]["webhook_previous_expires_at"].isoformat()}


def resend(db: Database, event_id: str, client_id: int | None = None) -> dict:
    """The portal's manual resend: the same event (same id) goes out again at the next pass. With
    client_id (the merchant portal), only that client's event: the statement itself says so."""
    rows = []
    if isinstance(event_id, str) and _EVENT_ID_RE.fullmatch(event_id):
        rows = (db.query("webhook_resend", event_id=event_id) if client_id is None
                else db.query("webhook_resend_own", event_id=event_id, client_id=_client(client_id)))
    if not rows:
        raise errors.NotFound("no such event", field="event_id", code="event_not_found")
    return rows[0]


def _client(client_id) -> int:
    if isinstance(client_id, bool) or not isinstance(client_id, int):
        raise TypeError("client_id must be the signed-in client's id")  # a bug, never a wider query
    return client_id


def own_event(db: Database, client_id: int, event_id: str) -> dict:
    """One of this client's events by its public id (another client's: 404, as an unknown one)."""
    row = None
    if isinstance(event_id, str) and _EVENT_ID_RE.fullmatch(event_id):
        row = db.one("webhook_event_own", event_id=event_id, client_id=_client(client_id))
    if row is None:
        raise errors.NotFound("no such webhook event", field="event_id", code="event_not_found")
    return row


def send_test_event(db: Database, client_id: int) -> dict:
    """A test.ping event through the same outbox, signing and retries as a payment's (no transaction);
    at most TEST_EVENTS_PER_MINUTE a minute per client."""
    row = db.one("webhook_test_event", client_id=_client(client_id), event_type=TEST_EVENT,
                 per_minute=TEST_EVENTS_PER_MINUTE)
    if row is None:
        raise errors.TooManyRequests("too many test events; try again in a minute", headers={"Retry-After": "60"})
    return row


def delivery_log(db: Database, client_id: int, after: str | None = None, limit: int = 25):
    """A client's events of the last LOG_DAYS days, newest first in keyset pages, each with its attempts
    (status, error, the start of the answer). Returns (events, next cursor)."""
    after_at, after_id = validators.cursor(after)
    events, cursor = reports.keyset_page(db, "webhook_log_page", {"client_id": _client(client_id), "days": LOG_DAYS,
                                                                  "after_at": after_at, "after_id": after_id}, limit)
    return _with_attempts(db, client_id, events), cursor


def attempts_of_events(db: Database, client_id: int, ids: list[int]) -> dict[int, list[dict]]:
    """Each event's attempts, oldest first, for events of this client only."""
    found: dict[int, list[dict]] = {}
    if ids:
        for row in db.query("webhook_attempts_of_events", client_id=_client(client_id), ids=ids):
            found.setdefault(row.pop("event_pk"), []).append(row)
    return found


def _with_attempts(db: Database, client_id: int, events: list[dict]) -> list[dict]:
    """The events, each with its attempts (`attempts_made`), read for this client's events only."""
    attempted = attempts_of_events(db, client_id, [e["id"] for e in events])
    for e in events:
        e["attempts_made"] = attempted.get(e["id"], [])
    return events


def events_of_own_transaction(db: Database, client_id: int, transaction_id: str) -> list[dict]:
    """A client's transaction's events, each with its attempts (the merchant portal's detail page)."""
    return _with_attempts(db, client_id, db.query("webhook_events_of_own_transaction", client_id=_client(client_id),
                                                  public_id=transaction_id))


def events_of_transaction(db: Database, transaction_id: str) -> list[dict]:
    return db.query("webhook_events_of_transaction", public_id=transaction_id)


def events_of_batch(db: Database, batch_id: str) -> list[dict]:
    """A batch's own events (any client's: the operators' batch page), each with its attempts."""
    return [{**e, "attempts_made": attempts(db, e["event_id"])}
            for e in db.query("webhook_events_of_batch", public_id=batch_id)]


def events_of_own_batch(db: Database, client_id: int, batch_id: str) -> list[dict]:
    """A client's batch's own events, each with its attempts (the merchant portal's batch page)."""
    return _with_attempts(db, client_id, db.query("webhook_events_of_own_batch", client_id=_client(client_id),
                                                  public_id=batch_id))


def event(db: Database, event_id: str) -> dict:
    """One event (with its transaction_id) by its public event id, or 404."""
    well_formed = isinstance(event_id, str) and _EVENT_ID_RE.fullmatch(event_id)
    row = db.one("webhook_event", event_id=event_id) if well_formed else None
    if row is None:
        raise errors.NotFound("no such webhook event", field="event_id", code="event_not_found")
    return row


def attempts(db: Database, event_id: str) -> list[dict]:
    return db.query("webhook_attempts", event_id=event_id)
