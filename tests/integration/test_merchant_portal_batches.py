"""The merchant portal's batches: a CSV upload shows its validation report before approval; the uploader cannot
approve their own batch (the database's four-eyes CHECK, shown as a 403 page) and a finance user can; pause,
resume, cancel; roles, CSRF, hostile forms, and another client's batch id (404, nothing changes)."""

from __future__ import annotations

import pytest

from mospay import catalogue
from tests.integration.batch_support import rows, to_csv
from tests.integration.merchant_support import merchant_client, merchant_portal
from tests.integration.portal_support import site  # noqa: F401  (fixture)

BOUNDARY = "batchb0undary"


class _Payer:
    service = "mtnmomorwa"


def multipart(csv: bytes, name: str = "", filename: str = "pay.csv") -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n{name}\r\n" \
           f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n" \
           f"Content-Type: text/csv\r\n\r\n"
    return head.encode() + csv + f"\r\n--{BOUNDARY}--\r\n".encode()


def upload(portal, body: bytes, csrf: str | None = "from-portal"):
    token = portal.csrf if csrf == "from-portal" else csrf
    query = f"?csrf_token={token}" if token else ""
    return portal.client.simulate_post(f"/portal/batches{query}", body=body,
                                       headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                                       cookies={portal.COOKIE: portal.cookie})


def batch_row(shop, batch_id: str) -> dict:
    return shop.db.run("SELECT status, uploaded_by, approved_by, rejected_by, cancelled_by FROM batches "
                       "WHERE public_id = :b", b=batch_id)[0]


@pytest.fixture
def shop(site):  # noqa: F811 (the fixture)
    catalogue.create_service(site.db, {"name": "mtnmomorwa", "service_url": "http://127.0.0.1:9"})
    for app_id in ("shopone", "shoptwo"):
        merchant_client(site, app_id)
        catalogue.assign_service(site.db, app_id, {"service": "mtnmomorwa", "routes": ["collection"]})
    return site


def uploaded(portal, csv: bytes, name: str = "") -> str:
    result = upload(portal, multipart(csv, name))
    assert result.status_code == 303, result.text
    assert result.headers["location"].startswith("/portal/batches/bat_")
    return result.headers["location"].rsplit("/", 1)[1]


def test_upload_report_then_four_eyes_then_pause_resume_cancel(shop):
    owner = merchant_portal(shop, "shopone", "owner")
    page = owner.get("/portal/batches")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    assert 'href="/portal/batches"' in page.text  # the navigation link

    bad_rows = rows(_Payer, 3)
    bad_rows[1]["f004"] = "-5"
    bad = uploaded(owner, to_csv(bad_rows), "November payouts")
    report = owner.get(f"/portal/batches/{bad}")
    assert report.status_code == 200 and "November payouts" in report.text
    assert '<td class="num">3</td><td>f004</td><td>must be a positive decimal' in report.text  # line, field, message
    assert owner.post(f"/portal/batches/{bad}/approve").status_code == 409  # invalid rows: never approved

    good = uploaded(owner, to_csv(rows(_Payer, 2)))
    me = f"merchant:{owner.me['id']}"
    assert batch_row(shop, good) == {"status": "AWAITING_APPROVAL", "uploaded_by": me, "approved_by": None,
                                     "rejected_by": None, "cancelled_by": None}
    assert "another person must approve it" in owner.get(f"/portal/batches/{good}").text
    refused = owner.post(f"/portal/batches/{good}/approve")
    assert refused.status_code == 403 and "different person from the uploader" in refused.text
    assert "text/html" in refused.headers["content-type"] and batch_row(shop, good)["status"] == "AWAITING_APPROVAL"

    finance = merchant_portal(shop, "shopone", "finance")
    assert finance.post(f"/portal/batches/{good}/approve").headers["location"] == f"/portal/batches/{good}"
    assert batch_row(shop, good)["approved_by"] == f"merchant:{finance.me['id']}"
    live = finance.get(f"/portal/batches/{good}", headers={"HX-Request": "true"})  # the HTMX poll: partial only
    assert live.text.lstrip().startswith('<div id="batch-progress"') and "<html" not in live.text
    assert f'hx-get="/portal/batches/{good}"' in live.text and "HX-Request" in live.headers.get("vary", "")
    for decision, status in (("pause", "PAUSED"), ("resume", "APPROVED"), ("cancel", "CANCELLED")):
        assert finance.post(f"/portal/batches/{good}/{decision}").status_code == 303
        assert batch_row(shop, good)["status"] == status
    assert finance.post(f"/portal/batches/{good}/resume").status_code == 409  # a cancelled batch stays so
    assert batch_row(shop, bad)["status"] == "VALIDATED"  # invalid rows: never submitted for approval
    assert owner.post(f"/portal/batches/{bad}/cancel").status_code == 303
    third = uploaded(owner, to_csv(rows(_Payer, 1)))
    rejected = finance.post(f"/portal/batches/{third}/reject", {"reason": ""})
    assert rejected.status_code == 422 and batch_row(shop, third)["status"] == "AWAITING_APPROVAL"
    assert finance.post(f"/portal/batches/{third}/reject", {"reason": "wrong amounts"}).status_code == 303
    assert "wrong amounts" in owner.get(f"/portal/batches/{third}").text and \
        batch_row(shop, third)["rejected_by"] == f"merchant:{finance.me['id']}"

    audit = shop.db.run("SELECT action, username, client_app_id FROM audit_log WHERE target_id = :b ORDER BY id",
                        b=good)
    assert [a["action"] for a in audit] == ["batch.upload", "batch.approve", "batch.pause", "batch.resume",
                                            "batch.cancel"]
    assert audit[0]["username"] == f"merchant:{owner.me['email']}"
    assert {a["username"] for a in audit[1:]} == {f"merchant:{finance.me['email']}"}
    assert {a["client_app_id"] for a in audit} == {"shopone"}
    errors_csv = finance.get(f"/portal/batches/{bad}/errors.csv")
    assert errors_csv.status_code == 200 and errors_csv.text.startswith("line,field,message,code")
    results = finance.get(f"/portal/batches/{good}/results.csv")
    assert results.status_code == 200 and results.text.count("CANCELLED") == 2


