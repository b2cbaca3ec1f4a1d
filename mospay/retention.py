"""Retention: api_logs rows older than MOSPAY_LOG_RETENTION_DAYS and webhook attempts older than 30 days,
deleted in small batches, from `python -m mospay prune-logs` or the scheduler's jobs (hourly)."""

from __future__ import annotations

import logging
import time

from .db import Database

log = logging.getLogger("mospay.retention")
BATCH = 5000
PAUSE_S = 0.05          # between batches: leaves room for payments' own writes
INTERVAL_S = 3600.0     # the scheduler's prune_logs job


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
    if deleted:
        log.info("api_logs retention: deleted %d rows older than %d days", deleted, days)
    return deleted


def prune_webhook_attempts(db: Database, days: int = 30, *, batch: int = BATCH, max_batches: int = 100_000,
                           pause_s: float = PAUSE_S) -> int:
    """Delete webhook delivery attempts older than `days` days (the merchant delivery log's window)."""
    deleted = 0
    for _ in range(max_batches):
        rows = db.query("delete_old_webhook_attempts", days=days, batch=batch)
        deleted += len(rows)
        if len(rows) < batch:
            break
        time.sleep(pause_s)
    if deleted:
        log.info("webhook attempts retention: deleted %d attempts older than %d days", deleted, days)
    return deleted


def prune(db: Database, days: int) -> dict:
    """The scheduler's prune_logs job: api_logs past `days`, and webhook attempts past the delivery
    log's 30 days (kept as long as the logs when those are kept less)."""
    return {"api_logs": prune_logs(db, days), "webhook_attempts": prune_webhook_attempts(db, max(1, min(days, 30)))}
