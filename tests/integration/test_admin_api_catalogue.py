"""Admin API for services and field definitions: lists in keyset pages, reads, edits through the portal's
own actions, the portal's field rules (core fields kept, safe patterns only), roles and audit rows."""

from __future__ import annotations

import pytest

from tests.integration.admin_api_support import admin_stack

BASE = "/api/v1/admin/services"


@pytest.fixture
def stack(db_url):
    with admin_stack(db_url) as made:
        yield made


def _create(stack, name: str) -> dict:
    resp = stack.api("POST", BASE, {"name": name, "service_url": "https://pay.example/" + name, "timeout_s": 20})
    assert resp.status_code == 201, resp.text
    return resp.json


def test_services_list_in_keyset_pages_newest_first_and_viewers_may_read(stack):
    for name in ("svcone", "svctwo", "svcthree"):
        _create(stack, name)
    viewer = stack.as_role("viewer")
    first = viewer("GET", BASE, params={"limit": "2"})
    assert first.status_code == 200, first.text
    assert [s["name"] for s in first.json["items"]] == ["svcthree", "svctwo"] and first.json["next"]
    rest = viewer("GET", BASE, params={"limit": "2", "after": first.json["next"]})
    assert [s["name"] for s in rest.json["items"]] == ["svcone"] and rest.json["next"] is None
    assert rest.json["items"][0]["clients"] == 0 and rest.json["items"][0]["timeout_s"] == 20.0
    for bad in ({"limit": "0"}, {"limit": "201"}, {"limit": "²"}, {"after": "yesterday"}):
        resp = viewer("GET", BASE, params=bad)
        assert resp.status_code == 422 and resp.json["error"]["field"] in bad, (bad, resp.text)
    assert stack.client.simulate_get(BASE).status_code == 401


def test_a_service_is_read_and_patched_like_the_portal_edits_it_and_audited(stack):
    _create(stack, "editme")
    got = stack.api("GET", f"{BASE}/editme")
    assert got.status_code == 200 and got.json["service_url"] == "https://pay.example/editme"
    resp = stack.api("PATCH", f"{BASE}/editme", {"timeout_s": "45.5", "active": False, "display_name": "Edit Me"})
    assert resp.status_code == 200, resp.text
    assert (resp.json["timeout_s"], resp.json["active"], resp.json["display_name"]) == (45.5, False, "Edit Me")
    assert resp.json["service_url"] == "https://pay.example/editme"  # not sent: unchanged
    row = stack.audit("service.update")[-1]
    assert row["username"] == "ops" and row["target_id"] == "editme"
    assert row["before"]["active"] is True and row["after"]["active"] is False


@pytest.mark.parametrize("patch, status, code", [
    ({"currency": "USD"}, 422, "unknown_field"),         # set at creation only, as in the portal
    ({"active": "yes"}, 422, "invalid_type"),            # a form's "on" is not a JSON boolean
    ({"service_url": "ftp://files.example"}, 422, None),
    ({"service_url": "http://169.254.169.254/latest"}, 422, None),  # the egress rule the portal applies
    ({"timeout_s": 9999}, 422, None),
    ({"display_name": ""}, 422, "missing_field"),
])
def test_a_bad_service_patch_is_refused_and_changes_nothing(stack, patch, status, code):
    _create(stack, "strict")
    before = stack.api("GET", f"{BASE}/strict").json
    assert stack.api("PATCH", f"{BASE}/strict", {"timeout_s": 25}).status_code == 200  # control: a valid one passes
    resp = stack.api("PATCH", f"{BASE}/strict", patch)
    assert resp.status_code == status, resp.text
    assert code is None or resp.json["error"]["code"] == code
    assert stack.api("GET", f"{BASE}/strict").json == {**before, "timeout_s": 25.0}
    assert len(stack.audit("service.update")) == 1


def test_service_items_answer_404_for_unknown_names_and_403_to_viewers_on_writes(stack):
    _create(stack, "known")
    assert stack.api("GET", f"{BASE}/nosuch").status_code == 404
    assert stack.api("PATCH", f"{BASE}/nosuch", {"active": False}).status_code == 404
    assert stack.api("GET", f"{BASE}/Bad-Name").status_code == 422
    viewer = stack.as_role("viewer")
    assert viewer("GET", f"{BASE}/known").status_code == 200
    refused = viewer("PATCH", f"{BASE}/known", {"active": False})
    assert refused.status_code == 403 and refused.json["error"]["code"] == "insufficient_role"
    assert viewer("POST", f"{BASE}/known/fields", {"code": "f011", "label": "X"}).status_code == 403
    assert viewer("DELETE", f"{BASE}/known/fields/f004").status_code == 403
    assert stack.audit("service.update") == [] and stack.audit("service.field_save") == []


