"""Admin API keys for automation: created by a super_admin (shown once, stored as an HMAC), used as
`Authorization: Bearer mpk_...` on the admin API only, audited by name, last use recorded, revoked at once."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from mospay.auth import BAD_CREDENTIALS
from tests.integration.credentials.support import Stack

NO_SIMULATOR = "http://127.0.0.1:9"  # nothing here pays


@pytest.fixture
def stack(db_url):
    made = Stack(db_url, NO_SIMULATOR)
    yield made
    made.close()


def create_key(stack, name="ci", role="admin", **extra):
    resp = stack.api("POST", "/api/v1/admin/api-keys", {"name": name, "role": role, **extra},
                     username="root", role="super_admin")
    assert resp.status_code == 201, resp.text
    return resp.json


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def test_a_key_is_shown_once_stored_as_an_hmac_and_opens_the_admin_api(stack):
    created = create_key(stack, "deploy-bot", "admin")
    assert set(created) >= {"id", "name", "role", "key"} and created["role"] == "admin"
    key = created["key"]
    assert key.startswith(f"mpk_{created['id']}_")
    secret = key.split("_", 2)[2]
    row = stack.db.run("SELECT * FROM admin_api_keys WHERE id = :id", id=created["id"])[0]
    assert secret not in json.dumps(row, default=str) and key not in json.dumps(row, default=str)
    assert row["last_used_at"] is None

    listed = stack.api("GET", "/api/v1/admin/api-keys", username="root", role="super_admin")
    assert listed.status_code == 200 and [k["name"] for k in listed.json["items"]] == ["deploy-bot"]
    assert "key" not in listed.json["items"][0] and secret not in listed.text

    used = stack.client.simulate_get("/api/v1/admin/users", headers=bearer(key), remote_addr="127.0.0.7")
    assert used.status_code == 200, used.text
    row = stack.db.run("SELECT last_used_at, last_used_ip FROM admin_api_keys WHERE id = :id", id=created["id"])[0]
    assert row["last_used_at"] is not None and row["last_used_ip"] == "127.0.0.7"
    shown = stack.api("GET", "/api/v1/admin/api-keys", username="root", role="super_admin").json["items"][0]
    assert shown["last_used_ip"] == "127.0.0.7" and shown["last_used_at"]
    # Neither the request log nor the audit trail holds the key.
    logged = stack.db.run("SELECT response_body::text AS body FROM api_logs WHERE endpoint = '/api/v1/admin/api-keys'")
    audited = stack.db.run("SELECT after::text AS after FROM audit_log WHERE action = 'api_key.create'")
    assert logged and audited and all(secret not in (r["body"] or "") for r in logged)
    assert audited[0]["after"] and secret not in audited[0]["after"]
    assert stack.audit("api_key.create")[0]["username"] == "root"


def test_changes_made_with_a_key_are_audited_with_its_name(stack):
    key = create_key(stack, "ci", "admin")["key"]
    resp = stack.client.simulate_post("/api/v1/admin/clients", json={"company_name": "Scripted Shop"},
                                      headers=bearer(key))
    assert resp.status_code == 201, resp.text
    row = stack.audit("client.create")[0]
    assert row["username"] == "key:ci" and row["target_id"] == resp.json["app_id"]


def test_last_use_is_written_at_most_once_a_minute(stack):
    created = create_key(stack, "poller", "viewer")
    for _ in range(2):
        assert stack.client.simulate_get("/api/v1/admin/users", headers=bearer(created["key"]),
                                         remote_addr="127.0.0.8").status_code == 200
    first = stack.db.run("SELECT last_used_at FROM admin_api_keys WHERE id = :id", id=created["id"])[0]
    stack.client.simulate_get("/api/v1/admin/users", headers=bearer(created["key"]), remote_addr="127.0.0.9")
    again = stack.db.run("SELECT last_used_at, last_used_ip FROM admin_api_keys WHERE id = :id", id=created["id"])[0]
    assert again == {**first, "last_used_ip": "127.0.0.8"}  # within the minute: no second write
    stack.db.run("UPDATE admin_api_keys SET last_used_at = now() - interval '2 minutes' WHERE id = :id",
                 id=created["id"])
    stack.client.simulate_get("/api/v1/admin/users", headers=bearer(created["key"]), remote_addr="127.0.0.9")
    later = stack.db.run("SELECT last_used_at, last_used_ip FROM admin_api_keys WHERE id = :id", id=created["id"])[0]
    assert later["last_used_ip"] == "127.0.0.9" and later["last_used_at"] > first["last_used_at"]


def test_a_revoked_key_is_refused_at_once_with_the_one_401(stack):
    created = create_key(stack, "old-bot", "admin")
    assert stack.client.simulate_get("/api/v1/admin/users", headers=bearer(created["key"])).status_code == 200
    revoked = stack.api("DELETE", f"/api/v1/admin/api-keys/{created['id']}", username="root", role="super_admin")
    assert revoked.status_code == 204
    refused = stack.client.simulate_get("/api/v1/admin/users", headers=bearer(created["key"]))
    assert refused.status_code == 401 and refused.json["error"]["message"] == BAD_CREDENTIALS
    assert stack.audit("api_key.revoke")[0]["username"] == "root"
    assert stack.audit("api_key.revoke")[0]["target_id"] == "old-bot"
    # Revoking again changes nothing; an unknown or malformed id is a 404.
    assert stack.api("DELETE", f"/api/v1/admin/api-keys/{created['id']}", username="root",
                     role="super_admin").status_code == 204
    assert len(stack.audit("api_key.revoke")) == 1
    for missing in ("999999", "abc", "0"):
        resp = stack.api("DELETE", f"/api/v1/admin/api-keys/{missing}", username="root", role="super_admin")
        assert resp.status_code == 404 and resp.json["error"]["code"] == "api_key_not_found"
    listed = stack.api("GET", "/api/v1/admin/api-keys", username="root", role="super_admin").json["items"][0]
    assert listed["revoked_at"]


def test_expired_wrong_unknown_and_malformed_keys_get_the_same_401(stack):
    good = create_key(stack, "expiring", "admin", expires_at="2099-01-01T00:00:00Z")
    assert good["expires_at"].startswith("2099-01-01")
    key = good["key"]
    assert stack.client.simulate_get("/api/v1/admin/users", headers=bearer(key)).status_code == 200  # control
    prefix, secret = key.rsplit("_", 1)[0], key.split("_", 2)[2]
    wrong = [prefix + "_" + ("A" if secret[0] != "A" else "B") + secret[1:],
             f"mpk_{good['id'] + 100}_{secret}", "mpk_", "mpk_1_short", f"{key}x", "mpk_01_" + secret]
    stack.db.run("UPDATE admin_api_keys SET expires_at = now() - interval '1 second' WHERE id = :id", id=good["id"])
    for token in [key, *wrong]:
        resp = stack.client.simulate_get("/api/v1/admin/users", headers=bearer(token))
        assert resp.status_code == 401, token
        assert resp.json == {"error": {"code": "unauthorized", "message": BAD_CREDENTIALS}}, token


def test_failed_key_attempts_are_throttled_like_bad_tokens(db_url):
    stack = Stack(db_url, NO_SIMULATOR, auth_failure_limit=3, auth_address_failure_limit=3)
    try:
        key = create_key(stack, "throttled", "viewer")["key"]
        bad = key[:-1] + ("A" if key[-1] != "A" else "B")
        codes = [stack.client.simulate_get("/api/v1/admin/users", headers=bearer(bad),
                                           remote_addr="127.0.0.20").status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        # Blocked is blocked: not even the right key from that address until the window ends.
        assert stack.client.simulate_get("/api/v1/admin/users", headers=bearer(key),
                                         remote_addr="127.0.0.20").status_code == 429
        assert stack.client.simulate_get("/api/v1/admin/users", headers=bearer(key),
                                         remote_addr="127.0.0.21").status_code == 200
    finally:
        stack.close()


def test_a_key_never_opens_the_portal(stack):
    key = create_key(stack, "portal-try", "super_admin")["key"]
    for path in ("/admin", "/admin/users", "/admin/clients"):
        resp = stack.client.simulate_get(path, headers=bearer(key))
        assert resp.status_code == 303 and resp.headers["location"].startswith("/admin/login"), path
    refused = stack.client.simulate_post("/admin/users", headers={**bearer(key), "Origin": "http://falconframework.org"},
                                         body="username=sneaky&password=sneaky-pass-1&role=admin",
                                         content_type="application/x-www-form-urlencoded")
    assert refused.status_code in (303, 403) and stack.db.one("user_by_username", username="sneaky") is None
    # Control: the same page opens for a signed-in session.
    assert stack.portal("boss").get("/admin/users").status_code == 200


def test_only_a_super_admin_manages_keys_and_a_key_has_its_role(stack):
    for role in ("admin", "viewer"):
        for method, path in (("GET", "/api/v1/admin/api-keys"), ("POST", "/api/v1/admin/api-keys"),
                             ("DELETE", "/api/v1/admin/api-keys/1")):
            resp = stack.api(method, path, {"name": "x", "role": "viewer"} if method == "POST" else None,
                             username=f"plain-{role}", role=role)
            assert resp.status_code == 403 and resp.json["error"]["code"] == "insufficient_role", (role, path)
    viewer = create_key(stack, "reader", "viewer")["key"]
    assert stack.client.simulate_get("/api/v1/admin/users", headers=bearer(viewer)).status_code == 200
    refused = stack.client.simulate_post("/api/v1/admin/clients", json={"company_name": "No"}, headers=bearer(viewer))
    assert refused.status_code == 403 and not stack.audit("client.create")
    admin = create_key(stack, "writer", "admin")["key"]
    assert stack.client.simulate_post("/api/v1/admin/api-keys", json={"name": "y", "role": "super_admin"},
                                      headers=bearer(admin)).status_code == 403
    boss = create_key(stack, "boss-bot", "super_admin")["key"]
    made = stack.client.simulate_post("/api/v1/admin/api-keys", json={"name": "child", "role": "viewer"},
                                      headers=bearer(boss))
    assert made.status_code == 201 and stack.audit("api_key.create")[-1]["username"] == "key:boss-bot"
    assert stack.db.run("SELECT created_by FROM admin_api_keys WHERE name = 'child'")[0]["created_by"] == "key:boss-bot"


@pytest.mark.parametrize("body, field, code", [
    ({"role": "admin"}, "name", "missing_field"),
    ({"name": "has space", "role": "admin"}, "name", "invalid_field"),
    ({"name": "k" * 65, "role": "admin"}, "name", "invalid_field"),
    ({"name": "ok", "role": "owner"}, "role", "invalid_field"),
    ({"name": "ok"}, "role", "invalid_field"),
    ({"name": "ok", "role": "admin", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at", "invalid_field"),
    ({"name": "ok", "role": "admin", "expires_at": "2099-01-01T00:00:00"}, "expires_at", "invalid_field"),
    ({"name": "ok", "role": "admin", "expires_at": "tomorrow"}, "expires_at", "invalid_field"),
    ({"name": "ok", "role": "admin", "expires_at": 1}, "expires_at", "invalid_field"),
    ({"name": "ok", "role": "admin", "expires_at": "0001-01-01T00:00:00+14:00"}, "expires_at", "invalid_field"),
    ({"name": "ok", "role": "admin", "expiry": "2099-01-01T00:00:00Z"}, "expiry", "unknown_field"),
    ({"name": " ok", "role": "admin"}, "name", "invalid_field"),
    ({"name": 5, "role": "admin"}, "name", "invalid_field"),
    ({"name": "ok", "role": "admin", "expires_at": ""}, "expires_at", "invalid_field"),
    ({"name": "ok", "role": "admin", "expires_at": "2099-01-01T00:00Z"}, "expires_at", "invalid_field"),
])
def test_bad_key_requests_are_422_and_create_nothing(stack, body, field, code):
    create_key(stack, "control", "viewer")  # the valid shape passes
    resp = stack.api("POST", "/api/v1/admin/api-keys", body, username="root", role="super_admin")
    assert resp.status_code == 422, resp.text
    assert resp.json["error"]["field"] == field and resp.json["error"]["code"] == code
    assert stack.db.run("SELECT count(*) AS n FROM admin_api_keys")[0]["n"] == 1


def test_a_key_name_is_never_reused(stack):
    created = create_key(stack, "ci", "admin")
    stack.api("DELETE", f"/api/v1/admin/api-keys/{created['id']}", username="root", role="super_admin")
    again = stack.api("POST", "/api/v1/admin/api-keys", {"name": "ci", "role": "admin"}, username="root",
                      role="super_admin")
    assert again.status_code == 409 and again.json["error"]["code"] == "already_exists"


def test_keys_page_with_a_cursor(stack):
    for n in range(3):
        create_key(stack, f"k{n}", "viewer")
    first = stack.api("GET", "/api/v1/admin/api-keys?limit=2", username="root", role="super_admin").json
    assert [k["name"] for k in first["items"]] == ["k2", "k1"] and first["next"]
    second = stack.api("GET", "/api/v1/admin/api-keys", username="root", role="super_admin",
                       params={"limit": "2", "after": first["next"]}).json
    assert [k["name"] for k in second["items"]] == ["k0"] and second["next"] is None
    for bad in ({"limit": "0"}, {"limit": "201"}, {"limit": "x"}, {"limit": ""}, {"limit": ["2", "3"]},
                {"after": "nope"}, {"after": [first["next"], first["next"]]}):
        assert stack.api("GET", "/api/v1/admin/api-keys", username="root", role="super_admin",
                         params=bad).status_code == 422, bad


def test_the_expiry_is_kept_as_the_instant_given(stack):
    when = dt.datetime(2098, 6, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    created = create_key(stack, "dated", "viewer", expires_at=when.isoformat())
    assert dt.datetime.fromisoformat(created["expires_at"]) == when


def test_the_portal_page_creates_shows_once_and_revokes_keys_for_super_admins_only(stack):
    portal = stack.portal("boss", "super_admin")
    assert portal.get("/admin/api-keys").status_code == 200
    made = portal.post("/admin/api-keys", {"name": "from-portal", "role": "viewer", "expires": "2099-03-01"})
    assert made.status_code == 201, made.text
    key = re.search(r'id="api-key" class="secret">(mpk_[^<]+)<', made.text).group(1)
    assert stack.client.simulate_get("/api/v1/admin/users", headers=bearer(key)).status_code == 200
    page = portal.get("/admin/api-keys")
    assert "from-portal" in page.text and key not in page.text and "2099-03-01 00:00" in page.text
    refused = portal.post("/admin/api-keys", {"name": "from-portal", "role": "viewer"})
    assert refused.status_code == 422 and "names are not reused" in refused.text
    key_id = stack.db.run("SELECT id FROM admin_api_keys WHERE name = 'from-portal'")[0]["id"]
    assert portal.post(f"/admin/api-keys/{key_id}/revoke").status_code == 303
    assert stack.client.simulate_get("/api/v1/admin/users", headers=bearer(key)).status_code == 401
    assert [r["username"] for r in stack.audit("api_key.create") + stack.audit("api_key.revoke")] == ["boss"] * 2
    admin = stack.portal("plain", "admin")
    assert admin.get("/admin/api-keys").status_code == 403
    assert admin.post("/admin/api-keys", {"name": "sneaky", "role": "super_admin"}).status_code == 403
    assert stack.db.run("SELECT count(*) AS n FROM admin_api_keys")[0]["n"] == 1
