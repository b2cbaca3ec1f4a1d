"""Portal pages for services, clients, assignments and roles, through Falcon's TestClient."""

from __future__ import annotations

import base64

from tests.integration.portal_support import site  # noqa: F401  (fixture)


def _service(portal, name="mtnmomorwa"):
    result = portal.post("/admin/services", {"name": name, "display_name": "MTN MoMo",
                                             "service_url": "http://127.0.0.1:9/x", "timeout_s": "10"})
    assert result.status_code == 303, result.text
    return name


def _client(portal, app_id="akaliza"):
    result = portal.post("/admin/clients", {"app_id": app_id, "company_name": "Akaliza <Ltd>"})
    assert result.status_code == 201, result.text
    return result


def _token_status(site, app_id, username, secret):
    raw = base64.b64encode(f"{username}:{secret}".encode()).decode()
    return site.app and __import__("falcon").testing.TestClient(site.app).simulate_post(
        "/api/v1/auth/token", headers={"Authorization": f"Basic {raw}", "App-ID": app_id}).status_code


def _creds(page):
    import re
    return {k: re.search(rf'id="{k}"[^>]*>([^<]+)<', page.text).group(1) for k in ("app-id", "api-username", "api-secret")}


def test_service_create_edit_and_field_editor(site):
    portal = site.portal("ops", "admin")
    _service(portal)
    assert "MTN MoMo" in portal.get("/admin/services").text
    page = portal.get("/admin/services/mtnmomorwa")
    assert page.status_code == 200 and "f010" in page.text
    edit = portal.post("/admin/services/mtnmomorwa", {"display_name": "MTN Rwanda", "service_url": "http://127.0.0.1:9/y",
                                                      "timeout_s": "12", "active": "on"})
    assert edit.status_code == 303
    assert site.db.one("service_by_name", name="mtnmomorwa")["display_name"] == "MTN Rwanda"
    added = portal.post("/admin/services/mtnmomorwa/fields", {"code": "f011", "label": "Narration",
                                                              "field_type": "string", "max_length": "40",
                                                              "pattern": "[A-Za-z ]+"})
    assert added.status_code == 303
    assert "Narration" in portal.get("/admin/services/mtnmomorwa").text
    bad = portal.post("/admin/services/mtnmomorwa/fields", {"code": "f012", "label": "Bad", "pattern": "(["},
                      headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "regular expression" in bad.text and "<html" not in bad.text
    assert portal.post("/admin/services/mtnmomorwa/fields/f004/delete").status_code == 422
    assert portal.post("/admin/services/mtnmomorwa/fields/f011/delete").status_code == 303
    assert "Narration" not in portal.get("/admin/services/mtnmomorwa").text
    invalid = portal.post("/admin/services", {"name": "Bad Name", "service_url": "ftp://x"})
    assert invalid.status_code == 422 and "lowercase" in invalid.text


def test_client_credentials_are_shown_once_and_work(site):
    portal = site.portal("ops", "admin")
    page = _client(portal)
    creds = _creds(page)
    assert creds["api-secret"].startswith("sk_")
    assert "Akaliza &lt;Ltd&gt;" in portal.get("/admin/clients").text  # escaped, never raw
    assert "mospay_session" not in page.cookies or creds["api-secret"] not in page.cookies["mospay_session"].value
    detail = portal.get("/admin/clients/akaliza")
    assert detail.status_code == 200 and creds["api-secret"] not in detail.text
    assert _token_status(site, "akaliza", creds["api-username"], creds["api-secret"]) == 200
    audit = site.db.run("SELECT after::text AS after FROM audit_log WHERE action = 'client.create'")[0]["after"]
    assert creds["api-secret"] not in audit and "***" in audit


def test_generated_app_id_and_duplicate(site):
    portal = site.portal("ops", "admin")
    generated = portal.post("/admin/clients", {"company_name": "Auto"})
    assert generated.status_code == 201 and _creds(generated)["app-id"].startswith("app")
    _client(portal)
    again = portal.post("/admin/clients", {"app_id": "akaliza", "company_name": "Other"})
    assert again.status_code == 422 and "already exists" in again.text


def test_edit_deactivate_reactivate_and_rotate(site):
    portal = site.portal("ops", "admin")
    creds = _creds(_client(portal))
    assert portal.get("/admin/clients/akaliza/edit").status_code == 200
    edit = portal.post("/admin/clients/akaliza", {"company_name": "Akaliza Two", "contact_email": "a@b.rw",
                                                  "callback_url": "https://cb.example/x", "active": "on"})
    assert edit.status_code == 303 and "Akaliza Two" in portal.get("/admin/clients/akaliza").text
    assert portal.post("/admin/clients/akaliza/active", {"active": "0"}).status_code == 303
    assert _token_status(site, "akaliza", creds["api-username"], creds["api-secret"]) == 401
    assert portal.post("/admin/clients/akaliza/active", {"active": "1"}).status_code == 303
    assert _token_status(site, "akaliza", creds["api-username"], creds["api-secret"]) == 200
    rotated = portal.post("/admin/clients/akaliza/rotate")
    new = _creds(rotated)
    assert rotated.status_code == 200 and new["api-secret"] != creds["api-secret"]
    assert _token_status(site, "akaliza", creds["api-username"], creds["api-secret"]) == 401
    assert _token_status(site, "akaliza", new["api-username"], new["api-secret"]) == 200
    actions = [r["action"] for r in site.db.run("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["client.create", "client.update", "client.deactivate", "client.activate",
                       "client.rotate_credentials"]


def test_assign_and_unassign_create_and_drop_functions(site):
    portal = site.portal("ops", "admin")
    _service(portal)
    _client(portal)
    assigned = portal.post("/admin/clients/akaliza/services", {"service": "mtnmomorwa", "routes": "collection, disbursement"})
    assert assigned.status_code == 303
    count = "SELECT count(*) AS n FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'mospay_fn'"
    # request, RESPONSE and Status function per route, and the client's three refund functions for the service
    assert site.db.run(count)[0]["n"] == 9
    assert "akaliza_mtnmomorwa_disbursement" in portal.get("/admin/clients/akaliza").text
    bad = portal.post("/admin/clients/akaliza/services", {"service": "mtnmomorwa", "routes": "Bad Route!"})
    assert bad.status_code == 422
    assert portal.post("/admin/clients/akaliza/services/mtnmomorwa/routes/disbursement/delete").status_code == 303
    assert site.db.run(count)[0]["n"] == 6
    assert "akaliza_mtnmomorwa_disbursement" not in portal.get("/admin/clients/akaliza").text
    assert portal.post("/admin/clients/akaliza/services/mtnmomorwa/routes/disbursement/delete").status_code == 404
    assert portal.post("/admin/clients/akaliza/services/mtnmomorwa/delete").status_code == 303
    assert site.db.run(count)[0]["n"] == 0
    assert portal.post("/admin/clients/akaliza/services/mtnmomorwa/delete").status_code == 404


def test_live_search_returns_the_table_fragment(site):
    portal = site.portal("ops", "admin")
    _client(portal, "akaliza")
    portal.post("/admin/clients", {"app_id": "bobshop", "company_name": "Bob Shop"})
    fragment = portal.get("/admin/clients", params={"q": "bob"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and fragment.text.lstrip().startswith('<div id="clients-table">')
    assert "Bob Shop" in fragment.text and "Akaliza" not in fragment.text
    assert "HX-Request" in fragment.headers["vary"]
    boosted = portal.get("/admin/clients", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in boosted.text


def test_viewer_reads_but_cannot_change(site):
    admin = site.portal("ops", "admin")
    _service(admin)
    _client(admin)
    viewer = site.portal("watcher", "viewer")
    for path in ("/admin", "/admin/clients", "/admin/clients/akaliza", "/admin/services", "/admin/services/mtnmomorwa",
                 "/admin/functions", "/admin/transactions", "/admin/api-logs", "/admin/users", "/admin/audit"):
        assert viewer.get(path).status_code == 200, path
    for path, data in (("/admin/clients", {"company_name": "X"}), ("/admin/services", {"name": "x"}),
                       ("/admin/clients/akaliza/rotate", {}), ("/admin/clients/akaliza/active", {"active": "0"}),
                       ("/admin/users", {"username": "x"})):
        result = viewer.post(path, data)
        assert result.status_code == 403 and "role" in result.text, path
    assert site.db.one("client_by_app_id", app_id="akaliza")["client_active"]


def test_unknown_records_are_404_pages(site):
    portal = site.portal("ops", "admin")
    for path in ("/admin/clients/nosuch", "/admin/services/nosuch", "/admin/transactions/txn_00",
                 "/admin/api-logs/999", "/admin/functions/nosuch_x_y"):
        result = portal.get(path)
        assert result.status_code == 404 and "text/html" in result.headers["content-type"], path


def test_unknown_portal_urls_and_methods_answer_html_and_the_api_keeps_json(site):
    portal = site.portal("ops", "admin")
    missing = portal.get("/admin/no-such-page")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    wrong_method = portal.request("DELETE", "/admin/clients", headers={"X-CSRF-Token": portal.csrf})
    assert wrong_method.status_code == 405 and "text/html" in wrong_method.headers["content-type"]
    api = portal.client.simulate_get("/api/v1/nothing")
    assert api.status_code == 404 and api.json["error"]["code"] == "not_found"


def test_field_edit_link_fills_the_form(site):
    portal = site.portal("ops", "admin")
    _service(portal)
    page = portal.get("/admin/services/mtnmomorwa", params={"edit": "f006"})
    assert 'value="Username"' in page.text and "Change field f006" in page.text
