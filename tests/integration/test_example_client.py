"""examples/client.py against a real `python run.py` and the simulator: token cache, safe retries that
reuse f010 after a lost response, and the webhook signature check."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.support import ROOT

spec = importlib.util.spec_from_file_location("mospay_example_client", ROOT / "examples" / "client.py")
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)


class LosingProxy:
    """Forwards each HTTP request to MosPay; for the first `lose` payment requests it throws the answer
    away and drops the connection, as a flaky network would after MosPay has done the work."""

    def __init__(self, upstream_port: int, lose: int):
        self._upstream, self._lose = upstream_port, lose
        self.lost = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(30)
                request = self._read_request(conn)
                with socket.create_connection(("127.0.0.1", self._upstream), timeout=30) as up:
                    up.sendall(request)
                    response = b"".join(iter(lambda: up.recv(65536), b""))  # client sent Connection: close
                if b"/api/v1/payment/process" in request.split(b"\r\n", 1)[0] and self.lost < self._lose:
                    self.lost += 1
                    continue  # MosPay processed it; the client never hears back
                conn.sendall(response)

    @staticmethod
    def _read_request(conn) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            body += conn.recv(65536)
        return head + b"\r\n\r\n" + body

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


def _fields(client):
    return {"f000": client.service, "f001": "collection", "f002": "collection", "f004": "1500.00",
            "f005": "+250788123456", "f006": "customer123", "f007": "enc", "f008": "pwd", "f009": "dev"}


def test_token_is_fetched_once_and_reused_for_many_payments(gateway, gateway_client):
    client = gateway_client
    mospay = example.MosPayClient(gateway.url, client.app_id, client.username, client.secret)
    results = [mospay.pay(_fields(client)) for _ in range(3)]
    assert [r["status"] for r in results] == ["SUCCESSFUL"] * 3
    assert mospay.token_requests == 1
    assert mospay.status(results[0]["f010"])["status"] == "SUCCESSFUL"
    assert mospay.token_requests == 1


def test_a_lost_answer_is_retried_with_the_same_f010_and_charged_once(gateway, gateway_client):
    client = gateway_client
    port = int(gateway.url.rsplit(":", 1)[1])
    proxy = LosingProxy(port, lose=2)
    try:
        mospay = example.MosPayClient(proxy.url, client.app_id, client.username, client.secret, backoff=0.05)
        result = mospay.pay(_fields(client), f010="retry-" + str(time.time_ns()))
    finally:
        proxy.close()
    assert proxy.lost == 2 and result["status"] == "SUCCESSFUL"
    rows = gateway.db.run("SELECT public_id FROM transactions WHERE f010 = :f", f=result["f010"])
    assert [r["public_id"] for r in rows] == [result["transaction_id"]]  # one transaction, three attempts


def test_a_refusal_is_not_retried(gateway, gateway_client):
    client = gateway_client
    mospay = example.MosPayClient(gateway.url, client.app_id, client.username, client.secret, backoff=0.05)
    with pytest.raises(example.MosPayError) as exc:
        mospay.pay({**_fields(client), "f004": "-5"})
    assert exc.value.status == 422 and exc.value.body["error"]["field"] == "f004"
    f010 = "conflict-" + str(time.time_ns())
    mospay.pay(_fields(client), f010=f010)
    with pytest.raises(example.MosPayError) as exc:  # same f010, another amount: never resent blindly
        mospay.pay({**_fields(client), "f004": "99.00"}, f010=f010)
    assert exc.value.status == 409 and exc.value.body["error"]["code"] == "idempotency_conflict"


def test_declined_payment_is_returned_not_raised(gateway, gateway_client):
    client = gateway_client
    mospay = example.MosPayClient(gateway.url, client.app_id, client.username, client.secret)
    assert mospay.pay({**_fields(client), "f005": "+250788120001"})["status"] == "FAILED"


def test_command_line_sends_a_payment(gateway, gateway_client):
    client = gateway_client
    result = subprocess.run([sys.executable, "examples/client.py", "--url", gateway.url, "--app-id", client.app_id,
                             "--username", client.username, "--secret", client.secret, "--service", client.service],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "SUCCESSFUL"


def test_webhook_signature_check():
    body = b'{"f010":"order-1","status":"SUCCESSFUL"}'
    header = example.sign_webhook("whsec_test", body, timestamp=1_767_225_600)
    # a fixed vector, computed independently: printf '1767225600.{body}' | openssl dgst -sha256 -hmac whsec_test
    import hashlib
    import hmac
    assert header == "t=1767225600,v1=" + hmac.new(b"whsec_test", b"1767225600." + body, hashlib.sha256).hexdigest()
    now = 1_767_225_600 + 10
    assert example.verify_webhook("whsec_test", body, header, now=now)
    assert not example.verify_webhook("whsec_test", body + b" ", header, now=now)       # body changed
    assert not example.verify_webhook("other", body, header, now=now)                   # wrong secret
    assert not example.verify_webhook("whsec_test", body, header, now=now + 3600)       # replayed later
    assert not example.verify_webhook("whsec_test", body, None) and not example.verify_webhook("x", body, "v1=ab")
    rotated = header + ",v1=" + "0" * 64
    assert example.verify_webhook("whsec_test", body, rotated, now=now)


def test_the_shell_check_on_the_docs_page_accepts_a_good_signature_and_rejects_a_bad_one(tmp_path):
    import shutil

    from mospay.api import openapi
    if not shutil.which("openssl") or not shutil.which("bash"):
        pytest.skip("openssl or bash missing")
    body = b'{"f010":"order-1","status":"SUCCESSFUL"}\n'
    (tmp_path / "body.json").write_bytes(body)

    def run(sig):
        env = {"PATH": "/usr/bin:/bin", "SIG": sig, "WEBHOOK_SECRET": "whsec_test"}
        return subprocess.run(["bash", "-c", openapi.WEBHOOK_CHECK], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=30).stdout.strip()

    assert run(example.sign_webhook("whsec_test", body)) == "valid"
    assert run(example.sign_webhook("wrong", body)) == "REJECT"
    assert run(example.sign_webhook("whsec_test", body, timestamp=int(time.time()) - 3600)) == "REJECT"
