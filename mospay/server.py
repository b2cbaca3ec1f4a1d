"""waitress settings shared by run.py and the benchmark's ceiling app, and `--workers N` (pre-forked
processes sharing one listening socket). No Falcon here: the caller passes the app factory."""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import os
import re
import secrets
import signal
import socket
import sys
import time

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher
from waitress.utilities import RequestHeaderFieldsTooLarge

log = logging.getLogger("mospay.server")


def waitress_options(threads: int, max_body_bytes: int = 64 * 1024, max_header_bytes: int = 16 * 1024) -> dict:
    """The waitress settings MosPay runs with (docs/decisions.md, "Performance", explains each)."""
    return {
        "threads": threads,
        # Idle keep-alive connections cost no thread; this bounds sockets, not concurrency. Generous (up to
        # the file descriptors we may open): at the limit waitress stops accepting and nobody is answered,
        # so it must not be reachable by one address's slow connections (GuardedServer caps those).
        "connection_limit": connection_limit(threads),
        "backlog": 1024,
        "channel_timeout": 60,
        # How often idle connections and slow request heads are looked for (GuardedServer.maintenance:
        # one pass over the open connections, cheap at this limit).
        "cleanup_interval": 1,
        # poll() instead of select(): select() breaks past 1024 file descriptors.
        "asyncore_use_poll": True,
        # waitress refuses (with JsonErrorTask's 413) at the parser, before the body is read, anything
        # the app would refuse: one answer for every size. It refuses a length equal to its limit: +1.
        "max_request_body_size": max_body_bytes + 1,
        "max_request_header_size": max_header_bytes,
        # False: mospay.proxy.TrustedProxies judges X-Forwarded-* against MOSPAY_TRUSTED_PROXIES (a list;
        # waitress's trusted_proxy takes one address) and strips them from everyone else.
        "clear_untrusted_proxy_headers": False,
    }


def connection_limit(threads: int) -> int:
    """1024 sockets, or fewer when RLIMIT_NOFILE would not leave room for the database pool and logs."""
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        budget = 1024 if soft == resource.RLIM_INFINITY else soft - 128
    except (ImportError, OSError, ValueError):  # no resource module (Windows): select()'s own bound
        budget = 512
    return max(100, min(max(1024, threads * 8), budget))


MAX_HEADER_LINES = 100  # request headers; a browser sends about 20
_REASONS = {400: "bad_request", 413: "payload_too_large", 431: "headers_too_large", 501: "not_implemented"}


class JsonErrorTask(ErrorTask):
    """What waitress answers by itself (body or head too large, unparsable request) in the API's JSON
    error shape instead of waitress's text/plain page."""

    def execute(self):
        error = self.request.error
        adj = self.channel.server.adj
        limit = getattr(self.request, "adj", adj).max_request_body_size  # a large-body path's own limit
        message = {413: f"the body is larger than {limit - 1} bytes",
                   431: f"the request head is larger than {adj.max_request_header_size} bytes or has more "
                        f"than {MAX_HEADER_LINES} header lines"}.get(error.code, error.reason)
        body = json.dumps({"error": {"code": _REASONS.get(error.code, "bad_request"), "message": message}}).encode()
        self.status = f"{error.code} {error.reason}"
        # The headers mospay.api.guard.SecurityHeaders gives every API answer, and a request id to quote.
        self.response_headers.extend([
            ("Content-Type", "application/json"), ("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store"),
            ("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY"),
            ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
            ("X-Request-ID", secrets.token_hex(8))])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _BodyLimit:
    """The server's Adjustments with another max_request_body_size, for one request."""

    def __init__(self, adj, max_request_body_size: int):
        self._adj = adj
        self.max_request_body_size = max_request_body_size

    def __getattr__(self, name):
        return getattr(self._adj, name)


class HeadParser(HTTPRequestParser):
    """waitress's parser with a bound on the number of header lines (its own bound is on bytes only), and
    a larger body limit for the few POST paths in `large_bodies` ((compiled path pattern, bytes), e.g. a
    provider statement upload): every other request keeps the small limit, refused from the head."""

    def __init__(self, adj, large_bodies=()):
        super().__init__(adj)
        self._large_bodies = large_bodies

    def parse_header(self, header_plus):
        if header_plus.count(b"\n") >= MAX_HEADER_LINES:
            super().parse_header(b"GET / HTTP/1.0\r\n")
            self.error = RequestHeaderFieldsTooLarge(f"more than {MAX_HEADER_LINES} header lines")
            self.completed = True
            return
        super().parse_header(header_plus)
        for pattern, limit in self._large_bodies:
            if self.command == "POST" and pattern.fullmatch(self.path or ""):
                self.adj = _BodyLimit(self.adj, limit + 1)  # waitress refuses a length equal to it: +1
                break


