"""waitress settings shared by run.py and the benchmark's ceiling app, and `--workers N` (pre-forked
processes sharing one listening socket). No Falcon here: the caller passes the app factory."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time

log = logging.getLogger("mospay.server")


def waitress_options(threads: int, max_body_bytes: int = 64 * 1024) -> dict:
    """The waitress settings MosPay runs with (docs/decisions.md, "Performance", explains each)."""
    return {
        "threads": threads,
        # Idle keep-alive connections cost no thread; this bounds sockets, not concurrency.
        "connection_limit": max(100, threads * 8),
        "backlog": 1024,
        "channel_timeout": 60,
        # poll() instead of select(): select() breaks past 1024 file descriptors.
        "asyncore_use_poll": True,
        "max_request_body_size": max(1 << 20, 4 * max_body_bytes),
        # False: mospay.proxy.TrustedProxies judges X-Forwarded-* against MOSPAY_TRUSTED_PROXIES (a list;
        # waitress's trusted_proxy takes one address) and strips them from everyone else.
        "clear_untrusted_proxy_headers": False,
    }


class QueueDepthSummary(logging.Filter):
    """waitress logs "Task queue depth is N" for every request that waits for a thread: under a burst
    that is a line per request. Keep the signal (overload) but say it at most once per interval."""

    def __init__(self, interval_s: float = 60.0):
        super().__init__()
        self._interval = interval_s
        self._next = 0.0
        self._suppressed = 0
        self._max = 0

    def filter(self, record: logging.LogRecord) -> bool:
        depth = record.args[0] if isinstance(record.args, tuple) and record.args else 0
        self._max = max(self._max, depth if isinstance(depth, int) else 0)
        now = time.monotonic()
        if now < self._next:
            self._suppressed += 1
            return False
        record.msg = ("requests are waiting for a worker thread (queue depth %d, max %d, %d similar "
                      "warnings suppressed in the last %ds): raise MOSPAY_THREADS or add --workers")
        record.args = (depth, self._max, self._suppressed, int(self._interval))
        self._next, self._suppressed, self._max = now + self._interval, 0, 0
        return True


def install_log_filters() -> None:
    logging.getLogger("waitress.queue").addFilter(QueueDepthSummary())


def bind_socket(host: str, port: int) -> socket.socket:
    """One listening socket for all workers: the port is taken once, so port 0 works too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


def effective_workers(requested: int) -> int:
    if requested > 1 and (sys.platform == "win32" or not hasattr(os, "fork")):
        log.warning("--workers %d needs fork(), which this platform lacks: running 1 process", requested)
        return 1
    return max(1, requested)


def run_workers(sock: socket.socket, count: int, child_main) -> int:
    """Fork `count` children that each run child_main(sock) (own database pool, own waitress);
    SIGTERM/SIGINT to the parent stops them all; a child that dies stops the others (fail loudly)."""
    children: dict[int, int] = {}
    for index in range(count):
        pid = os.fork()
        if pid == 0:  # the child: never returns into the parent's code
            code = 1
            try:
                code = child_main(sock, index) or 0
            except BaseException:  # noqa: BLE001 - logged, then the child exits with a failure code
                log.exception("worker %d failed", index)
            finally:
                os._exit(code)
        children[pid] = index
    sock.close()

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    while children:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        index = children.pop(pid, None)
        exit_code = os.waitstatus_to_exitcode(code)
        if not stopping:
            log.error("worker %s exited with %s: stopping the others", index, exit_code)
            status = 1
            stop(None, None)
    return status
