"""Provider callbacks: hints, never verdicts. Each is recorded and deduplicated, matched to its
transactions by service and externalId, and only a status query (the reconciler's) writes a final state.
Unauthenticated, so bounded: body size and rate per address and per service, and one answer for all."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from . import errors, functions
from .db import Database
from .payments import F010_RE
from .reconciler import Reconciler
from .redact import mask

log = logging.getLogger("mospay.callbacks")
OPEN = ("RECEIVED", "PENDING", "UNKNOWN")
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


ANSWER = {"received": True}  # the same whatever matched: a callback is no oracle for references


class TokenBuckets:
    """`per_minute` events per key in a burst, refilled evenly; in this process (callbacks are rare and
    cheap to refuse, so N processes allowing N times the rate is fine). Bounded: at most _KEYS keys.
    Not thread-safe by itself: CallbackLimits holds the lock."""

    _KEYS = 10_000

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}

    def _tokens(self, key: str, now: float) -> float:
        tokens, last = self._buckets.get(key, (float(self.per_minute), now))
        return min(float(self.per_minute), tokens + (now - last) * self.per_minute / 60.0)

    def wait(self, key: str, now: float) -> float:
        """0 when a token is there, else the seconds until there is one."""
        if self.per_minute <= 0:
            return 0.0
        return max(0.0, (1.0 - self._tokens(key, now)) * 60.0 / self.per_minute)

    def take(self, key: str, now: float) -> None:
        if self.per_minute <= 0:
            return
        if len(self._buckets) >= self._KEYS and key not in self._buckets:  # full buckets need no row
            self._buckets = {k: v for k, v in self._buckets.items() if self._tokens(k, now) < self.per_minute}
        self._buckets[key] = (self._tokens(key, now) - 1.0, now)


class CallbackLimits:
    """Callbacks are unauthenticated: per address and per service, at most so many a minute. A refused
    callback takes no token, so one noisy address cannot use up its service's allowance."""

    def __init__(self, per_address: int, per_service: int):
        self._addresses = TokenBuckets(per_address)
        self._services = TokenBuckets(per_service)
        self._lock = threading.Lock()

    def admit(self, service: str, ip: str) -> None:
        now = time.monotonic()
        with self._lock:
            wait = max(self._addresses.wait(ip, now), self._services.wait(service, now))
            if wait <= 0:
                self._addresses.take(ip, now)
                self._services.take(service, now)
                return
        raise errors.TooManyRequests("too many callbacks; try again later", code="callback_rate_limited",
                                     headers={"Retry-After": str(max(1, math.ceil(wait)))})


def receive(db: Database, service: str, method: str, raw: bytes) -> list[int]:
    """Record one callback; the open transactions it names (to confirm with a status query)."""
    if not functions.NAME_RE.fullmatch(service or "") or not db.query("service_exists", name=service):
        log.warning("callback for unknown service %r ignored", (service or "")[:40])
        raise errors.NotFound("unknown service", code="service_not_found")
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=lambda c: None)
    except (UnicodeDecodeError, ValueError, RecursionError):
        body = None
    external_id = None
    if isinstance(body, dict):
        candidate = body.get("externalId") or body.get("referenceId")
        if isinstance(candidate, str) and F010_RE.fullmatch(candidate):
            external_id = candidate
    stored = mask(body) if isinstance(body, dict) else {"raw": raw[:2000].decode("utf-8", "replace")}
    stored = json.dumps(stored, default=str).replace("\\u0000", "")
    row = db.query("record_callback", service=service, method=method, body_hash=hashlib.sha256(raw).hexdigest(),
                   body=stored, external_id=external_id,
                   outcome="received" if external_id else "malformed")[0]
    if external_id is None:
        log.warning("malformed %s callback ignored (no usable externalId)", service)
        raise errors.BadRequest("a callback must be a JSON object with an externalId", code="malformed_callback")
    if not row["first"]:
        return []
    matches = db.query("callback_matches", service=service, external_id=external_id)
    open_ids = [m["id"] for m in matches if m["status"] in OPEN]
    if not matches and UUID_RE.fullmatch(external_id):  # a refund's reference (its own UUID): refund ids are UUIDs
        matches = db.query("refund_callback_matches", service=service, external_id=external_id)
        open_ids = [m["id"] for m in matches]
    if not open_ids:
        outcome = "unmatched" if not matches else "already final"
        db.query("set_callback_outcome", id=row["id"], outcome=outcome)
        log.info("%s callback for %s: %s", service, external_id, outcome)
        return []
    return [row["id"], *open_ids]


class Confirmer:
    """Confirms callbacks with a status query after the answer is sent, on a few threads of its own:
    the callback's answer takes the same time whether or not it named a payment. When more are waiting
    than `backlog`, the rest is left to the reconciler (the transactions are open, so it will check them)."""

    def __init__(self, db: Database, reconciler: Reconciler, threads: int = 2, backlog: int = 100):
        self._db = db
        self._reconciler = reconciler
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="mospay-callback")
        self._waiting = threading.BoundedSemaphore(backlog)

    def submit(self, found: list[int]) -> None:
        if not found:
            return
        if not self._waiting.acquire(blocking=False):
            log.warning("callback confirmations backlogged: callback %s is left to the reconciler", found[0])
            return
        self._pool.submit(self._confirm, found[0], found[1:])

    def _confirm(self, callback_id: int, open_ids: list[int]) -> None:
        try:
            payments = [i for i in open_ids if isinstance(i, int)]
            counts = (self._reconciler.run_once(ids=payments, cause="callback") if payments else
                      self._reconciler.run_refunds(ids=open_ids, cause="callback"))
            self._db.query("set_callback_outcome", id=callback_id,
                           outcome=f"checked {counts['checked']}, settled {counts['settled']}")
        except Exception:  # the reconciler's next pass checks these transactions anyway
            log.exception("confirming callback %s failed", callback_id)
        finally:
            self._waiting.release()
