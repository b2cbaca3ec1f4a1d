"""Admin API for clients: search in keyset pages, reads without secrets, edits, (de)activation, secret
rotations shown once, assignments and limits, all through the portal's actions and audited."""

from __future__ import annotations

import json

import pytest

from mospay import webhooks
from tests.integration.admin_api_support import admin_stack
from tests.integration.portal_support import KEYS

BASE = "/api/v1/admin/clients"


@pytest.fixture
def stack(db_url):
    with admin_stack(db_url) as made:
        yield made


def _client(stack, app_id: str, company: str = "Shop Ltd", **extra) -> dict:
    resp = stack.api("POST", BASE, {"app_id": app_id, "company_name": company, **extra})
    assert resp.status_code == 201, resp.text
    return resp.json


def _no_secrets(value) -> None:
    text = json.dumps(value)
    for key in ("api_secret", "api_secret_hash", "webhook_secret", "credential_version"):
        assert f'"{key}"' not in text, key


def test_clients_are_searched_in_keyset_pages_and_never_show_secrets(stack):
    created = [_client(stack, f"Acme{n}", f"Acme {n}", contact_email=f"ops{n}@acme.example") for n in range(3)]
    _client(stack, "Other1", "Globex")
    viewer = stack.as_role("viewer")
    page = viewer("GET", BASE, params={"q": "acme", "limit": "2"})
    assert page.status_code == 200, page.text
    assert [c["app_id"] for c in page.json["items"]] == ["Acme2", "Acme1"] and page.json["next"]
    rest = viewer("GET", BASE, params={"q": "acme", "limit": "2", "after": page.json["next"]})
    assert [c["app_id"] for c in rest.json["items"]] == ["Acme0"] and rest.json["next"] is None
    by_email = viewer("GET", BASE, params={"q": "OPS1@"}).json["items"]
    assert [c["app_id"] for c in by_email] == ["Acme1"]
    everyone = viewer("GET", BASE).json
    assert {c["app_id"] for c in everyone["items"]} == {"Acme0", "Acme1", "Acme2", "Other1"}
    _no_secrets(everyone)
    item = viewer("GET", f"{BASE}/Acme1")
    assert item.status_code == 200 and item.json["api_username"] == created[1]["api_username"]
    _no_secrets(item.json)
    assert viewer("GET", BASE, params={"limit": "500"}).status_code == 422
    assert viewer("GET", f"{BASE}/Nobody1").status_code == 404
    assert viewer("GET", f"{BASE}/x").status_code == 422  # not an app_id at all


def test_a_client_is_patched_like_the_portal_edits_it_and_audited(stack):
    _client(stack, "Patchy1", contact_email="old@shop.example", callback_url="https://shop.example/hook")
    resp = stack.api("PATCH", f"{BASE}/Patchy1", {"company_name": "Patchy Ltd", "contact_email": None})
    assert resp.status_code == 200, resp.text
    assert resp.json["company_name"] == "Patchy Ltd" and resp.json["contact_email"] is None
    assert resp.json["callback_url"] == "https://shop.example/hook" and resp.json["active"] is True
    row = stack.audit("client.update")[-1]
    assert row["username"] == "ops" and row["target_id"] == "Patchy1"
    assert row["before"]["contact_email"] == "old@shop.example" and row["after"]["company_name"] == "Patchy Ltd"
    for bad, code in (({"active": False}, "unknown_field"), ({"company_name": ""}, "missing_field"),
                      ({"callback_url": "javascript:alert(1)"}, "invalid_field"),
                      ({"company_name": 7}, "invalid_type")):
        refused = stack.api("PATCH", f"{BASE}/Patchy1", bad)
        assert refused.status_code == 422 and refused.json["error"]["code"] == code, (bad, refused.text)
    assert stack.api("GET", f"{BASE}/Patchy1").json == resp.json  # nothing half-written
    assert stack.api("PATCH", f"{BASE}/Patchy1", {}).json == resp.json  # an empty PATCH: no write, no row
    assert len(stack.audit("client.update")) == 1
    assert stack.api("PATCH", f"{BASE}/Nobody1", {"company_name": "X"}).status_code == 404
    assert stack.as_role("viewer")("PATCH", f"{BASE}/Patchy1", {"company_name": "X"}).status_code == 403


