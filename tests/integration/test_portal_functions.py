"""The functions editor: view, dry-run (rolled back), save with validation, versions, restore, roles."""

from __future__ import annotations

import pytest
from markupsafe import escape

from mospay import errors
from mospay import function_editor as fe
from mospay.audit import Actor
from tests.integration.portal_support import site  # noqa: F401  (fixture)

NAME = "RESPONSE_akaliza_mtnmomorwa_collection"


@pytest.fixture
def editor(site):
    portal = site.portal("root", "super_admin")
    assert portal.post("/admin/services", {"name": "mtnmomorwa", "service_url": "http://127.0.0.1:9"}).status_code == 303
    assert portal.post("/admin/clients", {"app_id": "akaliza", "company_name": "Akaliza"}).status_code == 201
    assert portal.post("/admin/clients/akaliza/services", {"service": "mtnmomorwa", "routes": "collection"}).status_code == 303
    return portal


def _source(site):
    return site.db.run("SELECT pg_get_functiondef(p.oid) AS s FROM pg_proc p WHERE p.proname = :n", n=NAME)[0]["s"]


def _edited(site):
    return _source(site).replace("'Payment completed'", "'Paid, thank you'")


def test_functions_list_and_source_view(site, editor):
    listing = editor.get("/admin/functions")
    assert NAME in listing.text and "akaliza_mtnmomorwa_collection" in listing.text
    page = editor.get(f"/admin/functions/{NAME}")
    assert page.status_code == 200 and "Payment completed" in page.text and "data_output" in page.text


def test_dry_run_shows_the_result_and_changes_nothing(site, editor):
    before = _source(site)
    result = editor.post(f"/admin/functions/{NAME}/dry-run", {"source": _edited(site), "code": "200",
                                                               "data_output": '{"status": "SUCCESSFUL"}'},
                         headers={"HX-Request": "true"})
    assert result.status_code == 200 and "Paid, thank you" in result.text and "<html" not in result.text
    assert _source(site) == before
    broken = editor.post(f"/admin/functions/{NAME}/dry-run",
                         {"source": _source(site).replace("RETURN jsonb_build_object('status', 'UNKNOWN'", "RETURN nosuch('x'"),
                          "code": "500", "data_output": "{}"})
    assert broken.status_code == 200 and "nosuch" in broken.text and "does not exist" in broken.text
    bad_json = editor.post(f"/admin/functions/{NAME}/dry-run", {"data_output": "{not json"})
    assert "not valid JSON" in bad_json.text


def test_save_keeps_the_previous_version_and_restore_brings_it_back(site, editor):
    original = _source(site)
    saved = editor.post(f"/admin/functions/{NAME}", {"source": _edited(site)})
    assert saved.status_code == 303
    assert "Paid, thank you" in _source(site)
    versions = site.db.run("SELECT id, source, created_by FROM function_versions WHERE name = :n", n=NAME)
    assert len(versions) == 1 and versions[0]["source"] == original and versions[0]["created_by"] == "root"
    assert editor.get(f"/admin/functions/{NAME}/versions/{versions[0]['id']}").status_code == 200
    restored = editor.post(f"/admin/functions/{NAME}/versions/{versions[0]['id']}/restore")
    assert restored.status_code == 303 and _source(site) == original
    assert site.db.run("SELECT count(*) AS n FROM function_versions")[0]["n"] == 2
    actions = [r["action"] for r in site.db.run("SELECT action FROM audit_log WHERE target_type = 'function' ORDER BY id")]
    assert actions == ["function.save", "function.restore"]


@pytest.mark.parametrize("mutate, message", [
    (lambda s: s.replace("RESPONSE_akaliza", "RESPONSE_other", 1), "must start with"),
    (lambda s: s.rstrip().rstrip(";") + ";\nDROP TABLE clients;", "multiple commands"),
    (lambda s: s.replace("data_output jsonb)", "data_output jsonb, extra integer)", 1), "arguments"),
    (lambda s: s.replace("BEGIN", "BEGIN nonsense here", 1), "syntax error"),
])
def test_save_refuses_anything_but_exactly_this_function(site, editor, mutate, message):
    original = _source(site)
    result = editor.post(f"/admin/functions/{NAME}", {"source": mutate(original)})
    assert result.status_code == 422 and message in result.text
    assert _source(site) == original
    assert site.db.run("SELECT count(*) AS n FROM clients")[0]["n"] == 1
    assert site.db.run("SELECT count(*) AS n FROM function_versions")[0]["n"] == 0


def test_only_super_admin_edits_functions(site, editor):
    admin = site.portal("ops", "admin")
    assert admin.get(f"/admin/functions/{NAME}").status_code == 200
    for path in (f"/admin/functions/{NAME}", f"/admin/functions/{NAME}/dry-run", f"/admin/functions/{NAME}/versions/1/restore"):
        assert admin.post(path, {"source": _edited(site)}).status_code == 403, path
    assert "Paid, thank you" not in _source(site)


def test_dry_run_of_an_endless_function_is_cut_off(site, editor):
    looping = _source(site).replace("BEGIN\n", "BEGIN\n    LOOP END LOOP;\n", 1)
    result = editor.post(f"/admin/functions/{NAME}/dry-run", {"source": looping, "code": "200", "data_output": "{}"})
    assert result.status_code == 200 and "statement timeout" in result.text
    assert "LOOP END LOOP" not in _source(site)
    assert editor.get("/admin/functions").status_code == 200  # the pooled connection is usable again


@pytest.mark.parametrize("mutate", [
    lambda s: s.replace("BEGIN", "BEGIN nonsense here", 1),  # PostgreSQL refuses the CREATE
    lambda s: s.rstrip().rstrip(";") + ";\nDROP TABLE clients;",  # two statements
    lambda s: s.replace("RESPONSE_akaliza", "RESPONSE_other", 1),  # refused before the database
])
def test_dry_run_and_save_report_a_broken_source_the_same_way(site, editor, mutate):
    broken = mutate(_source(site))
    args = fe.sample_arguments(NAME, "akaliza", "mtnmomorwa", "collection")
    with pytest.raises(errors.InvalidField) as dry:
        fe.dry_run(site.db, NAME, args, broken)
    with pytest.raises(errors.InvalidField) as saved:
        fe.save(site.db, Actor(None, "root", "super_admin"), NAME, broken)
    assert (dry.value.field, dry.value.code, dry.value.message) == (saved.value.field, saved.value.code,
                                                                     saved.value.message)
    shown = str(escape(fe.describe(saved.value)))
    dry_page = editor.post(f"/admin/functions/{NAME}/dry-run", {"source": broken, "code": "200",
                                                                "data_output": "{}"}, headers={"HX-Request": "true"})
    save_page = editor.post(f"/admin/functions/{NAME}", {"source": broken})
    assert shown in dry_page.text and shown in save_page.text
    assert dry_page.status_code == 200 and save_page.status_code == 422  # htmx swaps only a 2xx answer
    assert site.db.run("SELECT count(*) AS n FROM clients")[0]["n"] == 1


def test_a_dry_run_that_succeeds_is_rolled_back_too(site, editor):
    before = _source(site)
    result = fe.dry_run(site.db, NAME, fe.sample_arguments(NAME, "akaliza", "mtnmomorwa", "collection"),
                        _edited(site))
    assert result["ok"] and result["result"]["message"] == "Paid, thank you"
    assert _source(site) == before
