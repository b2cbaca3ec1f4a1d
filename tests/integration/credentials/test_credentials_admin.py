"""Managing provider credentials (portal and admin API: roles, CSRF, audit, never the value), and the
admin API's other changes written to the same audit trail as the portal's."""

from __future__ import annotations

import secrets

from tests.integration.credentials.support import HEADER, SERVICE

PATH = f"/api/v1/admin/services/{SERVICE}/credentials/api_key"
REFERENCE = "'{{credential:subscription_key}}'"


def value() -> str:
    return "val-" + secrets.token_hex(12)


def test_the_portal_page_shows_name_last4_and_date_never_the_value(stack):
    stack.onboard()
    portal = stack.portal()
    secret = value()
    saved = portal.post("/admin/credentials", {"service": SERVICE, "name": "api_key", "value": secret})
    assert saved.status_code == 303, saved.text
    page = portal.get("/admin/credentials")
    assert page.status_code == 200
    assert "api_key" in page.text and "…" + secret[-4:] in page.text and secret not in page.text
    row = stack.db.run("SELECT updated_at FROM provider_credentials")[0]
    assert row["updated_at"].strftime("%Y-%m-%d %H:%M") in page.text
    # A viewer sees the list, but not the form, and cannot change anything.
    viewer = stack.portal("watcher", role="viewer")
    seen = viewer.get("/admin/credentials")
    assert seen.status_code == 200 and "api_key" in seen.text and 'name="value"' not in seen.text
    refused = viewer.post("/admin/credentials", {"service": SERVICE, "name": "api_key", "value": value()})
    assert refused.status_code == 403
    assert viewer.post("/admin/credentials/delete", {"service": SERVICE, "name": "api_key"}).status_code == 403
    assert stack.db.run("SELECT last4 FROM provider_credentials")[0]["last4"] == secret[-4:]


def test_portal_changes_need_the_csrf_token_and_are_audited(stack):
    stack.onboard()
    portal = stack.portal("boss", role="admin")
    first, second = value(), value()
    forged = portal.post("/admin/credentials", {"service": SERVICE, "name": "api_key", "value": first,
                                                "csrf_token": "forged"})
    assert forged.status_code == 403
    cross_site = portal.post("/admin/credentials", {"service": SERVICE, "name": "api_key", "value": first},
                             headers={"Sec-Fetch-Site": "cross-site"})
    assert cross_site.status_code == 403
    assert stack.db.run("SELECT count(*) AS n FROM provider_credentials")[0]["n"] == 0
    for secret in (first, second):
        assert portal.post("/admin/credentials", {"service": SERVICE, "name": "api_key",
                                                  "value": secret}).status_code == 303
    assert portal.post("/admin/credentials/delete", {"service": SERVICE, "name": "api_key"}).status_code == 303
    rows = [(r["action"], r["username"], r["target_id"], r["before"], r["after"]) for r in stack.db.run(
        "SELECT * FROM audit_log WHERE action LIKE 'credential.%' ORDER BY id")]
    assert rows == [
        ("credential.set", "boss", SERVICE, None, {"app_id": None, "name": "api_key", "last4": first[-4:]}),
        ("credential.rotate", "boss", SERVICE, {"app_id": None, "name": "api_key", "last4": first[-4:]},
         {"app_id": None, "name": "api_key", "last4": second[-4:]}),
        ("credential.delete", "boss", SERVICE, {"app_id": None, "name": "api_key", "last4": second[-4:]}, None)]


def test_a_refused_portal_form_never_echoes_the_value(stack):
    stack.onboard()
    portal = stack.portal()
    secret = value()
    for bad in ({"service": SERVICE, "name": "Bad Name!", "value": secret},
                {"service": "nosuch", "name": "api_key", "value": secret},
                {"service": SERVICE, "name": "api_key", "value": secret, "app_id": "NoSuchApp"}):
        answer = portal.post("/admin/credentials", bad)
        assert answer.status_code in (404, 422) and secret not in answer.text
    short = portal.post("/admin/credentials", {"service": SERVICE, "name": "api_key", "value": "short"})
    assert short.status_code == 422 and "8-4096" in short.text
    assert stack.db.run("SELECT count(*) AS n FROM provider_credentials")[0]["n"] == 0


