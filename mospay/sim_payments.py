"""The simulator's payments (MTN MoMo collection shape): POST or PUT /<route> with payer.partyId and
externalId, the outcome picked by the payer's last 4 digits (OUTCOMES), the Ledger that remembers them for
status queries and the statement, and the callback a pending payment sends once it settles."""

from __future__ import annotations

import http.client
import json
import math
import random
import secrets
import threading
import time
from urllib.parse import urlsplit

# Last 4 digits of payer.partyId -> (HTTP status, status later reported by GET).
# 0002/0003 are remembered as SUCCESSFUL on purpose: the provider moved the money even
# though the caller saw a timeout or a 500, which is what a gateway must reconcile.
OUTCOMES = {
    "0001": (200, "FAILED"),      # decline: NOT_ENOUGH_FUNDS
    "0002": (200, "SUCCESSFUL"),  # answers only after hang_seconds
    "0003": (500, "SUCCESSFUL"),  # internal_error
    "0004": (202, "PENDING"),     # with X-Callback-Url: SUCCESSFUL after callback_delay, then a callback
    "0005": (200, "SUCCESSFUL"),  # answers 200 with a truncated, malformed JSON body
    "0006": (200, "SUCCESSFUL"),  # answers 200, one byte per trickle_seconds, over at least hang_seconds
    "0007": (200, "SUCCESSFUL"),  # answers 200 with a 3 MiB body
    "0008": (202, "PENDING"),     # with X-Callback-Url: FAILED (APPROVAL_REJECTED) after callback_delay
    "0503": (503, "FAILED"),      # overloaded: refused before processing, so no money moved
}
SETTLES_TO = {"0004": ("SUCCESSFUL", None), "0008": ("FAILED", "APPROVAL_REJECTED")}
HUGE_BODY_BYTES = 3 * 1024 * 1024
MAX_TRICKLE_PADDING = 64 * 1024  # keeps a long hang with a tiny trickle under any caller's body limit
DEFAULT_OUTCOME = (200, "SUCCESSFUL")