def test_deactivation_refuses_the_clients_credentials_at_once_and_reactivation_restores_them(stack):
    creds = _client(stack, "Sleepy1")
    assert stack.client_token(creds).status_code == 200  # control
    off = stack.api("POST", f"{BASE}/Sleepy1/deactivate")
    assert off.status_code == 200 and off.json["active"] is False
    assert stack.client_token(creds).status_code == 401
    on = stack.api("POST", f"{BASE}/Sleepy1/reactivate")
    assert on.status_code == 200 and on.json["active"] is True
    assert stack.client_token(creds).status_code == 200
    assert [r["action"] for r in stack.audit("client.deactivate") + stack.audit("client.activate")] == [
        "client.deactivate", "client.activate"]
    assert all(r["username"] == "ops" for r in stack.audit("client.deactivate") + stack.audit("client.activate"))
    assert stack.api("POST", f"{BASE}/Nobody1/deactivate").status_code == 404
    assert stack.as_role("viewer")("POST", f"{BASE}/Sleepy1/deactivate").status_code == 403


def test_rotating_the_api_secret_shows_it_once_and_revokes_the_old_secret_and_tokens(stack):
    creds = _client(stack, "Rotor1")
    old_token = stack.client_token(creds).json["access_token"]
    status = "/api/v1/payment/nothing-here"
    assert stack.client.simulate_get(status, headers={"Authorization": f"Bearer {old_token}"}).status_code == 404
    resp = stack.api("POST", f"{BASE}/Rotor1/rotate-secret")
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    assert set(resp.json) == {"app_id", "api_username", "api_secret", "generation", "previous_generation",
                              "previous_expires_at", "overlap_s"} and resp.json["api_secret"] != creds["api_secret"]
    assert resp.json["overlap_s"] == 0  # the operator's rotation keeps its behaviour by default
    assert stack.client.simulate_get(status, headers={"Authorization": f"Bearer {old_token}"}).status_code == 401
    assert stack.client_token(creds).status_code == 401
    assert stack.client_token({**creds, **resp.json}).status_code == 200
    row = stack.audit("client.rotate_credentials")[-1]
    assert row["username"] == "ops" and resp.json["api_secret"] not in json.dumps(row)
    assert resp.json["api_secret"] not in json.dumps(stack.api("GET", f"{BASE}/Rotor1").json)
    assert stack.api("POST", f"{BASE}/Nobody1/rotate-secret").status_code == 404
    assert stack.as_role("viewer")("POST", f"{BASE}/Rotor1/rotate-secret").status_code == 403


def test_rotating_the_webhook_secret_shows_the_new_one_once_and_audits_it_masked(stack):
    _client(stack, "Hooky1")
    resp = stack.api("POST", f"{BASE}/Hooky1/rotate-webhook-secret", {"overlap_s": 3600})
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    assert resp.json["webhook_secret"] == webhooks.webhook_secret(KEYS["secret_key"], "Hooky1", 2)
    again = stack.api("POST", f"{BASE}/Hooky1/rotate-webhook-secret")  # no body: the default overlap
    assert again.status_code == 200 and again.json["webhook_secret"] == webhooks.webhook_secret(
        KEYS["secret_key"], "Hooky1", 3)
    rows = stack.audit("client.rotate_webhook_secret")
    assert [r["username"] for r in rows] == ["ops", "ops"]
    assert resp.json["webhook_secret"] not in json.dumps(rows)
    for bad in ({"overlap_s": -1}, {"overlap_s": "3600"}, {"overlap_s": 10**9}, {"overlap": 5}):
        assert stack.api("POST", f"{BASE}/Hooky1/rotate-webhook-secret", bad).status_code == 422, bad
    assert len(stack.audit("client.rotate_webhook_secret")) == 2
    assert stack.api("POST", f"{BASE}/Nobody1/rotate-webhook-secret").status_code == 404
    assert stack.as_role("viewer")("POST", f"{BASE}/Hooky1/rotate-webhook-secret").status_code == 403