def test_roles_csrf_and_hostile_forms(shop):
    developer = merchant_portal(shop, "shopone", "developer")
    batch = uploaded(developer, to_csv(rows(_Payer, 1)))  # a developer uploads ...
    page = developer.get(f"/portal/batches/{batch}")
    assert page.status_code == 200 and 'id="approve"' not in page.text and "results.csv" not in page.text
    assert developer.post(f"/portal/batches/{batch}/approve").status_code == 403  # ... but never decides
    assert developer.get(f"/portal/batches/{batch}/results.csv").status_code == 403  # results: export role

    viewer = merchant_portal(shop, "shopone", "viewer")
    listing = viewer.get("/portal/batches")
    assert listing.status_code == 200 and batch in listing.text and 'id="batch-upload"' not in listing.text
    assert upload(viewer, multipart(to_csv(rows(_Payer, 1)))).status_code == 403
    assert viewer.post(f"/portal/batches/{batch}/cancel").status_code == 403

    owner = merchant_portal(shop, "shopone", "owner")
    count = shop.db.run("SELECT count(*) AS n FROM batches")[0]["n"]
    assert upload(owner, multipart(to_csv(rows(_Payer, 1))), csrf=None).status_code == 403  # no token
    assert upload(owner, multipart(to_csv(rows(_Payer, 1))), csrf="forged").status_code == 403
    assert owner.post(f"/portal/batches/{batch}/cancel", csrf=False).status_code == 403
    assert batch_row(shop, batch)["status"] == "AWAITING_APPROVAL"
    for body, status in ((multipart(b"hello,world\r\n1,2\r\n"), 400),  # not a header of field codes
                         (multipart(b""), 400),  # empty file
                         (multipart(b"\xff\xfe\x00bad"), 400),  # not UTF-8
                         (multipart(to_csv(rows(_Payer, 1)))[:-30], 400),  # the form cut short
                         (multipart(to_csv(rows(_Payer, 1)), name="x" * 300), 422)):  # name too long
        answer = upload(owner, body)
        assert answer.status_code == status and "text/html" in answer.headers["content-type"], answer.text[:300]
    plain = owner.post("/portal/batches", {"name": "x"})
    assert plain.status_code == 415
    assert shop.db.run("SELECT count(*) AS n FROM batches")[0]["n"] == count  # nothing was kept
    assert owner.get("/portal/batches?status=NOPE").status_code == 422


def test_another_clients_batch_is_a_404_and_nothing_changes(shop):
    one = merchant_portal(shop, "shopone", "developer")
    batch = uploaded(one, to_csv(rows(_Payer, 1)), "shopone secret payroll")
    two = merchant_portal(shop, "shoptwo", "owner")
    before = batch_row(shop, batch)
    for path in ("", "/results.csv", "/errors.csv"):
        answer = two.get(f"/portal/batches/{batch}{path}")
        assert answer.status_code == 404 and "shopone secret payroll" not in answer.text
    for decision in ("approve", "reject", "pause", "resume", "cancel"):
        answer = two.post(f"/portal/batches/{batch}/{decision}", {"reason": "not mine"})
        assert answer.status_code == 404, (decision, answer.status_code)
    assert batch not in two.get("/portal/batches").text
    assert batch_row(shop, batch) == before
    # The control: the client's own owner does approve it.
    assert merchant_portal(shop, "shopone", "owner").post(f"/portal/batches/{batch}/approve").status_code == 303