def test_admin_api_sets_rotates_lists_and_deletes_with_an_audit_row_each(stack):
    stack.onboard()
    first, second = value(), value()
    created = stack.api("PUT", PATH, json={"value": first})
    assert created.status_code == 201 and created.json["last4"] == first[-4:] and first not in created.text
    rotated = stack.api("PUT", PATH, json={"value": second})
    assert rotated.status_code == 200 and second not in rotated.text
    listed = stack.api("GET", f"/api/v1/admin/services/{SERVICE}/credentials", role="viewer",
                              username="viewer1")
    assert listed.status_code == 200
    assert [(c["name"], c["last4"], c["app_id"]) for c in listed.json["credentials"]] == [("api_key", second[-4:], None)]
    assert second not in listed.text
    assert stack.api("DELETE", PATH).status_code == 204
    assert stack.api("DELETE", PATH).status_code == 404
    actions = [(r["action"], r["username"]) for r in stack.db.run(
        "SELECT action, username FROM audit_log WHERE action LIKE 'credential.%' ORDER BY id")]
    assert actions == [("credential.set", "ops"), ("credential.rotate", "ops"), ("credential.delete", "ops")]


def test_admin_api_credential_changes_need_an_admin_and_valid_input(stack):
    stack.onboard()
    assert stack.api("PUT", PATH, json={"value": value()}, username="v2", role="viewer").status_code == 403
    assert stack.api("DELETE", PATH, username="v2", role="viewer").status_code == 403
    assert stack.client.simulate_put(PATH, json={"value": value()}).status_code == 401
    for body, status in (({"value": "short"}, 422), ({"value": 12345678}, 422), ({"value": "a\r\nInjected: 1x"}, 422),
                         ({"value": value(), "extra": 1}, 422), ({"value": value(), "app_id": "NoSuchApp"}, 404),
                         ({}, 422)):
        assert stack.api("PUT", PATH, json=body).status_code == status, body
    assert stack.api("PUT", "/api/v1/admin/services/nosuch/credentials/api_key",
                            json={"value": value()}).status_code == 404
    assert stack.api("PUT", f"/api/v1/admin/services/{SERVICE}/credentials/Bad-Name",
                            json={"value": value()}).status_code == 422
    assert stack.db.run("SELECT count(*) AS n FROM provider_credentials")[0]["n"] == 0
    assert stack.db.run("SELECT count(*) AS n FROM audit_log")[0]["n"] == 0


def test_without_pgcrypto_values_are_stored_sealed_and_used(stack, provider_sim):
    """MosPay seals values itself, so a database without pgcrypto (the embedded one) stores them too."""
    stack.db.run("DROP EXTENSION IF EXISTS pgcrypto")  # this test's own database: as the embedded build
    stack.onboard()
    stack.plan_header(REFERENCE)
    secret = value()
    page = stack.portal().post("/admin/credentials", {"service": SERVICE, "name": "subscription_key", "value": secret})
    assert page.status_code == 303, page.text
    assert "pgcrypto" not in stack.portal().get("/admin/credentials").text
    row = stack.db.run("SELECT value_enc, value_sealed FROM provider_credentials")[0]
    assert row["value_enc"] is None and secret.encode() not in bytes(row["value_sealed"])
    reference, resp = stack.pay()
    assert resp.status_code == 200 and provider_sim.headers(reference)[HEADER] == secret


# The admin API's other changes: the same audit rows as the portal's.

def test_admin_api_service_creation_is_audited(stack):
    resp = stack.api("POST", "/api/v1/admin/services", json={"name": "auditsvc", "service_url": stack.sim_url})
    assert resp.status_code == 201, resp.text
    rows = stack.audit("service.create")
    assert [(r["username"], r["target_type"], r["target_id"]) for r in rows] == [("ops", "service", "auditsvc")]
    assert rows[0]["after"]["service_url"] == stack.sim_url


def test_admin_api_client_creation_is_audited_without_its_secrets(stack):
    resp = stack.api("POST", "/api/v1/admin/clients", json={"company_name": "Audited Co", "app_id": "Audited1"})
    assert resp.status_code == 201, resp.text
    rows = stack.audit("client.create")
    assert [(r["username"], r["target_type"], r["target_id"]) for r in rows] == [("ops", "client", "Audited1")]
    assert rows[0]["after"]["company_name"] == "Audited Co"
    assert resp.json["api_secret"] not in str(rows) and resp.json["webhook_secret"] not in str(rows)


