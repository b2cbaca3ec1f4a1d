"""No URL outside the admin API lets one client reach another client's payments: every operation of the
real route table (found by walking it, so routes added later are covered without editing this file) is
called with client bravo's credentials and everything bravo could send that names client alpha's payment
(its f010, transaction id, provider reference, app id). No answer carries alpha's payment, and alpha's
payment is exactly as it was. The admin API is the other walk's (test_admin_api_routes.py: a client token
gets 401 on every operation there)."""

from __future__ import annotations

import base64
import re

import falcon.testing
import pytest

from mospay import accounts, catalogue
from mospay.app import create_app
from mospay.config import Config
from mospay.db import Database
from mospay.provider import Provider
from mospay.simulator import Simulator
from tests.integration.test_admin_api_routes import HTTP_METHODS, PREFIX, operations
from tests.support import provider_reference

KEYS = {"secret_key": "t" * 40, "jwt_secret_key": "u" * 40}
CLIENT_OPERATIONS = operations(lambda template: not template.startswith(PREFIX))


@pytest.fixture(scope="module")
def sim():
    with Simulator(hang_seconds=2, callback_delay=60) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def tenant_db(postgres, template_db):
    """One database for the whole walk: alpha's payment must come out of every operation unchanged."""
    name = postgres.create_database(template=template_db)
    database = Database(postgres.url_for(name), size=4)
    yield database, postgres.url_for(name)
    database.close()
    postgres.drop_database(name)


@pytest.fixture(scope="module")
def tenants(tenant_db, sim):
    db, db_url = tenant_db
    catalogue.create_service(db, {"name": "momo", "service_url": sim.url, "timeout_s": 2})
    headers = {}
    for app_id in ("alpha", "bravo"):
        creds = accounts.create_client(db, KEYS["secret_key"], {"company_name": app_id, "app_id": app_id})
        catalogue.assign_service(db, app_id, {"service": "momo", "routes": ["collection"]})
        raw = base64.b64encode(f"{creds['api_username']}:{creds['api_secret']}".encode()).decode()
        headers[app_id] = {"Authorization": f"Basic {raw}", "App-ID": app_id}
    database = Database(db_url, size=4)
    app = falcon.testing.TestClient(create_app(Config(database_url=db_url, **KEYS), database, Provider()))
    paid = app.simulate_post("/api/v1/payment/process", headers=headers["alpha"], json=payment("alpha", "alpha-1"))
    assert paid.status_code == 200, paid.text
    token = app.simulate_post("/api/v1/auth/token", headers=headers["bravo"]).json["access_token"]
    # Alpha's batch, waiting for approval: every batch URL is walked with its id too.
    batch = app.simulate_post("/api/v1/batches", headers={**headers["alpha"], "Content-Type": "application/json"},
                              json={"rows": [payment("alpha", "alpha-b1")]})
    assert batch.status_code == 201, batch.text
    PLANTED["batch_id"] = batch.json["batch_id"]
    yield app, headers, token, paid.json["transaction_id"]
    database.close()


PLANTED: dict = {}  # alpha's other records (its batch), by path parameter name


def payment(app_id: str, f010: str) -> dict:
    return {"f000": "momo", "f001": "collection", "f002": "collection", "f003": app_id, "f004": "500.00",
            "f005": "+250788120000", "f006": "c", "f007": "e", "f008": "p", "f009": "d", "f010": f010}


def test_the_walk_sees_the_client_api():
    assert ("/api/v1/payment/{f010}", "GET") in CLIENT_OPERATIONS
    assert ("/api/v1/payment/process", "POST") in CLIENT_OPERATIONS
    assert ("/api/v1/callbacks/{service}", "POST") in CLIENT_OPERATIONS
    assert all(method in HTTP_METHODS for _, method in CLIENT_OPERATIONS)


@pytest.mark.parametrize("template, method", CLIENT_OPERATIONS)
def test_no_operation_gives_bravo_alphas_payment(tenant_db, tenants, template, method):
    db, _ = tenant_db
    app, headers, token, alpha_txn = tenants
    reference = provider_reference(alpha_txn)
    alphas = ("SELECT t.* FROM transactions t JOIN clients c ON c.id = t.client_id WHERE c.app_id = 'alpha'")
    before = db.run(alphas)
    values = {"f010": "alpha-1", "transaction_id": alpha_txn, "service": "momo", "app_id": "alpha", **PLANTED}
    alpha_batch = db.run("SELECT * FROM batches WHERE public_id = :b", b=PLANTED["batch_id"])
    path = re.sub(r"{(\w+)(:[^}]*)?}", lambda m: values.get(m.group(1), "1"), template)
    bodies = [payment("alpha", "alpha-1"), payment("bravo", "alpha-1"), {"f010": "alpha-1"},
              {"f010": "alpha-1", "f003": "alpha"}, {"externalId": reference, "status": "FAILED"},
              {"transaction_id": alpha_txn}, {"refund_id": "walk-1"}]  # the last: a refund of alpha-1
    credentials = [headers["bravo"], {"Authorization": f"Bearer {token}"},
                   {**headers["bravo"], "App-ID": "alpha"}]  # bravo's secret, alpha's app id
    for creds in credentials:
        for body in bodies if method in ("POST", "PUT", "PATCH") else [None]:
            resp = app.simulate_request(method, path, headers=creds, json=body)
            assert resp.status_code < 500, (method, path, body, resp.text)
            text = resp.text
            assert alpha_txn not in text and reference not in text, (method, path, creds, body, text)
            assert PLANTED["batch_id"] not in text, (method, path, creds, body, text)
    # Alpha's one payment is exactly as it was, and nothing was recorded in alpha's name.
    assert len(before) == 1 and db.run(alphas) == before
    assert db.run("SELECT count(*) AS n FROM refunds r JOIN clients c ON c.id = r.client_id "
                  "WHERE c.app_id = 'alpha'")[0]["n"] == 0  # bravo may refund its own "alpha-1", never alpha's
    assert db.run("SELECT * FROM batches WHERE public_id = :b", b=PLANTED["batch_id"]) == alpha_batch