class Ledger:
    """Thread-safe memory of payment requests: externalId -> last status and call count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status: dict[str, str] = {}
        self._count: dict[str, int] = {}
        self._headers: dict[str, dict] = {}
        self._times: dict[str, list[float]] = {}
        self._moves: dict[str, dict] = {}  # payments it took on (not refused): its statement

    def record(self, external_id: str, status: str, headers: dict | None = None) -> None:
        with self._lock:
            self._status[external_id] = status
            self._count[external_id] = self._count.get(external_id, 0) + 1
            self._headers[external_id] = dict(headers or {})
            self._times.setdefault(external_id, []).append(time.time())

    def took(self, external_id: str, amount, currency) -> None:
        with self._lock:
            self._moves.setdefault(external_id, {"reference": external_id, "amount": amount,
                                                 "currency": currency, "at": time.time()})

    def moves(self) -> list[dict]:
        """Payments taken on, first call first, each with its current status."""
        with self._lock:
            return [{**m, "status": self._status[ext]} for ext, m in self._moves.items()]

    def call_times(self) -> dict[str, list[float]]:
        """When each payment request arrived (time.time()), by externalId: lets a test tell which of its
        attempts reached the provider once it knows the reference each payment was sent."""
        with self._lock:
            return {k: list(v) for k, v in self._times.items()}

    def headers(self, external_id: str) -> dict | None:
        with self._lock:
            return self._headers.get(external_id)

    def status(self, external_id: str) -> str | None:
        with self._lock:
            return self._status.get(external_id)

    def calls(self) -> dict:
        with self._lock:
            return {"total": sum(self._count.values()), "by_external_id": dict(self._count)}

    def settle(self, external_id: str, status: str) -> None:
        """The payer approved or rejected: later status queries see it (not counted as a call)."""
        with self._lock:
            self._status[external_id] = status

    def reset(self) -> None:
        with self._lock:
            self._status.clear()
            self._count.clear()
            self._headers.clear()
            self._moves.clear()
            self._times.clear()


def pay(handler, body: bytes, callback_url: str | None) -> None:
    """POST or PUT /<route>: a collection request; the payer's last 4 digits pick the outcome (OUTCOMES)."""
    server = handler.server
    try:
        data = json.loads(body)
    except ValueError:  # includes UnicodeDecodeError
        data = None
    payer = data.get("payer") if isinstance(data, dict) else None
    msisdn = payer.get("partyId") if isinstance(payer, dict) else None
    ext = data.get("externalId") if isinstance(data, dict) else None
    if not (isinstance(msisdn, str) and msisdn.strip() and isinstance(ext, str) and ext):
        handler._reply(400, {"status": "FAILED", "reason": "INVALID_REQUEST"})
        return
    suffix = msisdn.strip()[-4:]
    code, status = OUTCOMES.get(suffix, DEFAULT_OUTCOME)
    # Remember before answering so a status GET during a hang already sees the request.
    server.ledger.record(ext, status, dict(handler.headers.items()))
    if suffix != "0503":  # refused before processing: nothing for the statement
        server.ledger.took(ext, data.get("amount"), data.get("currency"))
    if suffix == "0001":
        handler._reply(200, {"status": "FAILED", "reason": "NOT_ENOUGH_FUNDS",
                             "externalId": ext, "financialTransactionId": None})
    elif suffix == "0003":
        handler._reply(500, {"error": "internal_error"})
    elif suffix == "0503":
        handler._reply(503, {"error": "service_unavailable"})
    elif suffix in SETTLES_TO:
        handler._reply(202, {"status": "PENDING", "externalId": ext})
        if callback_url:
            final, reason = SETTLES_TO[suffix]
            threading.Thread(target=_settle_and_call_back, daemon=True,
                             args=(server, callback_url, ext, final, reason, data)).start()
    elif suffix == "0005":
        handler._send_raw(200, b'{"status": "SUCCESSFUL", "externalId": "' + ext.encode()[:64])
    elif suffix == "0006":
        body = json.dumps({"status": "SUCCESSFUL", "externalId": ext}).encode()
        handler._send_raw(200, _lasting(body, server.hang_seconds, server.trickle_seconds), trickle=True)
    elif suffix == "0007":
        padding = b"x" * HUGE_BODY_BYTES
        handler._send_raw(200, b'{"status": "SUCCESSFUL", "padding": "' + padding + b'"}')
    else:
        if suffix == "0002":
            # An Event wait instead of sleep() so stop() does not wait out the hang.
            server.stopping.wait(server.hang_seconds)
        handler._reply(200, {"status": "SUCCESSFUL", "externalId": ext,
                             "financialTransactionId": f"{secrets.randbelow(10**10):010d}",
                             "amount": data.get("amount"), "currency": data.get("currency")})


def _lasting(body: bytes, seconds: float, per_byte: float) -> bytes:
    """The body led by JSON whitespace so that, one byte per `per_byte` s, it takes at least `seconds`:
    how long the trickle lasts must not depend on the length of the caller's externalId."""
    if per_byte <= 0:
        return body
    padding = min(MAX_TRICKLE_PADDING, max(0, math.ceil(seconds / per_byte) - len(body)))
    return b" " * padding + body


def _settle_and_call_back(server, url: str, ext: str, final: str, reason, data: dict) -> None:
    """The payer decides after callback_delay; then the provider tells the callback URL (maybe twice,
    maybe never: callbacks are best effort, which is why MosPay confirms them with a status query)."""
    if server.stopping.wait(server.callback_delay):
        return
    server.ledger.settle(ext, final)
    payload = json.dumps({"externalId": ext, "status": final, "reason": reason,
                          "financialTransactionId": f"{secrets.randbelow(10**10):010d}" if final == "SUCCESSFUL" else None,
                          "amount": data.get("amount"), "currency": data.get("currency"),
                          "payer": data.get("payer")}).encode()
    parts = urlsplit(url)
    for _ in range(server.callback_duplicates):
        if random.random() < server.callback_drop_rate:
            continue
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=10)
        try:
            conn.request("PUT", parts.path or "/", body=payload, headers={"Content-Type": "application/json"})
            conn.getresponse().read()
            server.callbacks_sent += 1
        except OSError:
            pass  # the gateway will find out through its own status queries
        finally:
            conn.close()
    server.callback_rounds += 1
