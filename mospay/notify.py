"""Alert notification channels: a webhook (JSON with a `text` field, which Slack and Mattermost show, signed
like client webhooks) and email (mospay/mail.py). Queued notices are sent by the deliver_alerts job and
retried with backoff; each attempt is logged. A channel that fails only delays its own notices."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from urllib.parse import urlsplit

import urllib3

from . import egress
from .db import Database
from .mail import Mailer, MailError
from .webhooks import signature_header

log = logging.getLogger("mospay.notify")
FIRST_RETRY_S = 15
MAX_RETRY_S = 1800
MAX_ATTEMPTS = 10  # about 2.5 hours of retries, then GAVE_UP (the delivery log shows it)
EXCERPT = 300
TIMEOUT = urllib3.Timeout(connect=5, read=10)
# One pass sends for at most this long (plus one attempt: 15 s at most), well inside the 120 s a claimed
# delivery is leased for, so no other sender can take it while it is being sent.
PASS_BUDGET_S = 30.0


def signing_secret(secret_key: str) -> str:
    """The secret alert webhooks are signed with (MosPay-Signature, as client webhooks): derived from the
    server key, never stored; operators reveal it in the portal or the admin API to configure a receiver."""
    digest = hmac.new(secret_key.encode(), b"alert-webhook:1", hashlib.sha256).digest()
    return "whsec_" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def backoff_s(attempts: int) -> int:
    return min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** min(attempts, 20))


def _excerpt(text: str) -> str:
    return " ".join(str(text).split())[:EXCERPT]


class Notifier:
    def __init__(self, db: Database, secret_key: str, smtp_url: str | None, *, batch: int = 20):
        self._db = db
        self._secret = signing_secret(secret_key)
        self._mailer = Mailer(smtp_url)
        self._batch = batch
        self._http = urllib3.PoolManager(num_pools=16, maxsize=2, retries=False)

    def deliver_due(self) -> dict:
        """One pass over the due notices (the scheduler's deliver_alerts job); SKIP LOCKED lets several
        processes share the work. Returns how many were sent and how many failed."""
        counts = {"sent": 0, "failed": 0}
        deadline = time.monotonic() + PASS_BUDGET_S
        while time.monotonic() < deadline:
            rows = self._db.query("alert_deliveries_claim", limit=self._batch)
            for row in rows:
                if time.monotonic() > deadline:  # the rest keep their lease and go at a later pass
                    return counts
                ok, response, ms = self.send(row["channel"], row["subject"], row["message"])
                state = self._db.one("alert_delivery_result", id=row["id"], ok=ok, response=response,
                                     duration_ms=ms, delay_s=backoff_s(row["attempts"]),
                                     max_attempts=MAX_ATTEMPTS)["state"]
                counts["sent" if ok else "failed"] += 1
                if not ok:
                    log.warning("alert notice %s (%s) failed: %s; %s", row["id"], row["channel"].get("type"),
                                response, "gave up" if state == "GAVE_UP" else "will retry")
            if len(rows) < self._batch:
                break
        return counts

    def send(self, channel: dict, subject: str, message: dict) -> tuple[bool, str, float]:
        """(sent?, what the channel answered, milliseconds): never raises for a channel's fault."""
        started = time.perf_counter()
        try:
            if channel.get("type") == "webhook":
                ok, response = self._post(channel["url"], message)
            elif channel.get("type") == "email":
                self._mailer.send(channel["to"], subject, _email_body(message))
                ok, response = True, "accepted by the relay"
            else:
                ok, response = False, "unknown channel type"
        except MailError as exc:
            ok, response = False, f"email: {exc}"
        return ok, _excerpt(response), round((time.perf_counter() - started) * 1000, 2)

    def _post(self, url: str, message: dict) -> tuple[bool, str]:
        refused = egress.refusal(url, resolve=True)
        if refused:
            return False, f"refused destination: {refused}"
        body = json.dumps(message, sort_keys=True, separators=(",", ":")).encode()
        try:
            resp = self._http.request("POST", url, body=body, timeout=TIMEOUT, redirect=False,
                                      preload_content=False, headers={
                                          "Content-Type": "application/json", "User-Agent": "MosPay-Alerts/1",
                                          "MosPay-Signature": signature_header([self._secret], body, int(time.time()))})
            try:
                answer = resp.read(EXCERPT)  # a small excerpt for the log, never the whole body
            finally:
                resp.close()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            # urllib3 names the URL's path in its errors; a chat webhook's path is its credential.
            path = urlsplit(url)._replace(scheme="", netloc="").geturl()
            text = str(exc).replace(path, "/…") if len(path) > 1 else str(exc)
            return False, f"{type(exc).__name__}: {text[:200]}"
        text = answer.decode("utf-8", errors="replace")
        return 200 <= resp.status < 300, f"HTTP {resp.status} {text}".strip()

    def test(self, channel: dict, notice: dict) -> dict:
        """Send a test notification now (the portal's button, the admin API): the answer, logged as a
        `test` delivery so it shows in the log; no retry."""
        ok, response, ms = self.send(channel, notice["subject"], notice["message"])
        with self._db.transaction() as tx:  # never seen PENDING: deliver_due must not send it again
            row = tx.one("alert_delivery_insert", alert_id=None, rule_id=notice["message"]["alert"]["rule_id"],
                         kind="test", channel=json.dumps(channel), subject=notice["subject"],
                         message=json.dumps(notice["message"]))
            tx.query("alert_delivery_result", id=row["id"], ok=ok, response=response, duration_ms=ms,
                     delay_s=0, max_attempts=1)
        return {"delivered": ok, "response": response, "duration_ms": ms, "channel": channel}

    def close(self) -> None:
        self._http.clear()


def _email_body(message: dict) -> str:
    alert = message.get("alert") or {}
    lines = [message.get("text", ""), ""]
    lines += [f"{k}: {v}" for k, v in alert.items() if v is not None]
    return "\n".join(lines) + "\n"

