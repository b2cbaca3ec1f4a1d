"""The portal's batch pages: the list, a batch's page with its progress partial (HTMX) and a plain page
without JavaScript, the upload report, downloads, the decisions (the uploader cannot approve) and the
operators' settings, with CSRF and roles."""

from __future__ import annotations

import base64

import pytest

from mospay import accounts, catalogue
from tests.integration.batch_support import rows, to_csv
from tests.integration.portal_support import site  # noqa: F401  (fixture)


class _Payer:
    service = "mtnmomorwa"


@pytest.fixture
def shop(site):
    catalogue.create_service(site.db, {"name": "mtnmomorwa", "service_url": "http://127.0.0.1:9"})
    created = accounts.create_client(site.db, site.config.secret_key, {"app_id": "shopone", "company_name": "Shop"})
    catalogue.assign_service(site.db, "shopone", {"service": "mtnmomorwa", "routes": ["collection"]})
    raw = base64.b64encode(f"{created['api_username']}:{created['api_secret']}".encode()).decode()
    site.basic = {"Authorization": f"Basic {raw}", "App-ID": "shopone"}
    return site


def _upload(site, body: bytes) -> dict:
    from falcon import testing
    result = testing.TestClient(site.app).simulate_post("/api/v1/batches", body=body,
                                                        headers={**site.basic, "Content-Type": "text/csv"})
    assert result.status_code == 201, result.text
    return result.json


def test_list_page_and_progress_and_approval(shop):
    good = _upload(shop, to_csv(rows(_Payer, 3)))
    bad_rows = rows(_Payer, 2)
    bad_rows[1]["f004"] = "-5"
    bad = _upload(shop, to_csv(bad_rows))
    viewer = shop.portal("watcher", "viewer")
    listing = viewer.get("/admin/batches")
    assert listing.status_code == 200 and good["batch_id"] in listing.text and bad["batch_id"] in listing.text
    assert 'id="auto-approve"' not in listing.text  # a viewer sees no settings form
    page = viewer.get(f"/admin/batches/{good['batch_id']}")
    assert page.status_code == 200 and '<progress id="batch-bar" max="3" value="0">' in page.text
    assert 'id="approve"' not in page.text  # a viewer cannot decide
    assert viewer.post(f"/admin/batches/{good['batch_id']}/approve").status_code == 403

    ops = shop.portal("ops1", "admin")
    partial = ops.get(f"/admin/batches/{good['batch_id']}", headers={"HX-Request": "true"})
    assert partial.text.lstrip().startswith('<div id="batch-progress"') and "<html" not in partial.text
    assert "HX-Request" in partial.headers.get("vary", "")
    boosted = ops.get(f"/admin/batches/{bad['batch_id']}", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "must be a positive decimal" in boosted.text  # a boosted navigation is the whole page, report included
    report = ops.get(f"/admin/batches/{bad['batch_id']}")
    assert "must be a positive decimal" in report.text and "<td class=\"num\">3</td>" in report.text
    refused = ops.post(f"/admin/batches/{bad['batch_id']}/approve")
    assert refused.status_code == 409 and "cannot be approved" in refused.text
    no_csrf = ops.post(f"/admin/batches/{good['batch_id']}/approve", csrf=False)
    assert no_csrf.status_code == 403
    done = ops.post(f"/admin/batches/{good['batch_id']}/approve")
    assert done.status_code == 303 and done.headers["location"] == f"/admin/batches/{good['batch_id']}"
    page = ops.get(f"/admin/batches/{good['batch_id']}")
    assert "approved by admin:ops1" in page.text and 'hx-trigger="every 2s"' in page.text
    paused = ops.post(f"/admin/batches/{good['batch_id']}/pause")
    assert paused.status_code == 303
    assert ops.post(f"/admin/batches/{good['batch_id']}/resume").status_code == 303
    assert ops.post(f"/admin/batches/{good['batch_id']}/cancel").status_code == 303
    audit = shop.db.run("SELECT action, username FROM audit_log WHERE target_id = :b ORDER BY id", b=good["batch_id"])
    assert [a["action"] for a in audit] == ["batch.upload", "batch.approve", "batch.pause", "batch.resume",
                                            "batch.cancel"]
    assert {a["username"] for a in audit[1:]} == {"ops1"}


def test_the_uploader_cannot_approve_from_the_portal(shop):
    batch = _upload(shop, to_csv(rows(_Payer, 1)))["batch_id"]
    shop.db.run("UPDATE batches SET uploaded_by = 'admin:ops2' WHERE public_id = :b", b=batch)
    ops = shop.portal("ops2", "admin")
    page = ops.get(f"/admin/batches/{batch}")
    assert "another person must approve it" in page.text
    same = ops.post(f"/admin/batches/{batch}/approve")
    assert same.status_code == 403 and "different person" in same.text
    other = shop.portal("ops3", "admin")
    assert other.post(f"/admin/batches/{batch}/approve").status_code == 303


def test_downloads_and_settings(shop):
    items = rows(_Payer, 2)
    items[1]["f006"] = "=cmd|' /C calc'!A0"  # a valid username that a spreadsheet would run as a formula
    items[1]["f004"] = "abc"
    batch = _upload(shop, to_csv(items))["batch_id"]
    ops = shop.portal("ops4", "admin")
    results = ops.get(f"/admin/batches/{batch}/results.csv")
    assert results.status_code == 200 and results.text.splitlines()[0] == "line,f010,status,transaction_id,message"
    errors_csv = ops.get(f"/admin/batches/{batch}/errors.csv")
    assert errors_csv.text.splitlines()[1].startswith("3,f004,")
    assert ops.get("/admin/batches/bat_nope/results.csv").status_code == 404
    saved = ops.post("/admin/batches", {"kind": "client", "app_id": "shopone", "auto_approve_max": "250.00"})
    assert saved.status_code == 303
    assert shop.db.run("SELECT batch_auto_approve_max AS m FROM clients WHERE app_id = 'shopone'")[0]["m"] == 250
    bad = ops.post("/admin/batches", {"kind": "client", "app_id": "shopone", "auto_approve_max": "-1"})
    assert bad.status_code == 422
    limits = ops.post("/admin/batches", {"kind": "service", "service": "mtnmomorwa", "max_in_flight": "4",
                                         "max_per_second": "20"})
    assert limits.status_code == 303
    row = shop.db.run("SELECT max_in_flight, max_per_second FROM services WHERE name = 'mtnmomorwa'")[0]
    assert (row["max_in_flight"], row["max_per_second"]) == (4, 20)
    assert ops.post("/admin/batches", {"kind": "service", "service": "mtnmomorwa", "max_in_flight": "0"}).status_code == 422
