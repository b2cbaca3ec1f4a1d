"""Throttling of failed authentication, per-client rate limits, and per-client limit settings.

No HTTP here: the API middleware (mospay/api/guard.py) decides which keys a request has.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from . import errors, functions, validators
from .db import Database

log = logging.getLogger("mospay.security")
_CACHE_MAX = 10_000  # blocked keys remembered per process; an attacker cannot grow it without bound


class AuthThrottle:
    """Failed authentications counted per key (IP, app id, username) in PostgreSQL, shared by every process.

    The table is written only when an authentication fails. Whether a key is blocked is answered from an
    in-process cache, filled from the table's answer to each failure: a successful request costs a dict
    lookup, never a round trip. The price: a process that has not yet seen a failure for a key blocked
    by another process lets one more attempt through, then learns the block from that attempt's answer.
    """

    def __init__(self, db: Database, limit: int, window_s: int):
        self._db = db
        self.limit = limit
        self.window_s = window_s
        self._blocked: dict[str, float] = {}  # key -> time.monotonic() deadline
        self._lock = threading.Lock()

    def check(self, keys) -> None:
        """429 with Retry-After when any key is blocked (no database access)."""
        now = time.monotonic()
        wait = max((self._blocked.get(k, 0.0) - now for k in keys), default=0.0)
        if wait > 0:
            raise errors.TooManyRequests("too many failed authentication attempts; try again later",
                                         code="auth_throttled", headers={"Retry-After": str(math.ceil(wait))})

    def record_failure(self, keys, *, kind: str, ip: str | None, app_id: str | None, username: str | None,
                       endpoint: str | None) -> None:
        """One round trip: the security event and the counters; remembers what is blocked now."""
        rows = self._db.query("record_auth_failure", kind=kind, ip=ip, app_id=app_id, username=username,
                              endpoint=endpoint, keys=list(keys), limit=self.limit, window_s=self.window_s)
        if rows:
            now = time.monotonic()
            with self._lock:
                if len(self._blocked) >= _CACHE_MAX:
                    self._blocked = {k: d for k, d in self._blocked.items() if d > now}
                if len(self._blocked) < _CACHE_MAX:
                    for row in rows:
                        self._blocked[row["o_key"]] = now + row["o_retry_after"]


class RateLimits:
    """Per-client request rates. The buckets live in PostgreSQL (mospay.take_rate_token, one per client
    and kind: payment, token, status), taken in the statement each request already runs, so a limit holds
    across processes and instances. This object knows the server default and turns a refusal into a 429.
    """

    KINDS = {"payment": "/api/v1/payment/process", "token": "/api/v1/auth/token", "status": "/api/v1/payment/status"}

    def __init__(self, default_per_minute: int, db: Database | None = None):
        self.default_per_minute = default_per_minute
        self._db = db
        self._noted: dict[int, float] = {}  # client_id -> when the next rate_limited event may be written
        self._lock = threading.Lock()

    def per_minute(self, client: dict) -> int:
        """The client's own limit, or the server default (0 = no limit)."""
        own = client.get("rate_limit_per_minute")
        return self.default_per_minute if own is None else own

    def take(self, client: dict, kind: str) -> None:
        """One round trip: a token of this kind, or 429 (for requests with no statement to carry it)."""
        wait = self._db.one("take_rate_token", client_id=client["client_id"], kind=kind,
                            per_minute=self.per_minute(client))["retry_after"]
        self.check(client, kind, wait)

    def check(self, client: dict, kind: str, retry_after) -> None:
        """Raise the 429 for a refusal PostgreSQL answered (retry_after > 0), noting it for the portal."""
        if not retry_after:
            return
        self._note(client["client_id"], client["app_id"], self.KINDS[kind])
        rate = self.per_minute(client)
        raise errors.TooManyRequests(f"over your limit of {rate} {kind} requests per minute", code="rate_limited",
                                     headers={"Retry-After": str(max(1, math.ceil(float(retry_after))))})

    def _note(self, client_id: int, app_id: str, endpoint: str) -> None:
        # One security event per client per minute per process: a client in a loop must not flood the table.
        now = time.monotonic()
        with self._lock:
            if self._db is None or self._noted.get(client_id, 0.0) > now:
                return
            if len(self._noted) > _CACHE_MAX:
                self._noted.clear()
            self._noted[client_id] = now + 60
        record_event(self._db, "rate_limited", app_id=app_id, endpoint=endpoint)


def _limit_amount(data: dict, key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.InvalidField("must be a decimal string like \"50000.00\", or null", field=key,
                                  code="invalid_type")
    validators.amount(value, key)
    return value


def set_client_limits(db: Database, app_id: str, data: dict) -> dict:
    """Replace a client's limits; a missing or null value means the default (rate) or no limit (amounts)."""
    functions.check_app_id(app_id)
    unknown = set(data) - {"rate_limit_per_minute", "max_amount_per_transaction", "max_amount_per_day"}
    if unknown:
        name = sorted(unknown)[0][:40]
        raise errors.InvalidField("is not a limit", field=name, code="unknown_field")
    rate = data.get("rate_limit_per_minute")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int) or not 0 <= rate <= 10_000_000):
        raise errors.InvalidField("must be a whole number between 0 and 10000000, or null",
                                  field="rate_limit_per_minute")
    rows = db.query("set_client_limits", app_id=app_id, rate_limit_per_minute=rate,
                    max_amount_per_transaction=_limit_amount(data, "max_amount_per_transaction"),
                    max_amount_per_day=_limit_amount(data, "max_amount_per_day"))
    if not rows:
        raise errors.NotFound("no client with this app_id", field="app_id", code="client_not_found")
    row = rows[0]
    return {"app_id": row["app_id"], "rate_limit_per_minute": row["rate_limit_per_minute"],
            **{k: None if row[k] is None else str(row[k])
               for k in ("max_amount_per_transaction", "max_amount_per_day")}}


def record_event(db: Database, kind: str, *, ip=None, app_id=None, username=None, endpoint=None) -> None:
    """A security event for the portal; never raises (an unwritable event must not fail the request)."""
    try:
        db.query("insert_security_event", kind=kind, ip=ip, app_id=app_id, username=username,
                 endpoint=endpoint)
    except Exception:
        log.warning("could not record security event %s", kind, exc_info=True)
