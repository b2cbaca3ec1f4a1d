"""api_logs retention: delete rows older than MOSPAY_LOG_RETENTION_DAYS in small batches, from
`python -m mospay prune-logs` or a background thread in run.py (hourly)."""

from __future__ import annotations

import logging
import threading
import time

from . import errors
from .db import Database

log = logging.getLogger("mospay.retention")
BATCH = 5000
PAUSE_S = 0.05          # between batches: leaves room for payments' own writes
INTERVAL_S = 3600.0


def prune_logs(db: Database, days: int, *, batch: int = BATCH, max_batches: int = 100_000,
               pause_s: float = PAUSE_S) -> int:
    """Delete api_logs rows older than `days` days, `batch` rows per statement. Returns the count."""
    if days <= 0:
        return 0
    deleted = 0
    for _ in range(max_batches):
        rows = db.query("delete_expired_api_logs", days=days, batch=batch)
        deleted += len(rows)
        if len(rows) < batch:
            break
        time.sleep(pause_s)
    return deleted


class Pruner:
    """A daemon thread that prunes now and then every `interval_s`; stop() ends it promptly."""

    def __init__(self, db: Database, days: int, interval_s: float = INTERVAL_S):
        self._db, self._days, self._interval = db, days, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mospay-prune-logs", daemon=True)

    def start(self) -> "Pruner":
        if self._days > 0:
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                deleted = prune_logs(self._db, self._days)
                if deleted:
                    log.info("api_logs retention: deleted %d rows older than %d days", deleted, self._days)
            except errors.MosPayError as exc:  # the database may be briefly away; try next time
                log.warning("api_logs retention failed: %s", exc)
            except Exception:
                log.exception("api_logs retention failed")
            self._stop.wait(self._interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


def start_pruner(db: Database, days: int, interval_s: float = INTERVAL_S) -> Pruner:
    return Pruner(db, days, interval_s).start()
