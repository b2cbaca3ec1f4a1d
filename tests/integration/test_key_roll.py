"""Rolling a client's API secret with an overlap (Stripe's "roll key"): the old secret and tokens issued
with it keep working until the overlap ends, then are refused; last use per generation, at most one write
a minute. Through the app run.py serves (in-process) and the admin API."""

from __future__ import annotations

import pytest

from mospay import accounts, client_keys
from mospay.auth import BasicCredentials
from tests.integration.conftest import Client, TEST_KEYS
from tests.integration.security_support import basic

BASE = "/api/v1/admin/clients"


def _admin(api, method, path, json=None):
    return api.request(method, path, json=json, headers={"Authorization": f"Bearer {api.admin_token}"})


def _status(api, headers, source="127.0.0.1"):
    return api.request("GET", "/api/v1/payment/no-such-f010", headers=headers, source=source).status


def _generations(api, app_id):
    resp = _admin(api, "GET", f"{BASE}/{app_id}/secrets")
    assert resp.status == 200, resp.data
    return {g["generation"]: g for g in resp.json()["items"]}


def _expire_overlaps(api, app_id):
    """What the clock does when the overlap ends."""
    api.db.run("UPDATE client_secrets SET expires_at = now() - interval '1 second' WHERE expires_at > now() "
               "AND client_id = (SELECT id FROM clients WHERE app_id = :a)", a=app_id)


def test_the_old_secret_and_its_tokens_work_until_the_overlap_ends_then_are_refused(api):
    old = api.onboard()
    old_token = old.token()
    assert old.pay(headers=old.basic).status == 200  # warm the payment path's cached context
    rolled = _admin(api, "POST", f"{BASE}/{old.app_id}/rotate-secret", {"overlap_s": 3600})
    assert rolled.status == 200, rolled.data
    body = rolled.json()
    assert body["overlap_s"] == 3600 and body["generation"] == body["previous_generation"] + 1
    new = Client(api, old.app_id, old.username, body["api_secret"], old.service)
    # During the overlap: old secret (Basic, token issue), old token, new secret all work.
    assert old.pay(headers=old.basic).status == 200
    assert old.pay(headers={"Authorization": f"Bearer {old_token}"}).status == 200
    token_from_old_secret = old.token()
    assert new.pay(headers=new.basic).status == 200 and new.pay().status == 200
    gens = _generations(api, old.app_id)
    assert gens[body["generation"]]["state"] == "current" and gens[body["previous_generation"]]["state"] == "overlap"
    _expire_overlaps(api, old.app_id)
    # After it: every old credential is refused, on the cached context too; the new one keeps working.
    assert old.pay(headers=old.basic).status == 401
    assert old.pay(headers={"Authorization": f"Bearer {old_token}"}).status == 401
    assert old.pay(headers={"Authorization": f"Bearer {token_from_old_secret}"}).status == 401
    assert api.request("POST", "/api/v1/auth/token", headers=old.basic).status == 401
    assert _status(api, {"Authorization": f"Bearer {old_token}"}) == 401
    assert new.pay(headers=new.basic).status == 200 and new.pay().status == 200
    assert _generations(api, old.app_id)[body["previous_generation"]]["state"] == "expired"


def test_the_operator_rotation_still_revokes_at_once_and_cuts_every_overlap(api):
    first = api.onboard()
    token = first.token()
    second = accounts.rotate_credentials(api.db, TEST_KEYS["SECRET_KEY"], first.app_id, 7 * 86400)
    assert first.pay(headers={"Authorization": f"Bearer {token}"}).status == 200  # in its 7-day overlap
    third = _admin(api, "POST", f"{BASE}/{first.app_id}/rotate-secret")  # no body: overlap 0, as before
    assert third.status == 200 and third.json()["overlap_s"] == 0
    for secret in (first.secret, second["api_secret"]):
        assert api.request("POST", "/api/v1/auth/token", headers=basic(first.username, secret, first.app_id)
                           ).status == 401
    assert first.pay(headers={"Authorization": f"Bearer {token}"}).status == 401
    latest = Client(api, first.app_id, first.username, third.json()["api_secret"], first.service)
    assert latest.pay().status == 200
    assert {g["state"] for g in _generations(api, first.app_id).values()} == {"current", "expired"}
    assert third.json()["api_secret"] not in str(api.db.run("SELECT * FROM client_secrets"))


