"""The reconciler: settles PENDING, UNKNOWN and abandoned RECEIVED transactions (and refunds) by asking the
provider through their Status functions on the service's schedule; what it cannot settle goes to the stuck
queue, where an operator resolves it with a reason."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from . import errors, functions
from .breaker import Breakers
from .credentials import CredentialStore
from .db import Database
from .metrics import Metrics
from .provider import Provider, call_planned
from .redact import mask

log = logging.getLogger("mospay.reconciler")
FINAL = ("SUCCESSFUL", "FAILED")


@dataclasses.dataclass(frozen=True)
class _Kind:
    """What the reconciler checks: payments (transactions) or refunds, each with its own named queries."""
    noun: str
    claim: str
    plan: str
    record: str
    release: str
    status_function: Callable[[dict], str | None]


def _refund_status_function(row: dict) -> str | None:
    names = functions.refund_function_names(row["o_app_id"], row["o_service"])
    return names[2] if names else None


PAYMENTS = _Kind("transaction", "claim_checks", "plan_checks", "record_check", "release_checks",
                 lambda row: functions.status_function_name(row["o_app_id"], row["o_service"], row["o_route"]))
REFUNDS = _Kind("refund", "claim_refund_checks", "plan_refund_checks", "record_refund_check",
                "release_refund_checks", _refund_status_function)


class _Refused(Exception):
    """The service's breaker refused a status call; it may be tried again after `after_s`."""

    def __init__(self, after_s: float):
        super().__init__(after_s)
        self.after_s = after_s


class Reconciler:
    def __init__(self, db: Database, provider: Provider, breakers: Breakers | None = None, batch: int = 50,
                 metrics: Metrics | None = None, credentials: CredentialStore | None = None, concurrency: int = 8):
        """`breakers` and `metrics` come from create_app (shared with the payment path and /metrics);
        without them the reconciler keeps private ones (a one-off `python -m mospay reconcile`).
        `concurrency`: status checks in flight at once per service (each under the service's breaker)."""
        self._db = db
        self._provider = provider
        self._breakers = breakers if breakers is not None else Breakers()
        self._metrics = metrics if metrics is not None else Metrics()
        self._batch = batch
        self._credentials = credentials  # for `{{credential:name}}` in a Status function's plan
        self._concurrency = max(1, concurrency)

    def run_once(self, ids: list[int] | None = None, cause: str = "reconciliation") -> dict:
        """One pass over the due transactions (or exactly `ids`, due or not), then, on a full pass, over
        the due refunds. Each is claimed with FOR UPDATE SKIP LOCKED and leased, so concurrent passes in
        other processes skip it."""
        counts = self._run(PAYMENTS, ids, cause)
        if ids is None:
            for key, n in self._run(REFUNDS, None, cause).items():
                counts[key] += n
        return counts

    def run_refunds(self, ids: list | None = None, cause: str = "reconciliation") -> dict:
        """One pass over the due refunds (or exactly the refunds `ids`), through their refund Status functions."""
        return self._run(REFUNDS, ids, cause)

    def _run(self, kind: _Kind, ids, cause: str) -> dict:
        counts = {"checked": 0, "settled": 0, "stuck": 0}
        while True:
            claimed = self._db.query(kind.claim, limit=self._batch, ids=ids)
            for row in claimed:
                row["kind"] = kind
            for status, stuck in self._check_all(self._plan(kind, claimed), cause):
                counts["checked"] += 1
                counts["settled"] += status in FINAL
                counts["stuck"] += stuck
            if ids is not None or len(claimed) < self._batch:
                return counts

    def _check_all(self, planned: list[tuple[dict, dict]], cause: str) -> list[tuple[str, bool]]:
        """Check a claimed batch, at most `concurrency` calls at once per service. A check the
        service's breaker refused is released: due again when the breaker lets a call through, rather
        than after the claim's whole lease."""
        skipped: dict[float, list[int]] = {}
        lock = threading.Lock()
        per_service = {row["o_service"]: threading.Semaphore(self._concurrency) for row, _ in planned}

        def one(item):
            row, plan = item
            with per_service[row["o_service"]]:
                try:
                    return self._check(row, plan, cause)
                except _Refused as refused:  # the breaker: not asked, so not counted
                    with lock:
                        skipped.setdefault(refused.after_s, []).append(row["o_id"])
                    return row["o_status"], False

        workers = min(len(planned), self._concurrency * len(per_service))
        if workers <= 1:
            results = [one(item) for item in planned]
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="mospay-check") as pool:
                results = list(pool.map(one, planned))
        for after_s, ids in skipped.items():
            self._db.query(planned[0][0]["kind"].release, ids=ids, after_s=after_s)
        return results

    def _plan(self, kind: _Kind, claimed: list[dict]) -> list[tuple[dict, dict]]:
        """Each claimed row with what its Status function plans: the names are built here (functions.py),
        and the batch is planned in one statement."""
        if not claimed:
            return []
        for row in claimed:
            try:
                row["function"] = kind.status_function(row)
            except errors.InvalidField:  # no such function can exist: its plan is an error, its check is rescheduled
                row["function"] = None
        plans = {r["o_id"]: r["o_plan"] for r in self._db.query(
            kind.plan, ids=[row["o_id"] for row in claimed], functions=[row["function"] for row in claimed])}
        return [(row, plans.get(row["o_id"])) for row in claimed]

    def _check(self, row: dict, plan, cause: str) -> tuple[str, bool]:
        plan = plan if isinstance(plan, dict) else {}
        code = output = None
        if plan.get("action", "SERVICE") == "SERVICE":
            breaker = self._breakers.get(row["o_service"])
            try:
                breaker.allow()
            except errors.ServiceUnavailable as exc:
                raise _Refused(float(exc.headers.get("Retry-After", 1))) from None
            answer = call_planned(self._provider, breaker, self._metrics, row["o_service"], plan,
                                  float(row["o_connect_timeout_s"]), float(row["o_timeout_s"]), default_method="GET",
                                  credentials=self._credentials, app_id=row["o_app_id"])
            if answer.answered:
                code, output = answer.status, mask(answer.body)
        else:
            log.warning("status function %s planned no call for %s: %s", row["function"], row["o_public_id"],
                        plan.get("message"))
        return self._record(row, code, output, cause)

    def _record(self, row, code, output, cause) -> tuple[str, bool]:
        result = self._db.query(row["kind"].record, id=row["o_id"], function=row["function"], code=code,
                                output=None if output is None else json.dumps(output), cause=cause)[0]
        if result["o_status"] != row["o_status"] or result["o_stuck"]:
            log.info("%s %s: %s -> %s%s", row["kind"].noun, row["o_public_id"], row["o_status"], result["o_status"],
                     " (stuck: needs an operator)" if result["o_stuck"] else "")
        return result["o_status"], result["o_stuck"]


