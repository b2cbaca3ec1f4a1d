"""The portal's statements page: a multipart upload (CSRF token in the form's action), the counts and the
queue with each discrepancy's reason, resolving and settling from the page, and the roles."""

from __future__ import annotations

import pytest

from tests.integration.portal_support import site  # noqa: F401  (fixture)
from tests.integration.test_admin_api_statements import EXPECTED, plant, planted

BOUNDARY = "formb0undary"


def multipart(service: str, text: str) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"service\"\r\n\r\n{service}\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"nov.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\n{text}\r\n--{BOUNDARY}--\r\n").encode()


@pytest.fixture
def held(site):
    site.ids = plant(site.db, site.config.secret_key)
    return site


def post_upload(portal, body: bytes, csrf: str | None):
    query = f"?csrf_token={csrf}" if csrf else ""
    return portal.client.simulate_post(f"/admin/statements{query}", body=body,
                                       headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                                       cookies={"mospay_session": portal.cookie})


def test_upload_from_the_portal_then_resolve_and_settle_from_the_queue(held):
    portal = held.portal("clerk", "admin")
    page = portal.get("/admin/statements")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    assert post_upload(portal, multipart("mtnmomorwa", planted(held)), None).status_code == 403  # no token
    done = post_upload(portal, multipart("mtnmomorwa", planted(held)), portal.csrf)
    assert done.status_code == 303, done.text
    shown = portal.get(done.headers["location"])
    assert "the provider&#39;s amount differs beyond the tolerance" in shown.text
    assert shown.text.count('<tr id="exception-') == sum(v for k, v in EXPECTED.items()
                                                         if k not in ("lines", "matched"))
    ids = {r["kind"]: r["id"] for r in held.db.run("SELECT id, kind FROM statement_exceptions")}
    assert f'/admin/statements/exceptions/{ids["status_mismatch"]}/settle' in shown.text
    assert f'/admin/statements/exceptions/{ids["amount_mismatch"]}/settle' not in shown.text
    short = portal.post(f"/admin/statements/exceptions/{ids['amount_mismatch']}/resolve", {"reason": "x"})
    assert short.status_code == 422
    ok = portal.post(f"/admin/statements/exceptions/{ids['amount_mismatch']}/resolve", {"reason": "provider fee"})
    assert ok.status_code == 303
    settled = portal.post(f"/admin/statements/exceptions/{ids['status_mismatch']}/settle", {"reason": "paid"})
    assert settled.status_code == 303
    assert held.db.run("SELECT status FROM transactions WHERE public_id = :p",
                        p=held.ids["status"])[0]["status"] == "SUCCESSFUL"
    after = portal.get("/admin/statements")
    assert f'id="exception-{ids["amount_mismatch"]}"' not in after.text
    audit = held.db.run("SELECT action FROM audit_log WHERE username = 'clerk' ORDER BY id")
    assert [a["action"] for a in audit] == ["statement.upload", "statement_exception.resolve",
                                            "transaction.resolve", "statement_exception.settle"]


def test_a_bad_file_re_renders_the_page_with_the_reason(held):
    portal = held.portal("clerk", "admin")
    portal.get("/admin/statements")
    bad = post_upload(portal, multipart("mtnmomorwa", "reference;amount\nx;1\n"), portal.csrf)
    assert bad.status_code == 400
    assert "the header must name the columns" in bad.text


def test_a_viewer_sees_the_queue_but_cannot_act(held):
    admin = held.portal("clerk", "admin")
    admin.get("/admin/statements")
    post_upload(admin, multipart("mtnmomorwa", planted(held)), admin.csrf)
    viewer = held.portal("watcher", "viewer")
    page = viewer.get("/admin/statements")
    assert page.status_code == 200 and '<tr id="exception-' in page.text
    assert "Resolve</button>" not in page.text and 'type="file"' not in page.text
    some = held.db.run("SELECT min(id) AS id FROM statement_exceptions")[0]["id"]
    assert viewer.post(f"/admin/statements/exceptions/{some}/resolve", {"reason": "mine"}).status_code == 403
    assert post_upload(viewer, multipart("mtnmomorwa", planted(held)), viewer.csrf).status_code == 403
