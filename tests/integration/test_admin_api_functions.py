"""Admin API for the per-client functions: the catalogue (any role), source and versions (admin and
super_admin), save, dry run and restore (super_admin), with the editor's own checks and audit rows."""

from __future__ import annotations

import json

import pytest

from tests.integration.admin_api_support import admin_stack

BASE = "/api/v1/admin/functions"
NAME = "RESPONSE_akaliza_mtnmomorwa_collection"
REQUEST = "akaliza_mtnmomorwa_collection"


@pytest.fixture
def stack(db_url):
    with admin_stack(db_url) as made:
        made.onboard(service="mtnmomorwa", app_id="akaliza")
        made.super = made.as_role("super_admin")
        yield made


def _source(stack) -> str:
    return stack.db.run("SELECT pg_get_functiondef(p.oid) AS s FROM pg_proc p WHERE p.proname = :n", n=NAME)[0]["s"]


def _edited(stack) -> str:
    return _source(stack).replace("'Payment completed'", "'Paid, thank you'")


def test_the_catalogue_lists_names_to_every_role_in_pages(stack):
    stack.onboard(service="airtelrw", app_id="zebra")
    viewer = stack.as_role("viewer")
    everything = viewer("GET", BASE)
    assert everything.status_code == 200, everything.text
    assert [e["request"] for e in everything.json["items"]] == [REQUEST, "zebra_airtelrw_collection"]
    assert everything.json["items"][0]["response"] == NAME and "source" not in everything.json["items"][0]
    first = viewer("GET", BASE, params={"limit": "1"})
    assert [e["request"] for e in first.json["items"]] == [REQUEST] and first.json["next"] == REQUEST
    rest = viewer("GET", BASE, params={"limit": "1", "after": first.json["next"]})
    assert [e["request"] for e in rest.json["items"]] == ["zebra_airtelrw_collection"] and rest.json["next"] is None
    assert viewer("GET", BASE, params={"after": "nosuch_function"}).status_code == 422


def test_source_and_versions_are_for_admins_not_viewers(stack):
    got = stack.api("GET", f"{BASE}/{NAME}")
    assert got.status_code == 200 and got.json["source"] == _source(stack) and got.json["kind"] == "response"
    assert got.json["app_id"] == "akaliza" and got.json["route"] == "collection"
    viewer = stack.as_role("viewer")
    for path in (f"{BASE}/{NAME}", f"{BASE}/{NAME}/versions"):
        refused = viewer("GET", path)
        assert refused.status_code == 403 and "source" not in refused.text, path
    assert stack.api("GET", f"{BASE}/{NAME}/versions").json == {"items": [], "next": None}
    assert stack.api("GET", f"{BASE}/RESPONSE_nobody_mtnmomorwa_collection").status_code == 404
    assert stack.api("GET", f"{BASE}/pg_sleep").status_code == 404  # only functions of an assignment


def test_a_super_admin_saves_and_restores_with_versions_and_audit(stack):
    original = _source(stack)
    saved = stack.super("PUT", f"{BASE}/{NAME}", {"source": _edited(stack)})
    assert saved.status_code == 200, saved.text
    assert "'Paid, thank you'" in _source(stack) and saved.json["source"] == _source(stack)
    versions = stack.api("GET", f"{BASE}/{NAME}/versions").json["items"]
    assert [v["id"] for v in versions] == [saved.json["previous_version"]]
    assert versions[0]["created_by"] == "super_admin-user"
    old = stack.api("GET", f"{BASE}/{NAME}/versions/{versions[0]['id']}")
    assert old.status_code == 200 and old.json["source"] == original
    assert stack.api("GET", f"{BASE}/{NAME}/versions/999999").status_code == 404
    assert stack.api("GET", f"{BASE}/{NAME}/versions/abc").status_code == 404
    restored = stack.super("POST", f"{BASE}/{NAME}/versions/{versions[0]['id']}/restore")
    assert restored.status_code == 200, restored.text
    assert _source(stack) == original and restored.json["restored"] == versions[0]["id"]
    assert len(stack.api("GET", f"{BASE}/{NAME}/versions").json["items"]) == 2
    save_row, restore_row = stack.audit("function.save")[-1], stack.audit("function.restore")[-1]
    assert save_row["username"] == restore_row["username"] == "super_admin-user"
    assert save_row["target_id"] == NAME and "'Paid, thank you'" in save_row["after"]["source"]
    assert stack.super("POST", f"{BASE}/{NAME}/versions/999999/restore").status_code == 404