def resolve(db: Database, transaction_id: str, status: str, user_id: int, reason: str) -> dict:
    """An operator settles an open (typically stuck) transaction: SUCCESSFUL or FAILED, with a reason.
    The change is recorded in transaction_events with the user id and reason; a final state stays final."""
    if status not in FINAL:
        raise errors.InvalidField("must be SUCCESSFUL or FAILED", field="status")
    if not isinstance(reason, str) or not 3 <= len(reason.strip()) <= 500:
        raise errors.InvalidField("a reason of 3-500 characters is required", field="reason")
    if not isinstance(transaction_id, str) or len(transaction_id) > 64:
        raise errors.NotFound("no such transaction", field="transaction_id", code="transaction_not_found")
    try:
        rows = db.query("resolve_transaction", public_id=transaction_id, status=status, user_id=user_id,
                        reason=reason.strip())
    except errors.Conflict:
        raise errors.Conflict("this transaction is already final", field="status",
                              code="already_final") from None
    if not rows:
        raise errors.NotFound("no such transaction", field="transaction_id", code="transaction_not_found")
    return {"transaction_id": transaction_id, "status": rows[0]["o_status"]}


def set_schedule(db: Database, service: str, schedule_s: list[int]) -> dict:
    """When the reconciler asks the provider, in seconds after creation (strictly increasing, <= 7 days).
    Match the provider's approval window: asking before the payer can have decided only costs a call."""
    functions.check_name(service, "service")
    if (not isinstance(schedule_s, list) or not 1 <= len(schedule_s) <= 100
            or any(isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= 7 * 86400 for s in schedule_s)
            or any(a >= b for a, b in zip(schedule_s, schedule_s[1:]))):
        raise errors.InvalidField("must be 1-100 increasing whole seconds between 1 and 604800",
                                  field="reconcile_schedule_s")
    rows = db.query("set_reconcile_schedule", name=service, schedule=schedule_s)
    if not rows:
        raise errors.NotFound("no service with this name", field="service", code="service_not_found")
    return {"service": rows[0]["name"], "reconcile_schedule_s": rows[0]["reconcile_schedule_s"]}


def stuck_queue(db: Database, limit: int = 100) -> list[dict]:
    """Open transactions the schedule could not settle, oldest first: the portal's stuck queue."""
    return db.query("stuck_queue", limit=limit)


def history(db: Database, transaction_id: str) -> list[dict]:
    return db.query("transaction_history", public_id=transaction_id)
