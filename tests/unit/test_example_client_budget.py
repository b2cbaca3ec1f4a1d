"""examples/client.py's retry budget: 409 in_progress is retried for as long as MosPay may answer it (the
first request's provider deadline), not just `retries` times; other failures keep the count."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support import ROOT

spec = importlib.util.spec_from_file_location("mospay_example_client_budget", ROOT / "examples" / "client.py")
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)


class Fake(ThreadingHTTPServer):
    """Answers `in_progress` 409s (or `failing` 503s) to payments until `busy` of them were sent, then 202."""
    daemon_threads = True

    def __init__(self, busy: int, status: int = 409):
        self.busy, self.status, self.payments = busy, status, 0
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(BaseHTTPRequestHandler):
    server: Fake

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.endswith("/auth/token"):
            return self._answer(200, {"access_token": "t", "token_type": "Bearer", "expires_in": 3600})
        self.server.payments += 1
        if self.server.payments <= self.server.busy:
            code = "in_progress" if self.server.status == 409 else "service_unavailable"
            return self._answer(self.server.status, {"error": {"code": code, "message": "busy"}}, {"Retry-After": "0"})
        return self._answer(202, {"transaction_id": "txn_1", "f010": "o1", "status": "UNKNOWN", "result": {}})

    def _answer(self, code, body, headers=None):
        raw = json.dumps(body).encode()
        self.send_response(code)
        for name, value in {"Content-Type": "application/json", "Content-Length": str(len(raw)),
                            **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def fake(request):
    server = Fake(*request.param)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def client(server, **options):
    url = f"http://127.0.0.1:{server.server_address[1]}"
    return example.MosPayClient(url, "shop", "user", "secret", backoff=0.001, **options)


@pytest.mark.parametrize("fake", [(8, 409)], indirect=True)
def test_in_progress_is_retried_past_the_retry_count_within_the_budget(fake):
    # Before: 5 tries (retries=4), then MosPayError 409 although the answer was on its way.
    assert client(fake).pay({"f000": "momo"}, f010="o1")["status"] == "UNKNOWN"
    assert fake.payments == 9


@pytest.mark.parametrize("fake", [(10_000, 409)], indirect=True)
def test_in_progress_past_the_budget_is_raised(fake):
    started = time.monotonic()
    with pytest.raises(example.MosPayError) as raised:
        client(fake, in_progress_s=0.3).pay({"f000": "momo"}, f010="o1")
    assert raised.value.status == 409 and time.monotonic() - started < 5


@pytest.mark.parametrize("fake", [(8, 503)], indirect=True)
def test_other_failures_keep_the_retry_count(fake):
    with pytest.raises(example.MosPayError) as raised:
        client(fake).pay({"f000": "momo"}, f010="o1")
    assert raised.value.status == 503 and fake.payments == 5


def test_the_budget_covers_the_longest_in_progress_window_of_a_default_service():
    """docs/guarantees.md: 409 in_progress only within connect + read timeout + 2 s of the first request."""
    default_connect_s, default_read_s = 5, 30  # schema/20_catalogue.sql's defaults
    assert example.IN_PROGRESS_BUDGET_S >= default_connect_s + default_read_s + 2
