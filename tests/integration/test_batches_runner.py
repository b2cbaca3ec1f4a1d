"""The batch runner against a counting provider: max_in_flight and max_per_second hold across both
runner slots (the database counts), an open breaker leaves rows queued instead of failing them, and the
batch's own webhooks go through the outbox."""

from __future__ import annotations

import collections
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.integration.batch_support import admin_post, batch_payer, rows, to_csv, upload, wait_status
from tests.support import free_port

BODY = b'{"status":"SUCCESSFUL","message":"Payment completed","financialTransactionId":"4242"}'


class CountingProvider:
    """Answers every call with SUCCESSFUL after `delay_s`; records when each call arrived and how many
    were in flight at once."""

    def __init__(self, delay_s: float = 0.05):
        self.arrivals: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    outer.arrivals.append(time.time())
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                time.sleep(delay_s)
                with outer.lock:
                    outer.in_flight -= 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                self.wfile.write(BODY)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # every runner thread may connect at once

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def per_second(self) -> collections.Counter:
        return collections.Counter(int(t) for t in self.arrivals)


def test_max_in_flight_and_max_per_second_hold_across_runners(api):
    with CountingProvider(delay_s=0.08) as provider:
        payer = batch_payer(api, "limitsvc", service_url=provider.url)
        set_limits = api.request("PUT", "/api/v1/admin/services/limitsvc/batch-limits",
                                 json={"max_in_flight": 3, "max_per_second": 12},
                                 headers={"Authorization": f"Bearer {api.admin_token}"})
        assert set_limits.status == 200, set_limits.data
        batch = upload(api, payer, to_csv(rows(payer, 30))).json()["batch_id"]
        assert admin_post(api, f"/api/v1/admin/batches/{batch}/approve").status == 200
        doc = wait_status(api, payer, batch, "COMPLETED", timeout=40)
        assert doc["status"] == "COMPLETED" and doc["counts"]["SUCCESSFUL"] == 30, doc
        assert len(provider.arrivals) == 30
        assert provider.max_in_flight <= 3
        assert max(provider.per_second().values()) <= 12, provider.per_second()
        assert doc["rate_per_s"] is not None
        # Without limits the same batch runs wider: the limits above were what held it back.
        api.request("PUT", "/api/v1/admin/services/limitsvc/batch-limits", json={"max_in_flight": None,
                    "max_per_second": None}, headers={"Authorization": f"Bearer {api.admin_token}"})
        provider.arrivals.clear()
        provider.max_in_flight = 0
        batch = upload(api, payer, to_csv(rows(payer, 12))).json()["batch_id"]
        admin_post(api, f"/api/v1/admin/batches/{batch}/approve")
        doc = wait_status(api, payer, batch, "COMPLETED", timeout=40)
        assert doc["counts"]["SUCCESSFUL"] == 12, (doc, api.db.run("SELECT name, last_error, lease_owner FROM scheduler_jobs"))
        assert provider.max_in_flight > 3


def test_an_open_breaker_pauses_the_services_rows_instead_of_failing_them(api):
    payer = batch_payer(api, "deadsvc", service_url=f"http://127.0.0.1:{free_port()}")
    api.request("PUT", "/api/v1/admin/services/deadsvc/batch-limits", json={"max_in_flight": 2},
                headers={"Authorization": f"Bearer {api.admin_token}"})
    batch = upload(api, payer, to_csv(rows(payer, 20))).json()["batch_id"]
    admin_post(api, f"/api/v1/admin/batches/{batch}/approve")
    failures = api.config.breaker_failures
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        doc = api.request("GET", f"/api/v1/batches/{batch}", headers=payer.basic).json()
        if doc["counts"]["UNKNOWN"] >= failures:
            break
        time.sleep(0.2)
    time.sleep(1.5)
    doc = api.request("GET", f"/api/v1/batches/{batch}", headers=payer.basic).json()
    # The calls made before the breaker opened are UNKNOWN (the money may have moved), never FAILED; the
    # rest wait in the queue while the breaker is open.
    assert doc["counts"]["FAILED"] == 0, doc
    assert 1 <= doc["counts"]["UNKNOWN"] <= failures + 2, doc
    assert doc["counts"]["queued"] >= 20 - failures - 2, doc
    assert doc["status"] == "RUNNING"
    cancelled = admin_post(api, f"/api/v1/admin/batches/{batch}/cancel")
    assert cancelled.status == 200 and cancelled.json()["status"] == "CANCELLED"


@pytest.mark.parametrize("end", ["completed", "cancelled"])
def test_batch_webhooks_go_through_the_outbox(api, end):
    payer = batch_payer(api)
    api.db.run("UPDATE clients SET callback_url = 'http://127.0.0.1:9/hook' WHERE app_id = :a", a=payer.app_id)
    batch = upload(api, payer, to_csv(rows(payer, 2))).json()["batch_id"]
    if end == "completed":
        admin_post(api, f"/api/v1/admin/batches/{batch}/approve")
        assert wait_status(api, payer, batch, "COMPLETED")["status"] == "COMPLETED"
        wanted = "batch.completed"
    else:
        admin_post(api, f"/api/v1/admin/batches/{batch}/cancel")
        wanted = "batch.failed"
    events = api.db.run("SELECT e.event_type, e.payload FROM webhook_events e JOIN batches b ON b.id = e.batch_id "
                        "WHERE b.public_id = :b", b=batch)
    assert [e["event_type"] for e in events] == [wanted]
    assert events[0]["payload"]["batch_id"] == batch
    # Each row's own payment events are there too, as for any payment.
    if end == "completed":
        n = api.db.run("SELECT count(*) AS n FROM webhook_events e JOIN transactions t ON t.id = e.transaction_id "
                       "JOIN clients c ON c.id = t.client_id WHERE c.app_id = :a", a=payer.app_id)[0]["n"]
        assert n == 2