def test_fields_are_listed_added_patched_and_removed_with_the_portals_rules(stack):
    _create(stack, "fielded")
    fields = stack.api("GET", f"{BASE}/fielded/fields").json["items"]
    assert [f["code"] for f in fields] == [f"f{n:03d}" for n in range(11)]
    new = {"code": "f011", "label": "Invoice", "field_type": "string", "required": True, "max_length": 12,
           "pattern": "INV-[0-9]{1,8}"}
    added = stack.api("POST", f"{BASE}/fielded/fields", new)
    assert added.status_code == 201, added.text
    assert added.json == {**new, "secret": False}
    assert stack.api("POST", f"{BASE}/fielded/fields", new).status_code == 409  # PATCH it instead
    assert stack.api("GET", f"{BASE}/fielded/fields/f011").json["label"] == "Invoice"
    patched = stack.api("PATCH", f"{BASE}/fielded/fields/f011", {"label": "Invoice no.", "max_length": None})
    assert patched.status_code == 200 and patched.json["label"] == "Invoice no."
    assert patched.json["max_length"] is None and patched.json["pattern"] == "INV-[0-9]{1,8}"
    core = stack.api("PATCH", f"{BASE}/fielded/fields/f004", {"label": "Amount (RWF)"})
    assert core.status_code == 200 and core.json["label"] == "Amount (RWF)"  # core: editable...
    kept = stack.api("DELETE", f"{BASE}/fielded/fields/f004")
    assert kept.status_code == 422  # ...but not removable
    assert stack.api("DELETE", f"{BASE}/fielded/fields/f011").status_code == 204
    assert stack.api("GET", f"{BASE}/fielded/fields/f011").status_code == 404
    assert stack.api("DELETE", f"{BASE}/fielded/fields/f011").status_code == 404
    saves = stack.audit("service.field_save")
    assert [r["after"]["code"] for r in saves] == ["f011", "f011", "f004"]
    assert all(r["username"] == "ops" and r["target_id"] == "fielded" for r in saves)
    assert saves[1]["before"]["label"] == "Invoice" and saves[1]["after"]["label"] == "Invoice no."
    deleted = stack.audit("service.field_delete")
    assert len(deleted) == 1 and deleted[0]["before"]["code"] == "f011"


@pytest.mark.parametrize("body, code", [
    ({"code": "f012", "label": "Evil", "pattern": "(a+)+$"}, "unsafe_pattern"),  # mospay.patterns' check
    ({"code": "f012", "label": "Bad", "pattern": "[unclosed"}, "invalid_field"),
    ({"code": "f012", "label": "Len", "max_length": "12"}, "invalid_type"),
    ({"code": "f012", "label": "Len", "max_length": 0}, "invalid_field"),
    ({"code": "f012", "label": "Type", "field_type": ""}, "invalid_field"),
    ({"code": "f012", "label": "Req", "required": "on"}, "invalid_type"),
    ({"code": "12", "label": "Code"}, "invalid_field"),
    ({"code": "f012", "label": "Extra", "colour": "red"}, "unknown_field"),
])
def test_a_bad_field_definition_is_a_422_and_nothing_is_saved(stack, body, code):
    _create(stack, "guarded")
    ok = stack.api("POST", f"{BASE}/guarded/fields", {"code": "f011", "label": "Fine", "pattern": "[A-Z]{2,8}"})
    assert ok.status_code == 201, ok.text  # control
    resp = stack.api("POST", f"{BASE}/guarded/fields", body)
    assert resp.status_code == 422 and resp.json["error"]["code"] == code, resp.text
    patched = stack.api("PATCH", f"{BASE}/guarded/fields/f011", {k: v for k, v in body.items() if k != "code"})
    assert patched.status_code == 422 or body.keys() == {"code", "label"}, patched.text
    codes = [f["code"] for f in stack.api("GET", f"{BASE}/guarded/fields").json["items"]]
    assert "f012" not in codes and "12" not in codes
    assert stack.api("GET", f"{BASE}/guarded/fields/f011").json["label"] in ("Fine", "Code")
