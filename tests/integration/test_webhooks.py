"""Client webhooks: outbox written with the final state, signed delivery, retries, rotation, resend."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import falcon.testing
import pytest

from mospay import accounts, catalogue, webhooks
from mospay.app import create_app
from mospay.config import Config
from mospay.db import Database
from mospay.provider import Provider
from mospay.simulator import Simulator

KEYS = {"secret_key": "k" * 40, "jwt_secret_key": "j" * 40}


class Receiver:
    """The client's endpoint: records what it gets; answers `codes` in turn, then 200."""

    def __init__(self, codes=()):
        self.received, self.codes = [], list(codes)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/mospay"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def sim():
    with Simulator(hang_seconds=2, callback_delay=60) as simulator:
        yield simulator


@pytest.fixture
def shop(db, db_url, sim, receiver):
    catalogue.create_service(db, {"name": "momo", "service_url": sim.url, "timeout_s": 1})
    creds = accounts.create_client(db, KEYS["secret_key"], {"company_name": "Shop", "app_id": "shop",
                                                              "callback_url": receiver.url})
    catalogue.assign_service(db, "shop", {"service": "momo", "routes": ["collection"]})
    database = Database(db_url, size=4)
    app = falcon.testing.TestClient(create_app(Config(database_url=db_url, **KEYS), database, Provider()))
    raw = base64.b64encode(f"{creds['api_username']}:{creds['api_secret']}".encode()).decode()

    def pay(f010, msisdn="+250788123456"):
        body = {"f000": "momo", "f001": "collection", "f002": "collection", "f003": "shop", "f004": "500.00",
                "f005": msisdn, "f006": "c", "f007": "e", "f008": "p", "f009": "d", "f010": f010}
        return app.simulate_post("/api/v1/payment/process", json=body,
                                 headers={"Authorization": f"Basic {raw}", "App-ID": "shop"})
    pay.creds = creds
    yield pay
    database.close()


def test_final_payment_is_delivered_signed_with_a_stable_event_id(db, shop, receiver):
    paid = shop("hook1").json
    outbox = db.run("SELECT event_id, state FROM webhook_events")
    assert len(outbox) == 1 and outbox[0]["state"] == "PENDING"  # written with the final state
    assert webhooks.Deliverer(db, KEYS["secret_key"]).deliver_due() == {"delivered": 1, "failed": 0}
    headers, body = receiver.received[0]
    event = json.loads(body)
    assert event["id"] == outbox[0]["event_id"] == headers["MosPay-Event-Id"]
    assert event["type"] == "payment.succeeded" and event["data"]["transaction_id"] == paid["transaction_id"]
    secret = shop.creds["webhook_secret"]
    assert webhooks.verify_signature(headers["MosPay-Signature"], body, secret)
    assert not webhooks.verify_signature(headers["MosPay-Signature"], body + b" ", secret)
    assert not webhooks.verify_signature(headers["MosPay-Signature"], body, "whsec_wrong")
    assert db.run("SELECT state FROM webhook_events")[0]["state"] == "DELIVERED"
    assert webhooks.Deliverer(db, KEYS["secret_key"]).deliver_due() == {"delivered": 0, "failed": 0}
    dump = "\n".join(r["j"] for table in ("clients", "webhook_events", "webhook_attempts", "api_logs")
                     for r in db.run(f"SELECT row_to_json(t)::text AS j FROM {table} t"))
    assert secret not in dump  # derived when needed, never stored


def test_pending_payments_send_nothing_and_declines_send_payment_failed(db, shop, receiver):
    shop("pend", "+250788120004")
    shop("decl", "+250788120001")
    assert [r["event_type"] for r in db.run("SELECT event_type FROM webhook_events")] == ["payment.failed"]


def test_failed_delivery_is_retried_with_backoff_and_the_same_event_id(db, shop, receiver):
    receiver.codes = [500]
    shop("hook2")
    deliverer = webhooks.Deliverer(db, KEYS["secret_key"])
    assert deliverer.deliver_due() == {"delivered": 0, "failed": 1}
    row = db.run("SELECT state, attempts, last_error, next_attempt_at - now() AS wait FROM webhook_events")[0]
    assert (row["state"], row["attempts"], row["last_error"]) == ("PENDING", 1, "HTTP 500")
    assert 20 < row["wait"].total_seconds() <= 30  # first retry after ~30 s, then doubling
    assert deliverer.deliver_due() == {"delivered": 0, "failed": 0}  # not due yet
    db.run("UPDATE webhook_events SET next_attempt_at = now()")
    assert deliverer.deliver_due() == {"delivered": 1, "failed": 0}
    ids = {json.loads(body)["id"] for _, body in receiver.received}
    assert len(receiver.received) == 2 and len(ids) == 1
    event_id = ids.pop()
    assert [a["http_status"] for a in webhooks.attempts(db, event_id)] == [500, 200]
    assert webhooks.backoff_s(0) == 30 and webhooks.backoff_s(3) == 240 and webhooks.backoff_s(30) == 6 * 3600


def test_delivery_gives_up_after_three_days_and_can_be_resent_by_hand(db, shop, receiver):
    receiver.codes = [503]
    paid = shop("hook3").json
    db.run("UPDATE webhook_events SET created_at = now() - interval '3 days'")
    webhooks.Deliverer(db, KEYS["secret_key"]).deliver_due()
    [event] = webhooks.events_of_transaction(db, paid["transaction_id"])
    assert event["state"] == "GAVE_UP"
    webhooks.resend(db, event["event_id"])
    assert webhooks.Deliverer(db, KEYS["secret_key"]).deliver_due() == {"delivered": 1, "failed": 0}
    assert webhooks.events_of_transaction(db, paid["transaction_id"])[0]["state"] == "DELIVERED"


def test_rotation_signs_with_both_secrets_during_the_overlap(db, shop, receiver):
    old = shop.creds["webhook_secret"]
    rotated = webhooks.rotate_secret(db, KEYS["secret_key"], "shop", overlap_s=3600)
    new = rotated["webhook_secret"]
    assert new != old and new.startswith("whsec_")
    shop("hook4")
    webhooks.Deliverer(db, KEYS["secret_key"]).deliver_due()
    headers, body = receiver.received[-1]
    assert headers["MosPay-Signature"].count("v1=") == 2
    assert webhooks.verify_signature(headers["MosPay-Signature"], body, old)
    assert webhooks.verify_signature(headers["MosPay-Signature"], body, new)
    db.run("UPDATE clients SET webhook_previous_expires_at = now() - interval '1 second'")
    shop("hook5")
    webhooks.Deliverer(db, KEYS["secret_key"]).deliver_due()
    headers, body = receiver.received[-1]
    assert webhooks.verify_signature(headers["MosPay-Signature"], body, new)
    assert not webhooks.verify_signature(headers["MosPay-Signature"], body, old)


def test_an_old_signature_is_refused():
    body = b'{"id":"evt_1"}'
    header = webhooks.signature_header(["whsec_x"], body, int(time.time()) - 3600)
    assert not webhooks.verify_signature(header, body, "whsec_x")
    assert webhooks.verify_signature(webhooks.signature_header(["whsec_x"], body, int(time.time())), body, "whsec_x")
