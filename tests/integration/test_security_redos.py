"""A field pattern saved through the portal cannot stall the payment path, nor can one saved before
the rule existed (an upgraded database): both are refused without running the match."""

from __future__ import annotations

import base64
import re
import time

import pytest
from falcon import testing

from tests.integration.portal_support import Site
from tests.unit.test_field_patterns import CATASTROPHIC, HOSTILE


@pytest.fixture
def site(postgres, portal_template):
    name = postgres.create_database(template=portal_template)
    s = Site(postgres.url_for(name))
    yield s
    s.db.close()
    postgres.drop_database(name)


def _service(portal):
    result = portal.post("/admin/services", {"name": "mtnmomorwa", "service_url": "http://127.0.0.1:9/x"})
    assert result.status_code == 303, result.text


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_the_portal_refuses_a_catastrophic_field_pattern(site, pattern):
    portal = site.portal("ops", "admin")
    _service(portal)
    ok = portal.post("/admin/services/mtnmomorwa/fields", {"code": "f011", "label": "Ref", "pattern": "[a-z]+"},
                     headers={"HX-Request": "true"})
    assert ok.status_code == 303  # the control: a plain pattern saves
    bad = portal.post("/admin/services/mtnmomorwa/fields", {"code": "f012", "label": "Bad", "pattern": pattern},
                      headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "not allowed" in bad.text
    assert not site.db.run("SELECT 1 FROM service_fields WHERE code = 'f012'")


def test_a_catastrophic_pattern_saved_before_the_rule_answers_a_payment_at_once(site):
    portal = site.portal("ops", "admin")
    _service(portal)
    created = portal.post("/admin/clients", {"app_id": "redos1", "company_name": "Shop"})
    creds = {k: re.search(rf'id="{k}"[^>]*>([^<]+)<', created.text).group(1) for k in ("api-username", "api-secret")}
    assert portal.post("/admin/clients/redos1/services", {"service": "mtnmomorwa", "routes": "collection"}
                       ).status_code == 303
    # What an upgraded database may hold: the pattern written before it was checked.
    site.db.run("UPDATE service_fields SET pattern = '(a+)+' WHERE code = 'f006'")
    raw = base64.b64encode(f"{creds['api-username']}:{creds['api-secret']}".encode()).decode()
    body = {"f000": "mtnmomorwa", "f001": "Collection", "f002": "collection", "f003": "redos1", "f004": "100.00",
            "f005": "+250788123456", "f006": HOSTILE, "f007": "x", "f008": "y", "f009": "d", "f010": "redos-1"}
    started = time.perf_counter()
    resp = testing.TestClient(site.app).simulate_post("/api/v1/payment/process", json=body, headers={
        "Authorization": f"Basic {raw}", "App-ID": "redos1"})
    assert time.perf_counter() - started < 2
    assert resp.status_code == 422 and resp.json["error"]["code"] == "unsafe_pattern", resp.text