def test_admin_api_assignment_is_audited(stack):
    stack.api("POST", "/api/v1/admin/services", json={"name": "auditsvc", "service_url": stack.sim_url})
    stack.api("POST", "/api/v1/admin/clients", json={"company_name": "Audited Co", "app_id": "Audited1"})
    resp = stack.api("POST", "/api/v1/admin/clients/Audited1/services", json={"service": "auditsvc",
                                                                             "routes": ["collection"]})
    assert resp.status_code == 201, resp.text
    rows = stack.audit("client.assign_service")
    assert [(r["username"], r["target_id"], r["after"]["routes"]) for r in rows] == [("ops", "Audited1", ["collection"])]


def test_admin_api_limits_are_audited_with_before_and_after(stack):
    stack.api("POST", "/api/v1/admin/clients", json={"company_name": "Audited Co", "app_id": "Audited1"})
    resp = stack.api("PUT", "/api/v1/admin/clients/Audited1/limits",
                     json={"rate_limit_per_minute": 60, "max_amount_per_day": "5000.00"})
    assert resp.status_code == 200, resp.text
    rows = stack.audit("client.set_limits")
    assert len(rows) == 1 and rows[0]["username"] == "ops" and rows[0]["target_id"] == "Audited1"
    assert rows[0]["before"] == {"rate_limit_per_minute": None, "max_amount_per_transaction": None,
                                 "max_amount_per_day": None}
    assert rows[0]["after"] == {"rate_limit_per_minute": 60, "max_amount_per_transaction": None,
                                "max_amount_per_day": "5000.00"}


def test_a_refused_admin_api_change_writes_no_audit_row(stack):
    assert stack.api("POST", "/api/v1/admin/services", json={"name": "BAD NAME", "service_url": stack.sim_url}
                     ).status_code == 422
    assert stack.api("PUT", "/api/v1/admin/clients/NoSuchApp/limits", json={}).status_code == 404
    assert stack.api("POST", "/api/v1/admin/clients", json={"company_name": "x"}, username="v3",
                     role="viewer").status_code == 403
    assert stack.db.run("SELECT count(*) AS n FROM audit_log")[0]["n"] == 0


LITERAL_VALUES = ("'; DROP TABLE provider_credentials; --", "../../etc/passwd")
HOSTILE = ["x" * 1_000_000, "a\x00b-nul-value", "'; DROP TABLE provider_credentials; --", "$$", "../../etc/passwd",
           "line\r\nbreak-value", "\ufffd" * 10, ""]


def test_hostile_values_in_every_field_of_the_credential_forms_change_nothing(stack):
    stack.onboard()
    portal = stack.portal()
    good = {"service": SERVICE, "name": "api_key", "value": value(), "app_id": ""}
    for field in ("service", "name", "value", "app_id"):
        for bad in HOSTILE:
            if (field == "app_id" and bad == "") or (field == "value" and bad in LITERAL_VALUES):
                continue  # "" means "every client"; printable text is a valid value (checked below)
            answer = portal.post("/admin/credentials", {**good, field: bad})
            assert 400 <= answer.status_code < 500, (field, bad[:20], answer.status_code)
            assert "Traceback" not in answer.text and "SELECT" not in answer.text
            deleted = portal.post("/admin/credentials/delete", {**good, field: bad})
            assert 400 <= deleted.status_code < 500, (field, bad[:20], deleted.status_code)
    assert stack.db.run("SELECT count(*) AS n FROM provider_credentials")[0]["n"] == 0
    assert stack.db.run("SELECT count(*) AS n FROM audit_log")[0]["n"] == 0
    assert portal.post("/admin/credentials", good).status_code == 303  # control: the same form, valid
    assert stack.db.run("SELECT count(*) AS n FROM provider_credentials")[0]["n"] == 1
    # SQL or a path as the value is only text: stored (encrypted) and given back exactly as typed.
    store = stack.parts.credentials()
    for literal in LITERAL_VALUES:
        assert portal.post("/admin/credentials", {**good, "value": literal}).status_code == 303
        assert store.resolve(SERVICE, None, {"api_key"}) == {"api_key": literal}
