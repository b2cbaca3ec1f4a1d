"""The batch runner: a scheduler job that claims batch rows with leases (FOR UPDATE SKIP LOCKED, inside
mospay.claim_batch_rows) and pays each one as an ordinary payment through PaymentGateway.process: the
same functions, states, f010 idempotency, reconciler and webhooks. A row re-run after a crash is a replay
of its f010, never a second provider call."""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from . import errors, sealed
from .db import Database
from .payments import ClientCredentials, PaymentGateway, RequestMeta

log = logging.getLogger("mospay.batches")
IDLE_SLEEP_S = 0.05


class BatchRunner:
    def __init__(self, db: Database, gateway: PaymentGateway, *, owner: str, store_key: str, concurrency: int,
                 lease_margin_s: float, budget_s: float = 5.0):
        """budget_s: how long one run keeps claiming before it returns to the scheduler (which renews the
        job's lease meanwhile, and runs it again at its next interval)."""
        self._db = db
        self._gateway = gateway
        self._owner = owner
        self._key = store_key
        self._concurrency = concurrency
        self._margin = lease_margin_s
        self._budget = budget_s
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run_once(self) -> dict:
        """Claim and pay rows until there are none left to claim now, or the budget is spent."""
        done = {"paid": 0, "refused": 0, "released": 0}
        deadline = time.monotonic() + self._budget
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="mospay-batch") as pool:
            running = set()
            while not self._stop.is_set() and time.monotonic() < deadline:
                free = self._concurrency - len(running)
                claimed = self._claim(free) if free > 0 else []
                for row in claimed:
                    running.add(pool.submit(self._pay, row, time.monotonic() + row["send_within_s"]
                                            if row["send_within_s"] is not None else None))
                if not running:
                    if not self._db.one("batch_work_left")["any"]:
                        break
                    time.sleep(IDLE_SLEEP_S * 4)  # rows exist but none may start yet (limits, pauses)
                    continue
                finished, running = wait(running, timeout=IDLE_SLEEP_S if not claimed else 0,
                                         return_when=FIRST_COMPLETED)
                running = set(running)
                for future in finished:
                    done[future.result()] += 1
            for future in running:
                done[future.result()] += 1
        return done

    def _claim(self, limit: int) -> list[dict]:
        return self._db.query("batch_claim_rows", owner=self._owner, lease_s=self._margin, limit=limit)

    def _pay(self, row: dict, send_by: float | None) -> str:
        """One row through the payment path. Returns what became of it: paid, refused or released."""
        try:
            return self._pay_row(row, send_by)
        except Exception:  # the lease expires and another pass takes the row again (a replay, if recorded)
            log.exception("batch %s line %s: left for a later pass", row["batch"], row["line_no"])
            return "released"

    def _pay_row(self, row: dict, send_by: float | None) -> str:
        if send_by is not None and time.monotonic() > send_by:
            self._release(row, 0)  # its second's allowance is gone: try again in a later second
            return "released"
        body = dict(row["fields"])  # secret fields masked here, their values in row["secrets"]
        if row["secrets"]:
            try:
                body.update(json.loads(sealed.unseal(self._key, row["secrets"],
                                                     sealed.batch_row_context(row["batch_id"], row["line_no"]))))
            except sealed.Unsealable:  # nothing can be sent without them: refused, never retried forever
                self._finish(row, "REFUSED", "its secret fields cannot be opened: was SECRET_KEY or "
                                             "MOSPAY_CREDENTIALS_KEY changed since the upload?")
                return "refused"
        meta = RequestMeta(request_id=f"{row['batch']}:{row['line_no']}"[:64],
                           endpoint=f"/api/v1/batches/{row['batch']}"[:200], method="BATCH", ip=None,
                           user_agent=None, started=time.perf_counter())
        try:
            outcome = self._gateway.process(ClientCredentials(row["app_id"], batch=True), body, meta)
        except errors.TooManyRequests as exc:  # the client's own payment rate: wait as any caller would
            self._release(row, _retry_after(exc, 1.0))
            return "released"
        except errors.ServiceUnavailable as exc:  # an open breaker or a busy database pauses the row
            self._release(row, _retry_after(exc, 5.0))
            return "released"
        except errors.Conflict as exc:
            if exc.code == "in_progress":  # the same f010 is still being paid elsewhere: its answer first
                self._release(row, 2.0)
                return "released"
            self._finish(row, "REFUSED", exc.message)
            return "refused"
        except errors.MosPayError as exc:  # refused before anything was recorded: nothing was sent
            self._finish(row, "REFUSED", f"{exc.code}: {exc.message}")
            return "refused"
        self._finish(row, "DONE", (outcome.body.get("result") or {}).get("message"))
        return "paid"

    def _finish(self, row: dict, state: str, message) -> None:
        if not self._db.one("batch_finish_row", batch_id=row["batch_id"], line_no=row["line_no"], owner=self._owner,
                            state=state, message=None if message is None else str(message)[:500])["ok"]:
            log.warning("batch %s line %s: its lease was taken over before it finished", row["batch"], row["line_no"])

    def _release(self, row: dict, wait_s: float) -> None:
        self._db.query("batch_release_row", batch_id=row["batch_id"], line_no=row["line_no"], owner=self._owner,
                       wait_s=float(wait_s))


def _retry_after(exc: errors.MosPayError, default: float) -> float:
    """The wait a refusal asks for (an open breaker's cooldown, the rate limit's refill), bounded."""
    try:
        return min(max(float(exc.headers.get("Retry-After", default)), 0.1), 300.0)
    except (TypeError, ValueError):
        return default