def test_only_a_super_admin_saves_dry_runs_or_restores(stack):
    stack.super("PUT", f"{BASE}/{NAME}", {"source": _edited(stack)})
    version = stack.api("GET", f"{BASE}/{NAME}/versions").json["items"][0]["id"]
    before = _source(stack)
    for role in ("admin", "viewer"):
        call = stack.as_role(role)
        assert call("PUT", f"{BASE}/{NAME}", {"source": before.replace("thank you", "x")}).status_code == 403
        assert call("POST", f"{BASE}/{NAME}/dry-run", {}).status_code == 403
        assert call("POST", f"{BASE}/{NAME}/versions/{version}/restore").status_code == 403
    assert _source(stack) == before
    assert len(stack.audit("function.save")) == 1 and stack.audit("function.dry_run") == []


@pytest.mark.parametrize("mutate, code", [
    (lambda s: s.replace("RESPONSE_akaliza", "RESPONSE_other", 1), "wrong_function"),
    (lambda s: s.replace("data_output jsonb)", "data_output jsonb, extra integer)", 1), "wrong_function"),
    (lambda s: s.replace("BEGIN", "BEGIN nonsense here", 1), "sql_error"),
])
def test_a_save_is_refused_with_the_editors_checks_and_changes_nothing(stack, mutate, code):
    before = _source(stack)
    resp = stack.super("PUT", f"{BASE}/{NAME}", {"source": mutate(_edited(stack))})
    assert resp.status_code == 422 and resp.json["error"]["code"] == code, resp.text
    assert _source(stack) == before and stack.audit("function.save") == []
    for body in ({}, {"source": 5}, {"source": before, "name": NAME}):
        assert stack.super("PUT", f"{BASE}/{NAME}", body).status_code == 422, body
    assert stack.super("PUT", f"{BASE}/RESPONSE_nobody_mtnmomorwa_collection", {"source": before}).status_code == 404


def test_a_dry_run_runs_the_given_source_rolls_back_and_is_audited(stack):
    before = _source(stack)
    run = stack.super("POST", f"{BASE}/{NAME}/dry-run",
                      {"source": _edited(stack), "code": 200, "data_output": {"status": "SUCCESSFUL"}})
    assert run.status_code == 200 and run.json["ok"] is True, run.text
    assert "Paid, thank you" in json.dumps(run.json["result"])
    assert _source(stack) == before  # rolled back
    stored = stack.super("POST", f"{BASE}/{NAME}/dry-run", {"data_input": {"f004": 1500, "f010": "dr-2"}})
    assert stored.status_code == 200 and "Payment completed" in json.dumps(stored.json["result"])
    broken = stack.super("POST", f"{BASE}/{NAME}/dry-run",
                         {"source": before.replace("BEGIN", "BEGIN nonsense here", 1)})
    assert broken.status_code == 422 and broken.json["error"]["code"] == "sql_error"
    rows = stack.audit("function.dry_run")
    assert [r["after"]["ok"] for r in rows] == [True, True, False]
    assert all(r["username"] == "super_admin-user" and r["target_id"] == NAME for r in rows)
    for bad in ({"data_input": "{not json"}, {"data_input": [1]}, {"code": "99"}, {"code": True},
                {"unique_id": 5}, {"sql": "SELECT 1"}):
        assert stack.super("POST", f"{BASE}/{NAME}/dry-run", bad).status_code == 422, bad
    assert stack.super("POST", f"{BASE}/RESPONSE_nobody_mtnmomorwa_collection/dry-run", {}).status_code == 404
