"""The benchmark's load generators count every non-2xx answer as an error (the run then fails loudly)."""

from __future__ import annotations

import http.server
import json
import shutil
import threading

import pytest

from mospay.bench.load import Request, run_builtin, run_wrk


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    seen: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        f010 = json.loads(body)["f010"]
        _Handler.seen.append(f010)
        status = 500 if f010.endswith("-3") else 200  # every connection's third request fails
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.seen = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


REQ = Request("POST", "/pay", {"Content-Type": "application/json"}, '{"f010": "{f010}"}')


def test_builtin_generator_counts_non_2xx_and_sends_unique_f010s(server):
    result = run_builtin(server, REQ, 0.5, 2, "t")
    assert result.requests == len(_Handler.seen) > 3
    assert result.errors == sum(1 for f in _Handler.seen if f.endswith("-3")) >= 1
    assert len(set(_Handler.seen)) == len(_Handler.seen)


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed")
def test_wrk_script_counts_non_2xx_and_sends_unique_f010s(server):
    result = run_wrk(server, REQ, 1, 2, "t")
    assert result.requests >= len(_Handler.seen) - 2 > 3  # wrk may cut the last in-flight requests
    assert result.errors >= 1
    assert len(set(_Handler.seen)) == len(_Handler.seen)
