"""Planted rows for the alert tests: services, clients and transactions with the times, statuses, provider
outcomes and answer times a metric reads, written straight into PostgreSQL; and a rule helper."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading

from mospay import accounts, alert_rules, catalogue
from mospay.audit import Actor

ACTOR = Actor(None, "ops", "admin", "127.0.0.1")
KEY = "k" * 40


def world(db, services=("mtnmomorwa", "airtel"), clients=("shop1", "shop2")) -> None:
    for name in services:
        catalogue.create_service(db, {"name": name, "service_url": "http://127.0.0.1:9"})
    for app_id in clients:
        accounts.create_client(db, KEY, {"app_id": app_id, "company_name": app_id,
                                         "callback_url": "http://127.0.0.1:9/hook"})
        for name in services:
            catalogue.assign_service(db, app_id, {"service": name, "routes": ["collection"]})


def pay(db, *, service="mtnmomorwa", app_id="shop1", status="SUCCESSFUL", age_s=10, cause="provider response",
        http_status=200, latency_ms=100, amount=100, stuck=False) -> int:
    """One payment recorded `age_s` ago that left RECEIVED `latency_ms` later with `cause` (None: still
    RECEIVED). Its events are the trigger's, their times set to what the plant says."""
    row = db.run("""
        INSERT INTO transactions (client_id, service_id, route, f010, amount, request, request_hash, created_at)
        SELECT c.id, s.id, 'collection', 'p-' || gen_random_uuid(), :amount, '{}'::jsonb, 'h',
               now() - make_interval(secs => :age_s)
          FROM clients c, services s WHERE c.app_id = :app_id AND s.name = :service
        RETURNING id""", amount=amount, age_s=age_s, app_id=app_id, service=service)[0]["id"]
    if status != "RECEIVED":
        db.run("UPDATE transactions SET status = :s, status_reason = :cause, provider_http_status = :code, "
               "stuck = :stuck WHERE id = :id", s=status, cause=cause, code=http_status, stuck=stuck, id=row)
        db.run("UPDATE transaction_events e SET created_at = t.created_at + make_interval(secs => :ms / 1000.0) "
               "FROM transactions t WHERE t.id = e.transaction_id AND e.transaction_id = :id "
               "AND e.from_status = 'RECEIVED'", id=row, ms=latency_ms)
    elif stuck:
        db.run("UPDATE transactions SET stuck = true WHERE id = :id", id=row)
    return row


def rule(db, metric, **fields) -> dict:
    defaults = {} if metric == "no_traffic" else {"op": "<", "threshold": 50}
    data = {"name": fields.pop("name", f"{metric} rule"), "metric": metric, **defaults, "window_s": 300,
            "severity": "critical", **fields}
    return alert_rules.create(db, ACTOR, data)


def at(db, seconds: float = 0) -> dt.datetime:
    """The database's now, moved by `seconds`: evaluation steps through time without sleeping."""
    return db.run("SELECT now() + make_interval(secs => :s) AS t", s=seconds)[0]["t"]


class Receiver:
    """A webhook receiver on 127.0.0.1: keeps every POST (headers and JSON body); `status` is its answer."""

    def __init__(self, status: int = 200):
        self.posts: list[dict] = []
        self.status = status
        self._cond = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._cond:
                    receiver.posts.append({"headers": dict(self.headers), "raw": raw, "json": json.loads(raw)})
                    receiver._cond.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def wait_for(self, match=lambda p: True, timeout_s: float = 10.0) -> dict:
        import time
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for post in self.posts:
                    if match(post):
                        return post
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching webhook within {timeout_s}s: {self.posts}")
                self._cond.wait(left)
