"""Refunds on an upgraded database: a v0.1.0 database (tests/fixtures/v0.1.0.sql), migrated, refunds a
payment it took before the upgrade. Its assignments predate refund functions: the first refund creates them
from the default template (mospay.refunds.ensure_functions), and the provider is asked to refund the
reference that payment was sent then (its f010, for rows recorded before schema version 4)."""

from __future__ import annotations

import falcon.testing

from mospay import functions, migrate
from mospay.app import create_app
from mospay.config import Config
from mospay.db import Database
from mospay.provider import Provider
from mospay.simulator import Simulator
from tests.integration.test_upgrade import FACTS, KEYS, headers, v010_url  # noqa: F401  (fixture)


def fn_names(db) -> set[str]:
    return {r["proname"] for r in db.run("SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = "
                                         "p.pronamespace WHERE n.nspname = 'mospay_fn'")}


def test_a_payment_made_before_the_upgrade_is_refunded_once_its_functions_are_made(v010_url):  # noqa: F811
    old = Database(v010_url, size=4)
    try:
        migrate.apply(old)
        with Simulator(hang_seconds=2, callback_delay=60) as sim:
            old.run("UPDATE services SET service_url = :u", u=sim.url)
            names = functions.refund_function_names("akaliza", "mtnmomorwa")
            assert not set(names) & fn_names(old)  # v0.1.0 never made any
            app = falcon.testing.TestClient(create_app(
                Config(database_url=v010_url, secret_key=KEYS["SECRET_KEY"], jwt_secret_key=KEYS["JWT_SECRET_KEY"]),
                old, Provider()))
            assert FACTS["transactions"]["ak-ok-1"] == "SUCCESSFUL"
            row = old.run("SELECT amount, mospay.provider_reference(public_id, provider_ref) AS ref FROM transactions "
                          "WHERE f010 = 'ak-ok-1'")[0]
            # The fixture's payments age past the refund window as time goes by: this one is made recent.
            old.run("UPDATE transactions SET created_at = now() WHERE f010 = 'ak-ok-1'")
            resp = app.simulate_post("/api/v1/payment/ak-ok-1/refund", json={"refund_id": "upg-1"},
                                     headers=headers("akaliza"))
            assert resp.status_code == 200 and resp.json["status"] == "SUCCESSFUL", resp.text
            assert resp.json["amount"] == str(row["amount"])
            assert set(names) <= fn_names(old)  # created on the first refund, and sealed like every other
            confined = {r["name"] for r in old.run("SELECT name FROM mospay.confined_functions")}
            assert set(names) <= confined
            assert sim.refund_calls["refunded_by_payment"] == {row["ref"]: str(row["amount"])}
            # A second refund finds them there: no second creation, and the cap holds.
            again = app.simulate_post("/api/v1/payment/ak-ok-1/refund", json={"refund_id": "upg-2", "amount": "1.00"},
                                      headers=headers("akaliza"))
            assert (again.status_code, again.json["error"]["code"]) == (422, "refund_exceeds_payment")
            looked = app.simulate_get("/api/v1/payment/ak-ok-1", headers=headers("akaliza")).json
            assert looked["refunded_amount"] == str(row["amount"]) and looked["refunds"][0]["refund_id"] == "upg-1"
    finally:
        old.close()
