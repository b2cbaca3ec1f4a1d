"""Tests for the mobile-money provider simulator (mospay.simulator)."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import urllib3

from mospay.provider import Provider
from mospay.simulator import Simulator

REPO_ROOT = Path(__file__).resolve().parents[2]
HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=5))


@pytest.fixture(scope="module")
def _shared_sim():
    with Simulator(hang_seconds=0.5) as s:
        yield s


@pytest.fixture
def sim(_shared_sim):
    _shared_sim.reset()
    return _shared_sim


def ext_id():
    return f"txn_{uuid.uuid4().hex[:12]}"


def payment(msisdn, external_id=None, **extra):
    body = {"amount": "1000.00", "currency": "RWF", "externalId": external_id or ext_id(),
            "payer": {"partyIdType": "MSISDN", "partyId": msisdn},
            "payerMessage": "Order 42", "payeeNote": "MosPay"}
    body.update(extra)
    return body


def call(sim, method, path, body=None, raw=None, **kw):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    resp = HTTP.request(method, sim.url + path, body=data,
                        headers={"Content-Type": "application/json"}, **kw)
    assert resp.headers["Content-Type"] == "application/json"
    assert int(resp.headers["Content-Length"]) == len(resp.data)
    return resp.status, json.loads(resp.data)


@pytest.mark.parametrize("msisdn", ["+250788123456", "+250123456789"])
def test_success(sim, msisdn):
    req = payment(msisdn)
    status, body = call(sim, "POST", "/collection", req)
    assert status == 200
    assert body["status"] == "SUCCESSFUL"
    assert body["externalId"] == req["externalId"]
    assert body["amount"] == "1000.00" and body["currency"] == "RWF"
    fid = body["financialTransactionId"]
    assert isinstance(fid, str) and len(fid) == 10 and fid.isdigit()


def test_decline_0001(sim):
    req = payment("+250788120001")
    assert call(sim, "POST", "/payment", req) == (200, {
        "status": "FAILED", "reason": "NOT_ENOUGH_FUNDS",
        "externalId": req["externalId"], "financialTransactionId": None})
    assert call(sim, "GET", f"/payment/{req['externalId']}")[1]["status"] == "FAILED"


def test_hang_0002(sim):
    req = payment("+250788120002")
    started = time.monotonic()
    status, body = call(sim, "POST", "/collection", req)
    assert time.monotonic() - started >= 0.4
    assert status == 200 and body["status"] == "SUCCESSFUL"


def test_hang_0002_client_timeout_still_moves_money(sim):
    req = payment("+250788120002")
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        HTTP.request("POST", sim.url + "/collection", body=json.dumps(req).encode(), timeout=0.1)
    assert call(sim, "GET", f"/collection/{req['externalId']}") == (
        200, {"status": "SUCCESSFUL", "externalId": req["externalId"]})
    assert sim.calls["by_external_id"] == {req["externalId"]: 1}


def test_error_0003_is_remembered_as_successful(sim):
    req = payment("+250788120003")
    assert call(sim, "POST", "/collection", req) == (500, {"error": "internal_error"})
    assert call(sim, "GET", f"/collection/{req['externalId']}")[1]["status"] == "SUCCESSFUL"


def test_pending_0004_via_put(sim):
    req = payment("+250788120004")
    assert call(sim, "PUT", "/disbursement", req) == (
        202, {"status": "PENDING", "externalId": req["externalId"]})
    assert call(sim, "GET", f"/disbursement/{req['externalId']}")[1]["status"] == "PENDING"


def test_unknown_external_id_404(sim):
    assert call(sim, "GET", "/collection/txn_nope") == (
        404, {"status": "FAILED", "reason": "RESOURCE_NOT_FOUND"})


def test_calls_counter_and_reset(sim):
    repeated, once = ext_id(), ext_id()
    for _ in range(2):
        call(sim, "POST", "/collection", payment("+250788123456", repeated))
    call(sim, "POST", "/collection", payment("+250788120001", once))
    expected = {"total": 3, "by_external_id": {repeated: 2, once: 1}}
    assert call(sim, "GET", "/_sim/calls") == (200, expected)
    assert sim.calls == expected
    assert call(sim, "POST", "/_sim/reset") == (200, {})
    assert call(sim, "GET", "/_sim/calls") == (200, {"total": 0, "by_external_id": {}})
    assert call(sim, "GET", f"/collection/{repeated}")[0] == 404


@pytest.mark.parametrize("raw", [
    b"{not json", b"", b"[1, 2]", b"\xff\xfe",
    json.dumps({"externalId": "txn_1", "payer": {"partyIdType": "MSISDN"}}).encode(),
    json.dumps({"payer": {"partyId": "+250788123456"}}).encode(),
])
def test_invalid_request_400(sim, raw):
    assert call(sim, "POST", "/collection", raw=raw) == (
        400, {"status": "FAILED", "reason": "INVALID_REQUEST"})
    assert sim.calls["total"] == 0


def test_health_and_not_found(sim):
    assert call(sim, "GET", "/health") == (200, {"status": "ok"})
    assert call(sim, "GET", "/nope")[0] == 404
    assert call(sim, "POST", "/a/b", payment("+250788123456"))[0] == 404
    assert call(sim, "DELETE", "/collection/txn_1")[0] == 404


def test_keep_alive_reuses_one_connection(sim):
    pool = urllib3.HTTPConnectionPool("127.0.0.1", sim.port, maxsize=1, block=True, retries=False)
    req = payment("+250788123456")
    first = pool.request("POST", "/collection", body=json.dumps(req).encode())
    second = pool.request("GET", f"/collection/{req['externalId']}")
    assert (first.status, second.status) == (200, 200)
    assert json.loads(second.data)["status"] == "SUCCESSFUL"
    assert pool.num_connections == 1 and pool.num_requests == 2
    pool.close()


def test_oversized_body_413(sim):
    with socket.create_connection(("127.0.0.1", sim.port), timeout=2) as s:
        s.sendall(b"POST /collection HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413")


def test_stop_does_not_wait_for_hang():
    s = Simulator(hang_seconds=30).start()
    req = json.dumps(payment("+250788120002")).encode()
    worker = threading.Thread(daemon=True, target=lambda: HTTP.request(
        "POST", s.url + "/collection", body=req, timeout=5))
    worker.start()
    deadline = time.monotonic() + 2
    while s.calls["total"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    s.stop()
    assert time.monotonic() - started < 1
    worker.join(2)
    assert not worker.is_alive()


def test_cli_prints_url_and_exits_on_sigterm():
    proc = subprocess.Popen([sys.executable, "-m", "mospay.simulator", "--port", "0"],
                            cwd=REPO_ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watchdog = threading.Timer(10, proc.kill)  # never let a stuck child hang the suite
    watchdog.start()
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("simulator listening on http://127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1])
        assert port > 0
        resp = HTTP.request("GET", f"http://127.0.0.1:{port}/health")
        assert resp.status == 200 and json.loads(resp.data) == {"status": "ok"}
        if os.name == "posix":
            proc.send_signal(signal.SIGTERM)
        else:
            proc.terminate()
        proc.wait(timeout=5)
        if os.name == "posix":
            assert proc.returncode == 0, proc.stderr.read()
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_malformed_0005_and_huge_0007_bodies_are_remembered_as_successful(sim):
    req = payment("+250788120005")
    resp = HTTP.request("POST", sim.url + "/collection", body=json.dumps(req).encode())
    assert resp.status == 200
    with pytest.raises(ValueError):
        json.loads(resp.data)
    req = payment("+250788120007")
    resp = HTTP.request("POST", sim.url + "/collection", body=json.dumps(req).encode())
    assert resp.status == 200 and len(resp.data) > 3 * 1024 * 1024
    assert call(sim, "GET", f"/collection/{req['externalId']}")[1]["status"] == "SUCCESSFUL"


@pytest.mark.parametrize("msisdn", ["+250788120002", "+250788120006"])
def test_hang_0002_and_trickle_0006_outlast_a_deadline_shorter_than_hang_seconds(msisdn):
    """README's table promises UNKNOWN for both whenever the service's deadline is under --hang-seconds:
    0006's trickle must last hang_seconds whatever the externalId's length (unpadded, this short id's
    body would arrive in ~0.2 s), and a patient caller still gets the whole body, one byte at a time."""
    provider = Provider(maxsize=2)
    with Simulator(hang_seconds=0.6, trickle_seconds=0.005) as s:
        impatient = provider.call("POST", s.url + "/collection", {}, payment(msisdn, "x1"), 0.2, 0.2)
        assert impatient.failure == "timeout", impatient
        started = time.monotonic()
        patient = provider.call("POST", s.url + "/collection", {}, payment(msisdn, "x2"), 0.5, 2.0)
        elapsed = time.monotonic() - started
    assert (patient.status, patient.body["status"]) == (200, "SUCCESSFUL")
    assert elapsed >= 0.6 * 0.9


class _Hooks:
    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/callbacks/momo"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("suffix, final, duplicates, drop_rate, expected", [
    ("0004", "SUCCESSFUL", 2, 0.0, 2),
    ("0008", "FAILED", 1, 0.0, 1),
    ("0004", "SUCCESSFUL", 3, 1.0, 0),
])
def test_pending_payments_settle_and_call_back(suffix, final, duplicates, drop_rate, expected):
    hooks = _Hooks()
    try:
        with Simulator(callback_delay=0.1, callback_duplicates=duplicates, callback_drop_rate=drop_rate) as s:
            req = payment("+25078812" + suffix)
            resp = HTTP.request("POST", s.url + "/collection", body=json.dumps(req).encode(),
                                headers={"X-Callback-Url": hooks.url})
            assert resp.status == 202
            deadline = time.monotonic() + 5
            while s.status(req["externalId"]) != final and time.monotonic() < deadline:
                time.sleep(0.02)
            assert s.status(req["externalId"]) == final
            # Until every duplicate has been sent or dropped: then no later callback can change the count.
            while s.server.callback_rounds < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert s.server.callback_rounds == 1
            assert len(hooks.received) == expected == s.server.callbacks_sent
            assert all(h["externalId"] == req["externalId"] and h["status"] == final for h in hooks.received)
            assert s.calls["total"] == 1
    finally:
        hooks.close()
