"""Throttling of failed authentication, per-client rate limits, and per-client limit settings.

No HTTP here: the API middleware (mospay/api/guard.py) decides which keys a request has.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time

from . import errors, functions, validators
from .db import Database

log = logging.getLogger("mospay.security")
_CACHE_MAX = 10_000  # blocked keys remembered per process; an attacker cannot grow it without bound


class AuthThrottle:
    """Failed authentications counted in PostgreSQL (shared by every process) per address and per
    (address, credential): a stranger failing for someone's App-ID or username from their own addresses
    never locks the owner out; one address gets `limit` tries per credential and `address_limit` in all.

    The API (client secrets: random, checked by HMAC) writes the table only when an authentication fails;
    whether a key is blocked is answered from an in-process cache filled from each failure's answer, so a
    successful request costs a dict lookup. Admin passwords (bcrypt, guessable by people) reserve their
    attempt first, atomically (`attempt`): parallel guesses cannot get more passwords checked than the limit.
    """

    def __init__(self, db: Database, limit: int, window_s: int, address_limit: int | None = None,
                 metrics=None):
        self._db = db
        self.limit = limit
        # An address may always fail as often as one credential at it may (a lower limit would hide that one).
        self.address_limit = max(limit, address_limit or 3 * limit)
        self.window_s = window_s
        self._metrics = metrics
        self._blocked: dict[str, float] = {}  # key -> time.monotonic() deadline
        self._local: dict[str, tuple[int, float]] = {}  # key -> (failures, window end) while the table is unwritable
        self._noted: dict[tuple, float] = {}  # blocked key sets already written as an event -> until when
        self._lock = threading.Lock()

    @staticmethod
    def keys(ip: str, credential: str | None = None) -> list[str]:
        """The counters one attempt touches: its address, and its credential at that address."""
        ip = storable(ip, 64) or "unknown"
        return ["ip:" + ip] + ([f"cred:{ip}|{storable(credential, 120)}"] if credential else [])

    def _limits(self, keys) -> list[int]:
        return [self.address_limit if k.startswith("ip:") else self.limit for k in keys]

    def check(self, keys) -> None:
        """429 with Retry-After when any key is blocked (no database access)."""
        now = time.monotonic()
        wait = max((self._blocked.get(k, 0.0) - now for k in keys), default=0.0)
        if wait > 0:
            raise _throttled(wait)

    def record_failure(self, keys, *, kind: str, ip: str | None, app_id: str | None, username: str | None,
                       endpoint: str | None, counted: bool = False) -> None:
        """One round trip: the security event and the counters; remembers what is blocked now. When the
        table cannot be written the failure is still counted, in this process, and said loudly."""
        try:
            rows = self._db.query("record_auth_failure", kind=kind, ip=storable(ip, 64),
                                  app_id=storable(app_id, 64), username=storable(username, 64),
                                  endpoint=storable(endpoint, 200), keys=list(keys), limits=self._limits(keys),
                                  window_s=self.window_s, counted=counted)
        except Exception:
            log.error("could not record a failed authentication (%s): counting it in this process only",
                      kind, exc_info=True)
            self._count_write_failure()
            rows = self._count_locally(keys)
        now = time.monotonic()
        with self._lock:
            if len(self._blocked) >= _CACHE_MAX:
                self._blocked = {k: d for k, d in self._blocked.items() if d > now}
            if len(self._blocked) < _CACHE_MAX:
                for row in rows:
                    self._blocked[row["o_key"]] = now + row["o_retry_after"]

    def _count_locally(self, keys) -> list[dict]:
        now, blocked = time.monotonic(), []
        with self._lock:
            if len(self._local) >= _CACHE_MAX:
                self._local = {k: v for k, v in self._local.items() if v[1] > now}
            for key, limit in zip(keys, self._limits(keys)):
                failures, until = self._local.get(key, (0, now + self.window_s))
                failures, until = (failures + 1, until) if until > now else (1, now + self.window_s)
                self._local[key] = (failures, until)
                if failures >= limit:
                    blocked.append({"o_key": key, "o_retry_after": self.window_s})
        return blocked

    def _count_write_failure(self) -> None:
        if self._metrics is not None:
            self._metrics.counter("mospay_security_write_failures_total",
                                  "security events or throttle counters that could not be written").inc()

    def _note_refusal(self, keys: tuple, wait: int, **event) -> None:
        """One security event per blocked key set per block in this process: refused attempts in a loop
        must not become a write each."""
        now = time.monotonic()
        with self._lock:
            if self._noted.get(keys, 0.0) > now:
                return
            if len(self._noted) >= _CACHE_MAX:
                self._noted = {k: d for k, d in self._noted.items() if d > now}
            self._noted[keys] = now + wait
        record_event(self._db, **event)

    @contextlib.contextmanager
    def attempt(self, keys, *, kind: str, ip: str | None, username: str | None, endpoint: str):
        """Around one password check: reserve the attempt (429 when a key is at its limit), record the
        failure if the body raises Unauthorized, give the attempt back if it succeeds."""
        self.check(keys)
        wait = self._db.one("reserve_auth_attempt", keys=list(keys), limits=self._limits(keys),
                            window_s=self.window_s)["wait"]
        if wait > 0:
            self._note_refusal(tuple(keys), wait, kind=kind.replace("failure", "blocked"), ip=ip, username=username,
                               endpoint=endpoint)
            raise _throttled(wait)
        try:
            yield
        except errors.Unauthorized:
            self.record_failure(keys, kind=kind, ip=ip, app_id=None, username=username, endpoint=endpoint,
                                counted=True)
            raise
        self._db.query("release_auth_attempt", keys=list(keys))


def auth_throttle(config, db: Database, metrics=None) -> AuthThrottle:
    """The one set of limits every authentication path uses: API, admin API and portal sign-in."""
    return AuthThrottle(db, config.auth_failure_limit, config.auth_failure_window_s,
                        config.auth_address_failure_limit, metrics)


def _throttled(wait: float) -> errors.TooManyRequests:
    return errors.TooManyRequests("too many failed authentication attempts; try again later",
                                  code="auth_throttled", headers={"Retry-After": str(max(1, math.ceil(wait)))})


def storable(value, limit: int) -> str | None:
    """Text PostgreSQL will take: no NUL, no lone surrogate (what a hostile path or header may carry),
    cut to `limit` characters. A value that could not be stored would lose the row that records it."""
    if value is None:
        return None
    text = str(value).replace("\x00", "")
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:limit]


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
        per_minute = self.per_minute(client)
        if per_minute <= 0:  # no limit: nothing to count, no round trip
            return
        wait = self._db.one("take_rate_token", client_id=client["client_id"], kind=kind,
                            per_minute=per_minute)["retry_after"]
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
    """A security event for the portal; never raises (an unwritable event must not fail the request),
    but an event that cannot be written is logged as an error: it is a gap in the security record."""
    try:
        db.query("insert_security_event", kind=kind, ip=storable(ip, 64), app_id=storable(app_id, 64),
                 username=storable(username, 64), endpoint=storable(endpoint, 200))
    except Exception:
        log.error("could not record security event %s", kind, exc_info=True)
