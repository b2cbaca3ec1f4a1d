"""Per-service circuit breakers: after N consecutive transport failures, fail fast for a cool-down
instead of tying up a worker thread per request on a provider that is down. State is per process: create_app
builds one `Breakers` from the config, shared by the payment path and the reconciler."""

from __future__ import annotations

import threading
import time

from . import errors

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class Breaker:
    """closed -> (N transport failures in a row) -> open -> (cool-down over) -> half_open: one trial
    call; its success closes the breaker, its failure opens it again."""

    def __init__(self, name: str, failures: int, cooldown_s: float, clock=time.monotonic):
        self.name = name
        self._threshold = failures
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_started: float | None = None

    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        return OPEN if self._clock() - self._opened_at < self._cooldown_s else HALF_OPEN

    def allow(self) -> None:
        """Raise 503 service_unavailable while open; in half-open let exactly one trial through
        (a trial that never reports back is given up after another cool-down)."""
        with self._lock:
            state = self._state()
            if state == CLOSED:
                return
            now = self._clock()
            if state == HALF_OPEN and (self._trial_started is None
                                       or now - self._trial_started >= self._cooldown_s):
                self._trial_started = now
                return
            retry = max(1, int(self._cooldown_s - (now - self._opened_at)) + 1) if state == OPEN else 1
        raise errors.ServiceUnavailable(
            f"the provider of {self.name!r} is failing; not calling it for a while, try again later",
            code="service_unavailable", headers={"Retry-After": str(retry)})

    def release(self) -> None:
        """The allowed call was not made (a replay): free the half-open trial slot."""
        with self._lock:
            self._trial_started = None

    def record(self, transport_failure: bool) -> None:
        with self._lock:
            self._trial_started = None
            if not transport_failure:
                self._failures, self._opened_at = 0, None
                return
            self._failures += 1
            if self._failures >= self._threshold or self._opened_at is not None:
                self._opened_at = self._clock()

    def snapshot(self) -> dict:
        with self._lock:
            state = self._state()
            remaining = (self._cooldown_s - (self._clock() - self._opened_at)) if state == OPEN else 0
            return {"state": state, "consecutive_failures": self._failures,
                    "threshold": self._threshold, "cooldown_s": self._cooldown_s,
                    "retry_in_s": round(max(0.0, remaining), 1)}


class Breakers:
    """One breaker per service name, created on first use."""

    def __init__(self, failures: int = 5, cooldown_s: float = 30.0):
        self.failures = failures
        self.cooldown_s = cooldown_s
        self._lock = threading.Lock()
        self._by_service: dict[str, Breaker] = {}

    def get(self, service: str) -> Breaker:
        with self._lock:
            breaker = self._by_service.get(service)
            if breaker is None:
                breaker = self._by_service[service] = Breaker(service, self.failures, self.cooldown_s)
            return breaker

    def snapshot(self) -> dict:
        """{service: {"state": "closed" | "open" | "half_open", "consecutive_failures", ...}}"""
        with self._lock:
            breakers = list(self._by_service.values())
        return {b.name: b.snapshot() for b in breakers}

