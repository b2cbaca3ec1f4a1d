"""Admin users through the admin API: the portal's rules and audit rows (mospay/actions.py), super_admin
for every change, a temporary password shown once and to be changed at next login."""

from __future__ import annotations

import base64

import pytest

from tests.integration.credentials.support import Stack
from tests.integration.portal_support import PASSWORD

NO_SIMULATOR = "http://127.0.0.1:9"


@pytest.fixture
def stack(db_url):
    made = Stack(db_url, NO_SIMULATOR)
    yield made
    made.close()


def boss(stack, method, path, json=None, **kwargs):
    return stack.api(method, path, json, username="root", role="super_admin", **kwargs)


def basic(username, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def test_list_and_read_users_any_role_with_pages(stack):
    for name in ("anna", "bert"):
        stack.user(name, "viewer")
    listed = stack.api("GET", "/api/v1/admin/users", username="viewer1", role="viewer")
    assert listed.status_code == 200
    names = [u["username"] for u in listed.json["items"]]
    assert {"anna", "bert", "viewer1"} <= set(names) and listed.json["next"] is None
    assert all("password_hash" not in u and "id" not in u for u in listed.json["items"])
    first = stack.api("GET", "/api/v1/admin/users", params={"limit": "2"}, username="viewer1", role="viewer").json
    rest = stack.api("GET", "/api/v1/admin/users", params={"limit": "200", "after": first["next"]},
                     username="viewer1", role="viewer").json
    assert [u["username"] for u in first["items"] + rest["items"]] == names
    one = stack.api("GET", "/api/v1/admin/users/anna", username="viewer1", role="viewer")
    assert one.status_code == 200 and one.json["role"] == "viewer" and one.json["active"] is True
    for missing in ("nobody", "bad%20name", "x" * 65):
        resp = stack.api("GET", f"/api/v1/admin/users/{missing}", username="viewer1", role="viewer")
        assert resp.status_code == 404 and resp.json["error"]["code"] == "user_not_found", missing
    for bad in ({"limit": "0"}, {"after": "garbage"}):
        assert stack.api("GET", "/api/v1/admin/users", params=bad, username="viewer1",
                         role="viewer").status_code == 422


def test_create_user_must_change_password_and_is_audited(stack):
    resp = boss(stack, "POST", "/api/v1/admin/users", {"username": "carol", "password": "first-pass-1",
                                                      "role": "viewer"})
    assert resp.status_code == 201, resp.text
    assert resp.json["username"] == "carol" and resp.json["must_change_password"] is True
    assert "first-pass-1" not in resp.text
    row = stack.audit("user.create")[0]
    assert row["username"] == "root" and row["target_id"] == "carol" and "first-pass-1" not in str(row)
    # The password works only to change it (the portal's rule).
    token = stack.client.simulate_post("/api/v1/admin/token", headers=basic("carol", "first-pass-1"))
    assert token.status_code == 403 and token.json["error"]["code"] == "password_change_required"
    again = boss(stack, "POST", "/api/v1/admin/users", {"username": "carol", "password": "first-pass-1"})
    assert again.status_code == 409
    for body, field in (({"username": "dan", "password": "short"}, "password"),
                        ({"username": "d a n", "password": "long-enough-1"}, "username"),
                        ({"username": "dan", "password": "long-enough-1", "role": "god"}, "role"),
                        ({"username": "dan", "password": "long-enough-1", "role": ""}, "role"),
                        ({"username": "dan", "password": "long-enough-1", "role": None}, "role")):
        bad = boss(stack, "POST", "/api/v1/admin/users", body)
        assert bad.status_code == 422 and bad.json["error"]["field"] == field, body
    assert stack.db.one("user_by_username", username="dan") is None


def test_only_a_super_admin_changes_users(stack):
    stack.user("target", "viewer")
    calls = (("POST", "/api/v1/admin/users", {"username": "eve", "password": "long-enough-1"}),
             ("PATCH", "/api/v1/admin/users/target", {"role": "admin"}),
             ("POST", "/api/v1/admin/users/target/reset-password", None))
    for role in ("admin", "viewer"):
        for method, path, body in calls:
            resp = stack.api(method, path, body, username=f"plain-{role}", role=role)
            assert resp.status_code == 403 and resp.json["error"]["code"] == "insufficient_role", (role, path)
    assert stack.db.one("user_by_username", username="target")["role"] == "viewer"
    assert not stack.audit("user.set_role") and not stack.audit("user.reset_password")


def test_patch_changes_role_and_active_together_and_audits_both(stack):
    stack.user("frank", "viewer")
    portal = stack.portal("frank", "viewer")
    resp = boss(stack, "PATCH", "/api/v1/admin/users/frank", {"role": "admin", "active": False})
    assert resp.status_code == 200, resp.text
    assert resp.json["role"] == "admin" and resp.json["active"] is False
    assert stack.audit("user.set_role")[0]["before"] == {"role": "viewer"}
    assert stack.audit("user.set_role")[0]["username"] == "root"
    assert stack.audit("user.deactivate")[0]["target_id"] == "frank"
    assert portal.get("/admin/users").status_code == 303  # the deactivated user's session ended
    back = boss(stack, "PATCH", "/api/v1/admin/users/frank", {"active": True})
    assert back.status_code == 200 and back.json["active"] is True and back.json["role"] == "admin"
    same = boss(stack, "PATCH", "/api/v1/admin/users/frank", {"role": "admin"})
    assert same.status_code == 200 and len(stack.audit("user.set_role")) == 1  # nothing changed, nothing audited


@pytest.mark.parametrize("body, status, code", [
    ({"role": "admin", "password": "x"}, 422, "unknown_field"),
    ({"role": "owner", "active": False}, 422, "invalid_field"),
    ({"active": "no"}, 422, "invalid_type"),
    ({"role": "viewer", "username": "renamed"}, 422, "unknown_field"),
])
def test_bad_patch_is_refused_and_changes_nothing(stack, body, status, code):
    stack.user("gina", "viewer")
    control = boss(stack, "PATCH", "/api/v1/admin/users/gina", {"role": "viewer"})
    assert control.status_code == 200
    resp = boss(stack, "PATCH", "/api/v1/admin/users/gina", body)
    assert resp.status_code == status and resp.json["error"]["code"] == code, resp.text
    row = stack.db.run("SELECT role, active FROM users WHERE username = 'gina'")[0]
    assert row == {"role": "viewer", "active": True}
    assert boss(stack, "PATCH", "/api/v1/admin/users/nobody", {"role": "admin"}).status_code == 404


def test_nobody_changes_their_own_role_or_active_flag_and_half_a_change_is_never_written(stack):
    stack.user("other", "viewer")
    resp = boss(stack, "PATCH", "/api/v1/admin/users/root", {"role": "viewer"})
    assert resp.status_code == 403 and resp.json["error"]["code"] == "self_role_change"
    resp = boss(stack, "PATCH", "/api/v1/admin/users/root", {"active": False})
    assert resp.status_code == 403 and resp.json["error"]["code"] == "self_deactivation"
    row = stack.db.run("SELECT role, active FROM users WHERE username = 'root'")[0]
    assert row == {"role": "super_admin", "active": True}
    assert not stack.audit("user.set_role") and not stack.audit("user.deactivate")


def test_reset_password_shows_a_temporary_password_once_and_ends_the_old_credentials(stack):
    stack.user("hana", "admin")
    old_token = stack.admin_headers("hana", "admin")
    assert stack.client.simulate_get("/api/v1/admin/users", headers=old_token).status_code == 200  # control
    resp = boss(stack, "POST", "/api/v1/admin/users/hana/reset-password")
    assert resp.status_code == 200, resp.text
    temporary = resp.json["temporary_password"]
    assert len(temporary) >= 12 and resp.json["must_change_password"] is True
    assert resp.headers["cache-control"] == "no-store"
    assert stack.client.simulate_get("/api/v1/admin/users", headers=old_token).status_code == 401
    assert stack.client.simulate_post("/api/v1/admin/token", headers=basic("hana", PASSWORD)).status_code == 401
    must = stack.client.simulate_post("/api/v1/admin/token", headers=basic("hana", temporary))
    assert must.status_code == 403 and must.json["error"]["code"] == "password_change_required"
    row = stack.audit("user.reset_password")[0]
    assert row["username"] == "root" and row["target_id"] == "hana" and temporary not in str(row)
    logged = stack.db.run("SELECT response_body::text AS body FROM api_logs WHERE endpoint LIKE '%reset-password'")
    assert logged and all(temporary not in (r["body"] or "") for r in logged)
    assert boss(stack, "POST", "/api/v1/admin/users/nobody/reset-password").status_code == 404


def test_user_changes_made_with_a_key_name_the_key(stack):
    stack.user("ivan", "viewer")
    key = boss(stack, "POST", "/api/v1/admin/api-keys", {"name": "hr-sync", "role": "super_admin"}).json["key"]
    resp = stack.client.simulate_patch("/api/v1/admin/users/ivan", json={"role": "admin"},
                                       headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200, resp.text
    assert stack.audit("user.set_role")[0]["username"] == "key:hr-sync"
