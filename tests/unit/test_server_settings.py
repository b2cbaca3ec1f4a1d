"""waitress settings and the queue-depth warning summary (no server started)."""

from __future__ import annotations

import logging

from mospay.server import QueueDepthSummary, connection_limit, effective_workers, waitress_options


def test_queue_depth_warnings_are_summarised_not_logged_per_request():
    logger = logging.getLogger("test.waitress.queue")
    logger.propagate = False
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    logger.addFilter(QueueDepthSummary(interval_s=3600))
    try:
        for depth in range(1, 501):
            logger.warning("Task queue depth is %d", depth)
    finally:
        logger.removeHandler(handler)
    assert len(records) == 1
    assert "MOSPAY_THREADS" in records[0].getMessage()


def test_waitress_options_scale_with_threads_and_body_limit():
    options = waitress_options(16, 64 * 1024)
    # At the connection limit waitress stops accepting: far above what one address's slow heads may hold.
    assert options["threads"] == 16 and options["connection_limit"] == connection_limit(16) >= 100
    assert options["asyncore_use_poll"] is True
    # waitress refuses (as JSON, mospay.server.JsonErrorTask) exactly what the app would: one answer at every size.
    assert options["max_request_body_size"] == 64 * 1024 + 1
    assert waitress_options(4, 1 << 20)["max_request_body_size"] == (1 << 20) + 1


def test_one_worker_stays_one():
    assert effective_workers(1) == 1 and effective_workers(0) == 1
