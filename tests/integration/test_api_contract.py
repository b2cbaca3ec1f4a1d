"""What the OpenAPI document says the answers are, against what the server answers: each schema names
every key returned, all of them required (a generated client's models then type them all), and an f010
made only of dots is refused for new payments while a stored one stays readable."""

from __future__ import annotations

import secrets

import jsonschema_rs
import pytest

from mospay.api import openapi


def conforms(name: str, body: dict) -> None:
    """The body is valid for the named schema and has exactly its required keys: no key the document
    leaves out, none it promises and the server omits."""
    doc = openapi.document()
    validator = jsonschema_rs.Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                                                    "components": doc["components"]})
    assert validator.is_valid(body), [str(e) for e in validator.iter_errors(body)]
    assert set(body) == set(doc["components"]["schemas"][name]["required"]), name


@pytest.fixture(scope="module")
def shop(api):
    return api.onboard()


def test_a_lookup_answers_exactly_the_transaction_schema(api, shop):
    paid = shop.pay(msisdn="+250788120011")
    assert paid.status == 200, paid.data
    f010 = paid.json()["f010"]
    by_get = api.request("GET", f"/api/v1/payment/{f010}", headers=shop.bearer())
    by_post = api.request("POST", "/api/v1/payment/status", json={"f010": f010}, headers=shop.basic)
    assert by_get.status == by_post.status == 200
    assert by_get.json() == by_post.json()
    conforms("Transaction", by_get.json())
    found = by_get.json()
    assert (found["msisdn"], found["route"], found["service"]) == ("+250788120011", "collection", shop.service)
    assert found["result"]["status"] == found["status"] == "SUCCESSFUL"


def test_admin_answers_match_their_schemas(api):
    name = "contract" + secrets.token_hex(3)
    service = api.admin("/api/v1/admin/services", {"name": name, "service_url": api.simulator_url})
    assert service.status == 201, service.data
    conforms("Service", service.json())
    client = api.admin("/api/v1/admin/clients", {"company_name": "Contract Shop"})
    assert client.status == 201, client.data
    conforms("Credentials", client.json())
    assert client.json()["webhook_secret"].startswith("whsec_") and client.json()["active"] is True
    app_id = client.json()["app_id"]
    assigned = api.admin(f"/api/v1/admin/clients/{app_id}/services", {"service": name, "routes": ["collection"]})
    assert assigned.status == 201, assigned.data
    conforms("Assignment", assigned.json())
    limits = api.request("PUT", f"/api/v1/admin/clients/{app_id}/limits", json={"rate_limit_per_minute": 60},
                         headers={"Authorization": f"Bearer {api.admin_token}"})
    assert limits.status == 200, limits.data
    conforms("ClientLimits", limits.json())


def _transactions(api, f010: str) -> int:
    return api.db.run("SELECT count(*) AS n FROM transactions WHERE f010 = :f", f=f010)[0]["n"]


@pytest.mark.parametrize("f010", [".", ".."])
def test_a_new_payment_with_an_f010_of_only_dots_is_refused(api, shop, f010):
    control = shop.pay(f010=f"{f010}{secrets.token_hex(3)}")  # dots with something else: a valid f010
    assert control.status == 200, control.data
    refused = shop.pay(f010=f010)
    assert refused.status == 422, refused.data
    assert refused.json()["error"]["field"] == "f010"
    assert _transactions(api, f010) == 0


def test_a_stored_f010_of_only_dots_stays_readable_by_post_status(api, shop):
    # Recorded before the rule (the f010 pattern accepted it): still the client's, read by POST. The row
    # is what a real payment recorded (its request names the client): the shared app's invariants hold.
    api.db.run("""
        INSERT INTO transactions (client_id, service_id, route, f010, amount, msisdn, request, request_hash)
        SELECT c.id, s.id, 'collection', '..', 500, '+250788120012',
               jsonb_build_object('f000', s.name, 'f003', c.app_id, 'f010', '..'), 'h-dots'
          FROM clients c, services s WHERE c.app_id = :app_id AND s.name = :service""",
               app_id=shop.app_id, service=shop.service)
    found = api.request("POST", "/api/v1/payment/status", json={"f010": ".."}, headers=shop.basic)
    assert found.status == 200, found.data
    assert found.json()["f010"] == ".." and found.json()["status"] == "RECEIVED"
    conforms("Transaction", found.json())


def test_a_rotated_secret_matches_rotated_credentials_not_credentials(api):
    # A rotation answers the new API secret only: a generated Credentials model (webhook_secret and the
    # rest required) could not read it, so operations answering it must use RotatedCredentials.
    from mospay import accounts

    created = accounts.create_client(api.db, api.config.secret_key, {"company_name": "Rotating Shop"})
    rotated = accounts.rotate_credentials(api.db, api.config.secret_key, created["app_id"])
    conforms("RotatedCredentials", rotated)
    conforms("Credentials", created)
