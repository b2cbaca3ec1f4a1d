"""The webhook delivery log behind the merchant portal: per-attempt status and the start of the
endpoint's answer, test events through the same outbox and signing, resends scoped to the client in SQL,
and 30 days of attempts."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mospay import accounts, catalogue, errors, retention, webhooks
from mospay.payments import PaymentGateway
from mospay.provider import Provider
from mospay.simulator import Simulator

KEY = "k" * 40


class Endpoint:
    """A client's webhook endpoint answering (code, body) in turn, then 200 "ok"."""

    def __init__(self, answers=()):
        self.received, self.answers = [], list(answers)
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                endpoint.received.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
                code, body = endpoint.answers.pop(0) if endpoint.answers else (200, b"ok")
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    made = Endpoint()
    yield made
    made.close()


def _client(db, app_id, url):
    created = accounts.create_client(db, KEY, {"company_name": app_id, "app_id": app_id, "callback_url": url})
    return {**created, "id": db.run("SELECT id FROM clients WHERE app_id = :a", a=app_id)[0]["id"]}


def test_a_test_event_is_signed_like_a_payment_event_and_logged_with_the_answer(db, endpoint):
    shop = _client(db, "shop1", endpoint.url)
    endpoint.answers = [(500, b"boom \x00" + b"x" * 3000)]
    sent = webhooks.send_test_event(db, shop["id"])
    assert sent["event_type"] == "test.ping" and sent["state"] == "PENDING"
    deliverer = webhooks.Deliverer(db, KEY)
    assert deliverer.deliver_due() == {"delivered": 0, "failed": 1}
    db.run("UPDATE webhook_events SET next_attempt_at = now()")
    assert deliverer.deliver_due() == {"delivered": 1, "failed": 0}
    headers, body = endpoint.received[-1]
    assert webhooks.verify_signature(headers["MosPay-Signature"], body, shop["webhook_secret"])
    assert json.loads(body)["type"] == "test.ping" and json.loads(body)["id"] == sent["event_id"]
    events, after = webhooks.delivery_log(db, shop["id"])
    assert after is None and [e["event_id"] for e in events] == [sent["event_id"]]
    assert events[0]["transaction_id"] is None and events[0]["state"] == "DELIVERED"
    failed, ok = events[0]["attempts_made"]
    assert failed["http_status"] == 500 and failed["error"] == "HTTP 500"
    assert failed["response_excerpt"].startswith("boom x") and len(failed["response_excerpt"]) == 500
    assert ok["http_status"] == 200 and ok["response_excerpt"] == "ok"
    # The admin's view of the same event reads the excerpt too.
    assert webhooks.attempts(db, sent["event_id"])[0]["response_excerpt"] == failed["response_excerpt"]


def test_test_events_are_limited_per_client_per_minute(db, endpoint):
    shop, other = _client(db, "shop1", endpoint.url), _client(db, "shop2", endpoint.url)
    for _ in range(webhooks.TEST_EVENTS_PER_MINUTE):
        webhooks.send_test_event(db, shop["id"])
    with pytest.raises(errors.TooManyRequests):
        webhooks.send_test_event(db, shop["id"])
    assert webhooks.send_test_event(db, other["id"])["event_type"] == "test.ping"  # its own allowance
    db.run("UPDATE webhook_events SET created_at = now() - interval '61 seconds'")
    assert webhooks.send_test_event(db, shop["id"])["state"] == "PENDING"


def test_resend_and_the_log_are_scoped_to_the_client_in_sql(db, endpoint):
    shop, other = _client(db, "shop1", endpoint.url), _client(db, "shop2", endpoint.url)
    mine = webhooks.send_test_event(db, shop["id"])["event_id"]
    theirs = webhooks.send_test_event(db, other["id"])["event_id"]
    webhooks.Deliverer(db, KEY).deliver_due()
    assert webhooks.resend(db, mine, client_id=shop["id"])["state"] == "PENDING"
    with pytest.raises(errors.NotFound):
        webhooks.resend(db, theirs, client_id=shop["id"])
    assert db.run("SELECT state FROM webhook_events WHERE event_id = :e", e=theirs)[0]["state"] == "DELIVERED"
    assert webhooks.resend(db, theirs)["state"] == "PENDING"  # the operator's resend: any client's
    for bad in ("", "x" * 65, "evt-1", None, 5):
        with pytest.raises(errors.NotFound):
            webhooks.resend(db, bad, client_id=shop["id"])
    with pytest.raises(TypeError):
        webhooks.resend(db, mine, client_id="1")  # a bug in a caller, never a wider query
    assert [e["event_id"] for e in webhooks.delivery_log(db, shop["id"])[0]] == [mine]
    theirs_pk = db.run("SELECT id FROM webhook_events WHERE event_id = :e", e=theirs)[0]["id"]
    assert webhooks.attempts_of_events(db, shop["id"], [theirs_pk]) == {}
    assert webhooks.attempts_of_events(db, other["id"], [theirs_pk])[theirs_pk]


