"""What one client does never decides another client's money, and a client's limits hold across processes:
the reference a provider is sent is unique per transaction (not the client's f010), and the per-client
rate limits are counted in PostgreSQL, shared by every app instance."""

from __future__ import annotations

import base64
import threading

import falcon.testing
import pytest

from mospay import accounts, catalogue, reconciler, security
from mospay.app import create_app
from mospay.config import Config
from mospay.db import Database
from mospay.provider import Provider
from mospay.simulator import Simulator
from tests.support import provider_reference

KEYS = {"secret_key": "k" * 40, "jwt_secret_key": "j" * 40}


@pytest.fixture(scope="module")
def sim():
    with Simulator(hang_seconds=2, callback_delay=60) as simulator:
        yield simulator


class Shop:
    """One client of the gateway, paying through one in-process app (an instance of MosPay)."""

    def __init__(self, app, app_id, creds):
        self.app, self.app_id = app, app_id
        raw = base64.b64encode(f"{creds['api_username']}:{creds['api_secret']}".encode()).decode()
        self.headers = {"Authorization": f"Basic {raw}", "App-ID": app_id}

    def pay(self, f010, msisdn="+250788120000", app=None):
        body = {"f000": "momo", "f001": "collection", "f002": "collection", "f003": self.app_id, "f004": "500.00",
                "f005": msisdn, "f006": "c", "f007": "e", "f008": "p", "f009": "d", "f010": f010}
        return (app or self.app).simulate_post("/api/v1/payment/process", json=body, headers=self.headers)


@pytest.fixture
def gateway(db, db_url, sim):
    """Two app instances on one database (two MosPay processes, as far as PostgreSQL can tell), and a
    factory of onboarded clients."""
    catalogue.create_service(db, {"name": "momo", "service_url": sim.url, "timeout_s": 1})
    db.run("UPDATE services SET reconcile_schedule_s = '{1,2,3}'")
    databases = [Database(db_url, size=8), Database(db_url, size=8)]
    apps = [falcon.testing.TestClient(create_app(Config(database_url=db_url, **KEYS), d, Provider()))
            for d in databases]

    def onboard(app_id, **limits):
        creds = accounts.create_client(db, KEYS["secret_key"], {"company_name": app_id, "app_id": app_id})
        catalogue.assign_service(db, app_id, {"service": "momo", "routes": ["collection"]})
        if limits:
            security.set_client_limits(db, app_id, limits)
        return Shop(apps[0], app_id, creds)
    onboard.apps = apps
    yield onboard
    for d in databases:
        d.close()


# ------------------------------------------------------------------ the provider reference

def test_two_clients_with_the_same_f010_settle_independently(db, gateway, sim):
    """B's payment reaches the provider, which answers 500 (UNKNOWN: the money moved); A then uses the
    same f010 and is declined. Each settles with its own outcome: A's decline never becomes B's."""
    alpha, bravo = gateway("alpha"), gateway("bravo")
    b = bravo.pay("shared-1", msisdn="+250788120003")
    assert (b.status_code, b.json["status"]) == (202, "UNKNOWN")
    a = alpha.pay("shared-1", msisdn="+250788120001")
    assert (a.status_code, a.json["status"]) == (402, "FAILED")
    refs = {r["app_id"]: r["ref"] for r in db.run(
        "SELECT c.app_id, mospay.provider_reference(t.public_id, t.provider_ref) AS ref "
        "FROM transactions t JOIN clients c ON c.id = t.client_id WHERE t.f010 = 'shared-1'")}
    assert refs == {"alpha": provider_reference(a.json["transaction_id"]),
                    "bravo": provider_reference(b.json["transaction_id"])}
    assert refs["alpha"] != refs["bravo"] and "shared-1" not in sim.calls["by_external_id"]

    db.run("UPDATE transactions SET next_check_at = now() WHERE status = 'UNKNOWN'")
    assert reconciler.Reconciler(db, Provider()).run_once()["settled"] == 1
    final = {r["app_id"]: r["status"] for r in db.run(
        "SELECT c.app_id, t.status FROM transactions t JOIN clients c ON c.id = t.client_id WHERE t.f010 = 'shared-1'")}
    assert final == {"alpha": "FAILED", "bravo": "SUCCESSFUL"}
    assert sim.calls["by_external_id"] == {refs["alpha"]: 1, refs["bravo"]: 1}  # one call each, no retry


def test_a_callback_names_one_transaction_not_every_client_with_that_f010(db, gateway):
    alpha, bravo = gateway("alpha"), gateway("bravo")
    for shop in (alpha, bravo):
        assert shop.pay("same-f010", msisdn="+250788120004").json["status"] == "PENDING"
    ids = {r["app_id"]: r["id"] for r in db.run(
        "SELECT c.app_id, t.id, t.public_id FROM transactions t JOIN clients c ON c.id = t.client_id")}
    bravo_ref = db.run("SELECT mospay.provider_reference(public_id, provider_ref) AS ref FROM transactions "
                       "WHERE id = :i", i=ids["bravo"])[0]["ref"]
    matched = db.run("SELECT t.id FROM transactions t JOIN services s ON s.id = t.service_id "
                     "WHERE s.name = 'momo' AND (t.public_id = mospay.public_id_for_reference(:r) "
                     "OR (t.f010 = :r AND t.provider_ref = :r))", r=bravo_ref)
    assert [m["id"] for m in matched] == [ids["bravo"]]
    assert db.query("callback_matches", service="momo", external_id=bravo_ref) == [
        {"id": ids["bravo"], "status": "PENDING"}]
    assert db.query("callback_matches", service="momo", external_id="same-f010") == []  # an f010 names nothing


