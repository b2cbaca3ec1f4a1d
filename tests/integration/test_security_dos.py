"""No cheap denial of service at the HTTP layer, against a real run.py: slow request heads (slowloris)
from one address cannot starve everyone else, and oversized bodies and heads get a JSON answer."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time

import pytest

from tests.integration.security_support import own_gateway

TRICKLERS = 300


@pytest.fixture(scope="module")
def gw(postgres, template_db, simulator):
    env = {"MOSPAY_HEADER_TIMEOUT": "5"}  # the default is 10 s; 5 keeps the test short
    with own_gateway(postgres, template_db, simulator, env) as (gateway,):
        yield gateway


def port_of(gw) -> int:
    return int(gw.url.rsplit(":", 1)[1])


def exchange(gw, head: bytes, source: str = "127.0.0.1", timeout: float = 10.0) -> tuple[bytes, float]:
    """Send a request head (no body), read until the server closes or answers; (answer, seconds)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port_of(gw)), timeout=timeout, source_address=(source, 0)) as s:
        s.sendall(head)
        answer = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in answer or len(answer) < answer.index(b"\r\n\r\n") + 4 + _length(answer):
                chunk = s.recv(65536)
                if not chunk:
                    break
                answer += chunk
    return answer, time.monotonic() - started


def _length(answer: bytes) -> int:
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    for line in head.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def json_error(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower(), head
    return status, json.loads(body)["error"]


class Tricklers:
    """Connections that each send a request line, then one header line a second, never finishing."""

    def __init__(self, port: int, count: int):
        self.sockets = []
        for _ in range(count):
            s = socket.socket()
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            with contextlib.suppress(OSError):
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: mospay\r\n")
            self.sockets.append(s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self):
        n = 0
        while not self._stop.wait(1.0):
            n += 1
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.send(b"X-Slow-%d: 1\r\n" % n)

    def wait_open_at_most(self, count: int, until: float) -> int:
        """Poll until at most `count` of the connections are still open, or `until`; how many are open."""
        open_ones = list(self.sockets)
        while True:
            open_ones = [s for s in open_ones if not self.closed_by_server(s)]
            if len(open_ones) <= count or time.monotonic() > until:
                return len(open_ones)
            time.sleep(0.1)

    def closed_by_server(self, s) -> bool:
        s.setblocking(False)
        try:
            return s.recv(1024) == b""
        except BlockingIOError:
            return False
        except OSError:  # reset: closed too
            return True

    def close(self):
        self._stop.set()
        self._thread.join(5)
        for s in self.sockets:
            s.close()


def test_slow_request_heads_from_one_address_do_not_starve_other_clients(gw):
    started = time.monotonic()
    tricklers = Tricklers(port_of(gw), TRICKLERS)
    try:
        # 300 slow heads are open from 127.0.0.1 (waitress's old connection limit was 128).
        answer, seconds = exchange(gw, b"GET /healthz HTTP/1.1\r\nHost: mospay\r\n\r\n", source="127.0.0.3",
                                   timeout=5)
        assert answer.startswith(b"HTTP/1.1 200") and seconds < 1.5, (answer[:80], seconds)
        # Past MOSPAY_CONNECTIONS_PER_ADDRESS (32) slow heads, the newest are closed within a few seconds,
        # well before the head deadline (5 s here).
        assert tricklers.wait_open_at_most(32, until=started + 4.5) <= 32
        # And every head must be complete within MOSPAY_HEADER_TIMEOUT however it trickles in.
        assert tricklers.wait_open_at_most(0, until=started + 15) == 0
    finally:
        tricklers.close()
    answer, seconds = exchange(gw, b"GET /healthz HTTP/1.1\r\nHost: mospay\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200") and seconds < 1.5


def test_many_prompt_connections_from_one_address_are_not_capped(gw):
    sockets = [socket.create_connection(("127.0.0.1", port_of(gw)), timeout=10) for _ in range(100)]
    try:
        for s in sockets:  # all open at once, each sending its request at once: none is slow
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: mospay\r\n\r\n")
        assert all(s.recv(12) == b"HTTP/1.1 200" for s in sockets)
    finally:
        for s in sockets:
            s.close()


def test_a_connection_that_sends_nothing_is_closed_after_the_head_deadline(gw):
    with socket.create_connection(("127.0.0.1", port_of(gw)), timeout=10) as s:
        started = time.monotonic()
        assert s.recv(100) == b""
        assert 4.5 < time.monotonic() - started < 8


@pytest.mark.parametrize("size", [64 * 1024 + 1, 2 * 1024 * 1024, 20 * 1024 * 1024])
def test_a_body_over_the_limit_gets_a_json_413_at_every_size(gw, size):
    head = (b"POST /api/v1/payment/process HTTP/1.1\r\nHost: mospay\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % size)
    answer, seconds = exchange(gw, head)
    status, error = json_error(answer)
    assert status == 413 and error["code"] == "payload_too_large" and "65536" in error["message"]
    assert seconds < 5  # answered from the head: the body is never waited for


def test_a_body_at_the_limit_reaches_the_app(gw):
    body = b'{"f000": "' + b"a" * (64 * 1024 - 12) + b'"}'
    assert len(body) == 64 * 1024
    head = (b"POST /api/v1/payment/process HTTP/1.1\r\nHost: mospay\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    answer, _ = exchange(gw, head + body)
    status, error = json_error(answer)
    assert status == 401  # the control: the app answered (no credentials), not the size limit


@pytest.mark.parametrize("extra", [
    b"X-Big: " + b"a" * 17000 + b"\r\n",                              # over MOSPAY_MAX_HEADER_BYTES (16 KiB)
    b"".join(b"X-H%d: 1\r\n" % i for i in range(150)),               # too many header lines
], ids=["bytes", "lines"])
def test_an_oversized_request_head_gets_a_json_431(gw, extra):
    control, _ = exchange(gw, b"GET /healthz HTTP/1.1\r\nHost: mospay\r\nX-H: 1\r\n\r\n")
    assert control.startswith(b"HTTP/1.1 200")
    answer, _ = exchange(gw, b"GET /healthz HTTP/1.1\r\nHost: mospay\r\n" + extra + b"\r\n")
    status, error = json_error(answer)
    assert status == 431 and error["code"] == "headers_too_large"