def test_the_log_pages_by_keyset_and_keeps_30_days_of_attempts(db, endpoint):
    shop = _client(db, "shop1", endpoint.url)
    ids = []
    for _ in range(3):
        ids.append(webhooks.send_test_event(db, shop["id"])["event_id"])
    webhooks.Deliverer(db, KEY).deliver_due()
    first, after = webhooks.delivery_log(db, shop["id"], limit=2)
    assert len(first) == 2 and after is not None
    rest, end = webhooks.delivery_log(db, shop["id"], after=after, limit=2)
    assert end is None and [e["event_id"] for e in first + rest] == ids[::-1]
    db.run("UPDATE webhook_attempts SET attempted_at = now() - interval '31 days' WHERE event_id = "
           "(SELECT id FROM webhook_events WHERE event_id = :e)", e=ids[0])
    assert retention.prune(db, 90) == {"api_logs": 0, "webhook_attempts": 1}
    assert db.run("SELECT count(*) AS n FROM webhook_attempts")[0]["n"] == 2
    db.run("UPDATE webhook_events SET created_at = now() - interval '31 days' WHERE event_id = :e", e=ids[1])
    assert ids[1] not in [e["event_id"] for e in webhooks.delivery_log(db, shop["id"])[0]]
    with pytest.raises(errors.InvalidField):
        webhooks.delivery_log(db, shop["id"], after="not-a-cursor")


def test_a_transactions_events_are_read_only_for_its_own_client(db, endpoint):
    with Simulator() as sim:
        catalogue.create_service(db, {"name": "momo", "service_url": sim.url, "timeout_s": 2})
        shop, other = _client(db, "shop1", endpoint.url), _client(db, "shop2", endpoint.url)
        catalogue.assign_service(db, "shop1", {"service": "momo", "routes": ["collection"]})
        from mospay.auth import BasicCredentials
        from mospay.payments import ClientCredentials, RequestMeta
        gateway = PaymentGateway(db, Provider(), KEY)
        body = {"f000": "momo", "f001": "collection", "f002": "collection", "f003": "shop1", "f004": "500.00",
                "f005": "+250788123456", "f006": "c", "f007": "e", "f008": "p", "f009": "d", "f010": "w1"}
        outcome = gateway.process(ClientCredentials("shop1", basic=BasicCredentials(shop["api_username"],
                                                                                     shop["api_secret"])),
                                  body, RequestMeta("r1", "/api/v1/payment/process", "POST", "127.0.0.1", None, 0.0))
    transaction_id = outcome.body["transaction_id"]
    webhooks.Deliverer(db, KEY).deliver_due()
    own = webhooks.events_of_own_transaction(db, shop["id"], transaction_id)
    assert len(own) == 1 and own[0]["attempts_made"][0]["http_status"] == 200
    assert webhooks.events_of_own_transaction(db, other["id"], transaction_id) == []
    assert webhooks.delivery_log(db, shop["id"])[0][0]["transaction_id"] == transaction_id


def test_an_operator_resends_a_test_event_by_its_id_and_it_is_audited(db, endpoint):
    from mospay import actions
    from mospay.audit import Actor

    shop = _client(db, "shop1", endpoint.url)
    sent = webhooks.send_test_event(db, shop["id"])["event_id"]
    webhooks.Deliverer(db, KEY).deliver_due()
    assert actions.resend_webhook_event(db, Actor(None, "ops", "admin"), sent)["state"] == "PENDING"
    row = db.run("SELECT target_type, target_id FROM audit_log WHERE action = 'webhook.resend'")
    assert row == [{"target_type": "webhook_event", "target_id": sent}]
