"""The simulator's refunds (MTN MoMo shape): POST /v1_0/refund with X-Reference-Id, referenceIdToRefund,
amount and currency; GET /v1_0/refund/<referenceId> is its status. The outcome follows the payments' digit
rule (simulator.OUTCOMES) applied to the refund's amount in minor units: 100.01 -> "0001", a decline."""

from __future__ import annotations

import http.client
import json
import threading
import time
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

PATH = ["v1_0", "refund"]
# Last 4 digits of the amount in minor units -> the provider's answer now, and the status GET reports.
OUTCOMES = {
    "0001": (200, "FAILED"),      # declined: NOT_ENOUGH_FUNDS on the merchant's account
    "0002": (200, "SUCCESSFUL"),  # answers only after hang_seconds (the money moves anyway)
    "0003": (500, "SUCCESSFUL"),  # internal error after the money moved
    "0004": (202, "PENDING"),     # SUCCESSFUL after callback_delay, then a callback
    "0008": (202, "PENDING"),     # FAILED after callback_delay, then a callback
}
SETTLES_TO = {"0004": ("SUCCESSFUL", None), "0008": ("FAILED", "REFUND_REJECTED")}


class RefundLedger:
    """Refund requests by reference (X-Reference-Id / externalId): status, calls, and what each refunded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status: dict[str, str] = {}
        self._calls: dict[str, int] = {}
        self._refunds: dict[str, dict] = {}

    def record(self, reference: str, status: str, refunded: dict) -> None:
        with self._lock:
            self._status[reference] = status
            self._calls[reference] = self._calls.get(reference, 0) + 1
            self._refunds.setdefault(reference, refunded)

    def settle(self, reference: str, status: str) -> None:
        with self._lock:
            self._status[reference] = status

    def status(self, reference: str) -> str | None:
        with self._lock:
            return self._status.get(reference)

    def calls(self) -> dict:
        """Refund requests (never status queries): in all, by reference, and the amounts by payment."""
        with self._lock:
            by_payment: dict[str, str] = {}
            for ref, r in self._refunds.items():
                if self._status.get(ref) != "FAILED":
                    total = Decimal(by_payment.get(r["referenceIdToRefund"], "0")) + Decimal(r["amount"])
                    by_payment[r["referenceIdToRefund"]] = str(total)
            return {"total": sum(self._calls.values()), "by_reference": dict(self._calls),
                    "refunded_by_payment": by_payment}

    def reset(self) -> None:
        with self._lock:
            self._status.clear()
            self._calls.clear()
            self._refunds.clear()


def outcome_digits(amount: str) -> str:
    return f"{int(Decimal(amount) * 100):04d}"[-4:]


def refund(handler, body: bytes) -> None:
    """POST /v1_0/refund; a pending one (0004/0008) settles after callback_delay, then calls X-Callback-Url."""
    server = handler.server
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    reference = handler.headers.get("X-Reference-Id") or (data.get("externalId") if isinstance(data, dict) else None)
    amount = data.get("amount") if isinstance(data, dict) else None
    target = data.get("referenceIdToRefund") if isinstance(data, dict) else None
    try:
        digits = outcome_digits(amount)
    except (InvalidOperation, TypeError, ValueError):
        digits = None
    if not (isinstance(reference, str) and reference and isinstance(target, str) and target and digits):
        handler._reply(400, {"status": "FAILED", "reason": "INVALID_REQUEST"})
        return
    code, status = OUTCOMES.get(digits, (200, "SUCCESSFUL"))
    server.refund_ledger.record(reference, status, {"referenceIdToRefund": target, "amount": str(amount),
                                                    "currency": data.get("currency"), "at": time.time()})
    answer = {"status": status, "externalId": reference, "referenceIdToRefund": target, "amount": amount,
              "currency": data.get("currency")}
    if code == 500:
        handler._reply(500, {"error": "internal_error"})
    elif digits in SETTLES_TO:
        handler._reply(202, {**answer, "status": "PENDING"})
        final, reason = SETTLES_TO[digits]
        threading.Thread(target=_settle_and_call_back, daemon=True,
                         args=(server, handler.headers.get("X-Callback-Url"), reference, final,
                               {**answer, "status": final, "reason": reason})).start()
    else:
        if digits == "0002":
            server.stopping.wait(server.hang_seconds)
        if status == "FAILED":
            answer["reason"] = "NOT_ENOUGH_FUNDS"
        else:
            answer["financialTransactionId"] = f"{int(time.time() * 1000) % 10**10:010d}"
        handler._reply(200, answer)


def _settle_and_call_back(server, url: str | None, reference: str, final: str, payload: dict) -> None:
    """As a payment's: the provider decides after callback_delay, then tells the callback URL (best effort)."""
    if server.stopping.wait(server.callback_delay):
        return
    server.refund_ledger.settle(reference, final)
    if not url:
        return
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=10)
    try:
        conn.request("PUT", parts.path or "/", body=json.dumps(payload).encode(),
                     headers={"Content-Type": "application/json"})
        conn.getresponse().read()
        server.callbacks_sent += 1
    except OSError:
        pass  # the gateway finds out through its own status queries
    finally:
        conn.close()


def status(handler, reference: str) -> None:
    """GET /v1_0/refund/<referenceId>."""
    found = handler.server.refund_ledger.status(reference)
    if found is None:
        handler._reply(404, {"status": "FAILED", "reason": "RESOURCE_NOT_FOUND"})
    else:
        handler._reply(200, {"status": found, "externalId": reference})