def _functions_of(stack, app_id: str) -> set[str]:
    return {r["name"] for r in stack.db.run(
        "SELECT p.proname AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'mospay_fn' AND p.proname LIKE :pattern", pattern=f"%{app_id}%")}


def test_assignments_are_listed_and_a_route_or_a_service_is_unassigned_with_its_functions(stack):
    _client(stack, "Multi1")
    for name in ("alpha", "beta"):
        assert stack.api("POST", "/api/v1/admin/services",
                         {"name": name, "service_url": "https://pay.example/" + name}).status_code == 201
    assert stack.api("POST", f"{BASE}/Multi1/services", {"service": "alpha", "routes": ["collection", "refund"]}
                     ).status_code == 201
    beta = stack.api("POST", f"{BASE}/Multi1/services", {"service": "beta", "routes": ["collection"]})
    assert beta.status_code == 201
    listed = stack.as_role("viewer")("GET", f"{BASE}/Multi1/services")
    assert listed.status_code == 200
    assert [(a["service"], a["routes"]) for a in listed.json["items"]] == [
        ("alpha", ["collection", "refund"]), ("beta", ["collection"])]
    assert "Multi1_alpha_refund" in listed.json["items"][0]["functions"]
    assert "Multi1_alpha_refund" in _functions_of(stack, "Multi1")
    assert stack.api("DELETE", f"{BASE}/Multi1/services/alpha/routes/refund").status_code == 204
    assert "Multi1_alpha_refund" not in _functions_of(stack, "Multi1")
    assert "Multi1_alpha_collection" in _functions_of(stack, "Multi1")
    assert stack.api("DELETE", f"{BASE}/Multi1/services/alpha/routes/refund").status_code == 404
    assert stack.api("DELETE", f"{BASE}/Multi1/services/beta").status_code == 204
    assert not any("beta" in name for name in _functions_of(stack, "Multi1"))
    assert stack.api("DELETE", f"{BASE}/Multi1/services/beta").status_code == 404
    remaining = stack.api("GET", f"{BASE}/Multi1/services").json["items"]
    assert [(a["service"], a["routes"]) for a in remaining] == [("alpha", ["collection"])]
    assert [r["after"] for r in stack.audit("client.unassign_route")] == [None]
    assert stack.audit("client.unassign_route")[0]["before"] == {"service": "alpha", "route": "refund"}
    assert stack.audit("client.unassign_service")[0]["username"] == "ops"
    assert stack.api("DELETE", f"{BASE}/Nobody1/services/alpha").status_code == 404
    assert stack.api("GET", f"{BASE}/Nobody1/services").status_code == 404
    viewer = stack.as_role("viewer")
    assert viewer("DELETE", f"{BASE}/Multi1/services/alpha").status_code == 403
    assert viewer("DELETE", f"{BASE}/Multi1/services/alpha/routes/collection").status_code == 403


def test_limits_are_read_back_as_they_were_set(stack):
    _client(stack, "Limit1")
    viewer = stack.as_role("viewer")
    assert viewer("GET", f"{BASE}/Limit1/limits").json == {
        "app_id": "Limit1", "rate_limit_per_minute": None, "max_amount_per_transaction": None,
        "max_amount_per_day": None}
    put = stack.api("PUT", f"{BASE}/Limit1/limits", {"rate_limit_per_minute": 30, "max_amount_per_day": "5000.00"})
    assert put.status_code == 200
    assert viewer("GET", f"{BASE}/Limit1/limits").json == put.json
    assert viewer("GET", f"{BASE}/Nobody1/limits").status_code == 404
    assert viewer("PUT", f"{BASE}/Limit1/limits", {}).status_code == 403
