"""The admin portal's client page: rotate with an optional overlap (none by default), and each secret
generation's state and last use."""

from __future__ import annotations

from tests.integration.portal_support import site  # noqa: F401  (fixture)
from tests.integration.test_portal_onboarding import _client, _creds, _token_status


def test_rotate_with_an_overlap_keeps_the_old_secret_and_the_page_shows_last_use(site):
    portal = site.portal("ops", "admin")
    creds = _creds(_client(portal))
    page = portal.get("/admin/clients/akaliza")
    assert 'name="overlap_s"' in page.text and "Secret last used</dt><dd>never" in page.text
    assert _token_status(site, "akaliza", creds["api-username"], creds["api-secret"]) == 200
    rolled = portal.post("/admin/clients/akaliza/rotate", {"overlap_s": "86400"})
    assert rolled.status_code == 200 and "keep working until" in rolled.text
    new = _creds(rolled)
    assert _token_status(site, "akaliza", creds["api-username"], creds["api-secret"]) == 200  # overlap
    assert _token_status(site, "akaliza", new["api-username"], new["api-secret"]) == 200
    page = portal.get("/admin/clients/akaliza").text
    assert "overlap</span>" in page and "current</span>" in page and "Secret last used</dt><dd>never" not in page
    assert new["api-secret"] not in page and creds["api-secret"] not in page
    # No overlap chosen: the operator's rotation as before, every older secret stops at once.
    again = portal.post("/admin/clients/akaliza/rotate")
    assert again.status_code == 200 and "no longer work" in again.text
    assert _token_status(site, "akaliza", creds["api-username"], creds["api-secret"]) == 401
    assert _token_status(site, "akaliza", new["api-username"], new["api-secret"]) == 401


def test_a_hostile_overlap_is_a_422_page_and_nothing_rolls(site):
    portal = site.portal("ops", "admin")
    creds = _creds(_client(portal))
    for bad in ("-1", "604801", "1e3", "²", "x" * 5000):
        resp = portal.post("/admin/clients/akaliza/rotate", {"overlap_s": bad})
        assert resp.status_code == 422 and "text/html" in resp.headers["content-type"], bad
    assert _token_status(site, "akaliza", creds["api-username"], creds["api-secret"]) == 200
    assert site.db.run("SELECT credential_version FROM clients WHERE app_id = 'akaliza'")[0]["credential_version"] == 1