@pytest.mark.parametrize("overlap", [-1, 604801, "3600", True, 1.5, None])
def test_an_overlap_outside_0_to_7_days_is_refused_and_nothing_rolls(api, client, overlap):
    assert _admin(api, "POST", f"{BASE}/{client.app_id}/rotate-secret", {"overlap_s": 604800}).status == 200
    before = api.db.run("SELECT credential_version FROM clients WHERE app_id = :a", a=client.app_id)
    resp = _admin(api, "POST", f"{BASE}/{client.app_id}/rotate-secret", {"overlap_s": overlap})
    assert resp.status == 422, resp.data
    assert api.db.run("SELECT credential_version FROM clients WHERE app_id = :a", a=client.app_id) == before


def test_last_use_is_kept_per_generation_with_the_address_and_written_at_most_once_a_minute(api):
    shop = api.onboard()
    generation = max(_generations(api, shop.app_id))
    assert _generations(api, shop.app_id)[generation]["last_used_at"] is None
    assert _status(api, shop.basic, source="127.0.0.9") == 404  # a lookup, logged by the API middleware
    first = _generations(api, shop.app_id)[generation]
    assert first["last_used_ip"] == "127.0.0.9" and first["last_used_at"]
    assert shop.pay(headers=shop.basic).status == 200  # finish_payment: within the minute, no write
    assert _generations(api, shop.app_id)[generation] == first
    _minute_old(api, shop.app_id, generation)
    assert shop.pay(headers=shop.basic).status == 200  # a payment writes it when a minute old
    assert _generations(api, shop.app_id)[generation]["last_used_at"] > first["last_used_at"]
    # A token records the generation of the secret it was issued with.
    token = shop.token()
    rolled = accounts.rotate_credentials(api.db, TEST_KEYS["SECRET_KEY"], shop.app_id, 3600)
    _minute_old(api, shop.app_id, generation)
    assert _status(api, {"Authorization": f"Bearer {token}"}, source="127.0.0.7") == 404
    gens = _generations(api, shop.app_id)
    assert gens[generation]["last_used_ip"] == "127.0.0.7" and gens[rolled["generation"]]["last_used_at"] is None
    # A refused credential records nothing.
    assert _status(api, basic(shop.username, "sk_wrong", shop.app_id), source="127.0.0.8") == 401
    assert "127.0.0.8" not in str(_generations(api, shop.app_id))


def _minute_old(api, app_id, generation):
    api.db.run("UPDATE client_secrets SET last_used_at = now() - interval '61 seconds' WHERE generation = :g "
               "AND client_id = (SELECT id FROM clients WHERE app_id = :a)", g=generation, a=app_id)


def test_matching_generation_on_a_cached_context_checks_the_expiry_by_the_clock():
    key = "k" * 32
    from mospay.auth import hash_secret
    row = {"api_username": "mp_1", "api_secret_hash": hash_secret("sk_new", key), "credential_version": 3,
           "previous_secrets": [{"generation": 2, "secret_hash": hash_secret("sk_old", key), "expires_at": 1000.0}]}
    match = client_keys.matching_generation
    assert match(row, BasicCredentials("mp_1", "sk_new"), None, key, now=999) == 3
    assert match(row, BasicCredentials("mp_1", "sk_old"), None, key, now=999) == 2
    assert match(row, BasicCredentials("mp_1", "sk_old"), None, key, now=1000) is None
    assert match(row, BasicCredentials("mp_2", "sk_new"), None, key, now=999) is None
    assert match(row, None, 2, key, now=999) == 2 and match(row, None, 2, key, now=1001) is None
    assert match(row, None, 3, key, now=10 ** 12) == 3 and match(row, None, 1, key, now=0) is None