def test_a_row_recorded_before_the_upgrade_keeps_the_reference_it_was_sent(db, gateway):
    """Rows still open at the upgrade were sent their f010 (migration 004 copies it to provider_ref)."""
    shop = gateway("alpha")
    assert shop.pay("legacy-1", msisdn="+250788120004").json["status"] == "PENDING"
    db.run("UPDATE transactions SET provider_ref = f010 WHERE f010 = 'legacy-1'")
    row = db.run("SELECT id, mospay.provider_reference(public_id, provider_ref) AS ref FROM transactions")[0]
    assert row["ref"] == "legacy-1"
    assert [m["id"] for m in db.query("callback_matches", service="momo", external_id="legacy-1")] == [row["id"]]


# ------------------------------------------------------------------ rate limits shared by every process

def test_the_bucket_in_postgres_allows_a_burst_then_says_how_long_to_wait(db, gateway):
    alpha, bravo = gateway("alpha"), gateway("bravo")
    ids = {r["app_id"]: r["id"] for r in db.run("SELECT app_id, id FROM clients")}
    take = lambda app_id, kind="payment", rate=5: db.one(  # noqa: E731
        "take_rate_token", client_id=ids[app_id], kind=kind, per_minute=rate)["retry_after"]
    assert [take("alpha") for _ in range(5)] == [0] * 5
    assert take("alpha") == 12  # one token every 60/5 s
    assert take("bravo") == 0 and take("alpha", kind="token") == 0  # other clients, other kinds: own buckets
    assert all(take("alpha", rate=0) == 0 for _ in range(50))  # 0 = no limit, nothing counted
    assert alpha and bravo


def test_a_clients_rate_limit_holds_across_two_instances(db, gateway):
    shop = gateway("alpha", rate_limit_per_minute=4)
    apps = gateway.apps
    answers = [shop.pay(f"r-{i}", app=apps[i % 2]) for i in range(6)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429, 429]
    assert answers[4].json["error"]["code"] == "rate_limited" and answers[4].headers["Retry-After"] == "15"
    assert db.run("SELECT count(*) AS n FROM transactions")[0]["n"] == 4  # a refusal records nothing
    assert db.run("SELECT count(*) AS n FROM security_events WHERE kind = 'rate_limited'")[0]["n"] >= 1


def test_parallel_payments_over_two_instances_are_counted_exactly(db, gateway):
    shop = gateway("alpha", rate_limit_per_minute=5)
    apps, codes, lock = gateway.apps, [], threading.Lock()
    start = threading.Barrier(16)

    def one(i):
        start.wait(10)
        code = shop.pay(f"p-{i}", app=apps[i % 2]).status_code
        with lock:
            codes.append(code)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(codes) == [200] * 5 + [429] * 11
    assert db.run("SELECT count(*) AS n FROM transactions")[0]["n"] == 5


def test_token_issue_and_status_lookups_are_limited_per_client_too(db, gateway):
    shop = gateway("alpha", rate_limit_per_minute=3)
    other = gateway("bravo", rate_limit_per_minute=3)
    apps = gateway.apps
    assert shop.pay("s-1").status_code == 200
    tokens = [apps[i % 2].simulate_post("/api/v1/auth/token", headers=shop.headers).status_code for i in range(4)]
    assert tokens == [200, 200, 200, 429]
    lookups = [apps[i % 2].simulate_get("/api/v1/payment/s-1", headers=shop.headers) for i in range(4)]
    assert [r.status_code for r in lookups] == [200, 200, 200, 429]
    assert lookups[0].json["status"] == "SUCCESSFUL" and lookups[3].json["error"]["code"] == "rate_limited"
    # Another client's buckets are its own; an unknown f010 is still a 404 within the limit.
    assert other.app.simulate_get("/api/v1/payment/s-1", headers=other.headers).status_code == 404
    assert other.app.simulate_post("/api/v1/auth/token", headers=other.headers).status_code == 200


def test_a_stranger_with_a_wrong_secret_cannot_spend_a_clients_bucket(db, gateway):
    shop = gateway("alpha", rate_limit_per_minute=2)
    wrong = {**shop.headers, "Authorization": "Basic " + base64.b64encode(b"mp_nobody:wrong").decode()}
    for i in range(3):
        assert shop.app.simulate_post("/api/v1/auth/token", headers=wrong,
                                      remote_addr=f"192.0.2.{i + 1}").status_code == 401
    assert shop.app.simulate_post("/api/v1/auth/token", headers=shop.headers).status_code == 200
    assert db.run("SELECT tokens FROM client_rate_buckets WHERE kind = 'token'")[0]["tokens"] == pytest.approx(1, abs=0.1)