class GuardedChannel(HTTPChannel):
    """A connection with a deadline for each request head. waitress's channel_timeout restarts on every
    byte, so a client trickling one header line every few seconds (slowloris) kept its connection for
    ever; here the whole head must arrive within header_timeout_s of its first byte (or of the connect)."""

    parser_class = HeadParser
    error_task_class = JsonErrorTask

    def __init__(self, server, sock, addr, adj, map=None):
        self.head_started = time.monotonic()  # None while idle between requests
        self.peer = addr[0] if isinstance(addr, tuple) and addr else None
        self.parser_class = functools.partial(HeadParser, large_bodies=getattr(server, "large_bodies", ()))
        super().__init__(server, sock, addr, adj, map)

    def received(self, data):
        if self.request is None and data and self.head_started is None:
            self.head_started = time.monotonic()
        result = super().received(data)
        if self.request is None:  # the head (and body) complete: idle keep-alive is channel_timeout's
            self.head_started = None
        return result


SLOW_HEAD_S = 1.0  # a head still incomplete after this long counts as slow (a real client sends it at once)


class GuardedServer(TcpWSGIServer):
    """waitress's TCP server with the slow-head deadline and a cap on *slow* connections per client
    address (heads still incomplete after SLOW_HEAD_S): past the cap the newest are closed, and the
    address's new connections are refused at accept until it is under the cap again. Connections that
    send their requests promptly never count, however many one address keeps open or in flight.
    Addresses in `exempt` (trusted proxies, which buffer request heads themselves) are never capped."""

    channel_class = GuardedChannel

    def __init__(self, application, *, header_timeout_s: float, per_address: int, exempt=(), large_bodies=(),
                 **kw):
        self.header_timeout_s = header_timeout_s
        self.large_bodies = large_bodies  # HeadParser's larger body limits, per path
        self.per_address = per_address
        self._exempt = [ipaddress.ip_network(n, strict=False) for n in exempt]
        self._slow: dict[str, int] = {}  # address -> slow connections, as counted by the last maintenance
        self._refused, self._next_refusal_log = 0, 0.0
        super().__init__(application, **kw)

    def _capped(self, peer) -> bool:
        if not self.per_address or peer is None:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return True
        return not any(address in network for network in self._exempt)

    def handle_accept(self):
        try:
            accepted = self.accept()
            if accepted is None:
                return
            conn, addr = accepted
            peer = addr[0] if isinstance(addr, tuple) and addr else None
            if self.per_address and self._slow.get(peer, 0) >= self.per_address:
                conn.close()
                self._note_refusal(peer)
                return
            self.set_socket_options(conn)
        except OSError:
            if self.adj.log_socket_errors:
                self.logger.warning("server accept() threw an exception", exc_info=True)
            return
        self.channel_class(self, conn, self.fix_addr(addr), self.adj, map=self._map)

    def _note_refusal(self, peer) -> None:
        self._refused += 1
        now = time.monotonic()
        if now >= self._next_refusal_log:  # a flood of refusals is one line a minute, not one per connect
            log.warning("closed %d slow connection(s) over MOSPAY_CONNECTIONS_PER_ADDRESS=%d (latest from %s)",
                        self._refused, self.per_address, peer)
            self._refused, self._next_refusal_log = 0, now + 60

    def maintenance(self, now):
        super().maintenance(now)
        mono = time.monotonic()
        slow: dict[str, list] = {}
        for channel in list(self.active_channels.values()):
            started = getattr(channel, "head_started", None)
            if started is None or channel.requests:
                continue
            if mono - started > self.header_timeout_s:
                channel.will_close = True  # the request head took too long: slowloris
            elif mono - started > SLOW_HEAD_S and self._capped(channel.peer):
                slow.setdefault(channel.peer, []).append(channel)
        self._slow = {peer: len(channels) for peer, channels in slow.items()}
        for peer, channels in slow.items():
            if len(channels) > self.per_address:
                channels.sort(key=lambda c: c.head_started)
                for channel in channels[self.per_address:]:
                    channel.will_close = True
                self._note_refusal(peer)


def create_server(app, *, config, **where):
    """The server run.py runs: waitress with MosPay's options, its JSON errors, the head deadline and
    the per-address connection cap. `where`: host and port, or sockets=[a pre-bound socket]."""
    options = waitress_options(config.threads, max(config.max_body_bytes, config.callback_max_bytes),
                               config.max_header_bytes)
    adj = Adjustments(ident="mospay", **where, **options)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    if adj.sockets:
        sock = adj.sockets[0]
        sockinfo = (sock.family, sock.type, sock.proto, sock.getsockname())
        kw = {"_sock": sock, "bind_socket": False, "sockinfo": sockinfo}
    else:
        kw = {"sockinfo": adj.listen[0]}
    return GuardedServer(app, header_timeout_s=config.header_timeout_s, per_address=config.connections_per_address,
                         exempt=config.trusted_proxies, large_bodies=large_bodies(config), map={},
                         dispatcher=dispatcher, adj=adj, **kw)


# Provider statement uploads (the admin API and the portal's form) may be far larger than any other body.
STATEMENT_PATHS = re.compile(r"/api/v1/admin/services/[^/]+/statements|/admin/statements")


# Batch uploads (the client API's POST /api/v1/batches) likewise.
BATCH_PATHS = re.compile(r"/api/v1/batches")


def large_bodies(config) -> tuple:
    return ((STATEMENT_PATHS, max(config.statement_max_bytes + 64 * 1024, config.max_body_bytes)),
            (BATCH_PATHS, max(config.batch_max_bytes + 64 * 1024, config.max_body_bytes)))


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
