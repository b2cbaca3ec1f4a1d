"""Batches over the client and admin APIs: upload, validation with the payment path's rules, maker-checker
in the database, approval, execution as ordinary payments, results; pause, resume and cancel."""

from __future__ import annotations

import time

import pytest

from mospay import errors, sealed
from mospay.credentials import store_key

from tests.integration.batch_support import (admin_get, admin_post, batch_payer, rows, to_csv, upload,
                                              wait_status)


@pytest.fixture(scope="module")
def payer(api):
    return batch_payer(api)


def test_upload_approve_and_pay_every_row_as_an_ordinary_payment(api, payer):
    items = rows(payer, 5)
    resp = upload(api, payer, to_csv(items), name="salaries")
    assert resp.status == 201, resp.data
    created = resp.json()
    assert created["status"] == "AWAITING_APPROVAL" and created["rows"] == 5 and created["valid_rows"] == 5
    assert created["invalid_rows"] == 0
    batch = created["batch_id"]
    # Nothing is paid before approval.
    time.sleep(1.2)
    doc = api.request("GET", f"/api/v1/batches/{batch}", headers=payer.basic).json()
    assert doc["counts"]["queued"] == 5 and doc["counts"]["SUCCESSFUL"] == 0

    approved = admin_post(api, f"/api/v1/admin/batches/{batch}/approve")
    assert approved.status == 200, approved.data
    assert approved.json()["approved_by"] == "admin:ops"
    doc = wait_status(api, payer, batch, "COMPLETED")
    assert doc["status"] == "COMPLETED", doc
    assert doc["counts"]["SUCCESSFUL"] == 5 and doc["amounts"]["SUCCESSFUL"] == "500.00"
    assert doc["started_at"] and doc["finished_at"]
    # Each row is the client's ordinary payment, found by its f010 on the payment API.
    status = api.request("GET", f"/api/v1/payment/{items[0]['f010']}", headers=payer.basic)
    assert status.status == 200 and status.json()["status"] == "SUCCESSFUL"
    results = api.request("GET", f"/api/v1/batches/{batch}/results", headers=payer.basic)
    assert results.status == 200 and results.headers["content-type"].startswith("text/csv")
    lines = results.data.decode().splitlines()
    assert lines[0] == "line,f010,status,transaction_id,message" and len(lines) == 6
    assert lines[1].startswith(f"2,{items[0]['f010']},SUCCESSFUL,txn_")
    # Secret fields are sealed until the row's payment exists (test_secret_fields_are_encrypted_then_erased).
    left = api.db.run("SELECT count(*) AS n FROM batch_rows r JOIN batches b ON b.id = r.batch_id "
                      "WHERE b.public_id = :b AND r.secrets IS NOT NULL", b=batch)[0]["n"]
    assert left == 0


def test_the_same_person_cannot_approve_in_the_database(api, payer):
    batch = upload(api, payer, to_csv(rows(payer, 1))).json()["batch_id"]
    uploader = api.db.run("SELECT uploaded_by FROM batches WHERE public_id = :b", b=batch)[0]["uploaded_by"]
    assert uploader == f"client:{payer.app_id}"
    # The client cannot approve its own batch over the API.
    resp = api.request("POST", f"/api/v1/batches/{batch}/approve", headers=payer.basic)
    assert resp.status in (404, 405)
    # A batch uploaded by admin:ops (as a merchant user's would be by merchant:<id>) cannot be approved by ops:
    # the database's CHECK refuses it, whatever path asks.
    api.db.run("UPDATE batches SET uploaded_by = 'admin:ops' WHERE public_id = :b", b=batch)
    same = admin_post(api, f"/api/v1/admin/batches/{batch}/approve")
    assert same.status == 403 and same.json()["error"]["code"] == "same_person", same.data
    with pytest.raises(errors.Forbidden, match="different person"):
        api.db.run("UPDATE batches SET status = 'APPROVED', approved_by = 'admin:ops', approved_at = now() "
                   "WHERE public_id = :b", b=batch)
    assert api.db.run("SELECT status FROM batches WHERE public_id = :b", b=batch)[0]["status"] == "AWAITING_APPROVAL"
    admin_post(api, f"/api/v1/admin/batches/{batch}/cancel")


def test_invalid_rows_are_reported_with_line_and_field_and_cannot_be_approved(api, payer):
    good = rows(payer, 3)
    bad_amount = dict(good[1], f004="12.345")
    dup = dict(good[2], f010=good[0]["f010"])
    resp = upload(api, payer, to_csv([good[0], bad_amount, dup]))
    assert resp.status == 201, resp.data
    created = resp.json()
    assert created["status"] == "VALIDATED" and created["valid_rows"] == 1 and created["invalid_rows"] == 2
    errs = api.request("GET", f"/api/v1/batches/{created['batch_id']}/errors", headers=payer.basic).json()["errors"]
    assert [(e["line"], e["field"]) for e in errs] == [(3, "f004"), (4, "f010")]
    assert "repeats line 2" in errs[1]["message"]
    as_csv = api.request("GET", f"/api/v1/batches/{created['batch_id']}/errors",
                         headers={**payer.basic, "Accept": "text/csv"})
    assert as_csv.data.decode().splitlines()[0] == "line,field,message,code"
    refused = admin_post(api, f"/api/v1/admin/batches/{created['batch_id']}/approve")
    assert refused.status == 409 and refused.json()["error"]["code"] == "batch_state"


def test_f010_already_used_by_the_client_is_a_row_error(api, payer):
    paid = payer.pay()
    assert paid.status == 200
    item = rows(payer, 1)[0]
    item["f010"] = paid.json()["f010"]
    created = upload(api, payer, to_csv([item])).json()
    assert created["invalid_rows"] == 1
    errs = api.request("GET", f"/api/v1/batches/{created['batch_id']}/errors", headers=payer.basic).json()["errors"]
    assert errs[0]["code"] == "duplicate_f010"


def test_idempotent_upload(api, payer):
    body = to_csv(rows(payer, 2))
    first = upload(api, payer, body, headers={"Idempotency-Key": "upload-1"})
    again = upload(api, payer, body, headers={"Idempotency-Key": "upload-1"})
    assert first.status == 201 and again.status == 200
    assert first.json()["batch_id"] == again.json()["batch_id"]
    other = upload(api, payer, to_csv(rows(payer, 2)), headers={"Idempotency-Key": "upload-1"})
    assert other.status == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    admin_post(api, f"/api/v1/admin/batches/{first.json()['batch_id']}/cancel")


def test_pause_resume_and_cancel_from_the_client_api(api, payer):
    batch = upload(api, payer, to_csv(rows(payer, 2))).json()["batch_id"]
    paused_early = api.request("POST", f"/api/v1/batches/{batch}/pause", headers=payer.basic)
    assert paused_early.status == 409  # not approved yet: nothing to pause
    # A paused batch is not paid.
    with api.db.transaction() as tx:  # approved and paused before any runner can see it approved
        tx.run("UPDATE batches SET status = 'APPROVED', approved_by = 'admin:x', approved_at = now() "
               "WHERE public_id = :b", b=batch)
        tx.run("UPDATE batches SET status = 'PAUSED' WHERE public_id = :b", b=batch)
    time.sleep(1.5)
    doc = api.request("GET", f"/api/v1/batches/{batch}", headers=payer.basic).json()
    assert doc["status"] == "PAUSED" and doc["counts"]["queued"] == 2
    cancelled = api.request("POST", f"/api/v1/batches/{batch}/cancel", headers=payer.basic)
    assert cancelled.status == 200 and cancelled.json()["status"] == "CANCELLED"
    assert cancelled.json()["counts"]["cancelled"] == 2
    again = api.request("POST", f"/api/v1/batches/{batch}/resume", headers=payer.basic)
    assert again.status == 409


def test_reject_with_reason_is_audited(api, payer):
    batch = upload(api, payer, to_csv(rows(payer, 1))).json()["batch_id"]
    no_reason = admin_post(api, f"/api/v1/admin/batches/{batch}/reject", {})
    assert no_reason.status == 422
    resp = admin_post(api, f"/api/v1/admin/batches/{batch}/reject", {"reason": "wrong month"})
    assert resp.status == 200 and resp.json()["status"] == "REJECTED"
    assert resp.json()["reject_reason"] == "wrong month"
    audit = api.db.run("SELECT action, username FROM audit_log WHERE target_id = :b ORDER BY id", b=batch)
    assert [a["action"] for a in audit] == ["batch.upload", "batch.reject"]


def test_secret_fields_are_encrypted_then_erased(api):
    payer = api.onboard()  # the standard service: f007 and f008 are secret
    items = rows(payer, 2)
    batch = upload(api, payer, to_csv(items)).json()["batch_id"]  # on every PostgreSQL: sealed in Python
    stored = api.db.run("SELECT r.batch_id, r.line_no, r.fields, r.secrets FROM batch_rows r "
                        "JOIN batches b ON b.id = r.batch_id WHERE b.public_id = :b ORDER BY r.line_no", b=batch)
    assert stored[0]["fields"]["f008"] == "***" and b"pwd-x" not in bytes(stored[0]["secrets"])
    # Bound to its row: the first row's sealed value does not open as the second's.
    first, second = stored
    key = store_key(api.config.credentials_key, api.config.secret_key)
    assert sealed.unseal(key, first["secrets"], sealed.batch_row_context(first["batch_id"], first["line_no"]))
    with pytest.raises(sealed.Unsealable):
        sealed.unseal(key, first["secrets"], sealed.batch_row_context(second["batch_id"], second["line_no"]))
    admin_post(api, f"/api/v1/admin/batches/{batch}/approve")
    assert wait_status(api, payer, batch, "COMPLETED")["counts"]["SUCCESSFUL"] == 2
    left = api.db.run("SELECT count(*) AS n FROM batch_rows r JOIN batches b ON b.id = r.batch_id "
                      "WHERE b.public_id = :b AND r.secrets IS NOT NULL", b=batch)[0]["n"]
    assert left == 0
    # The provider got the real secret (the simulator keeps the last request's headers only, so the
    # transaction's own masked request is the check that nothing in clear was stored).
    request = api.db.run("SELECT request FROM transactions t JOIN clients c ON c.id = t.client_id "
                         "WHERE c.app_id = :a LIMIT 1", a=payer.app_id)[0]["request"]
    assert request["f008"] == "***"


def test_auto_approval_threshold(api):
    payer = batch_payer(api)
    resp = api.request("PUT", f"/api/v1/admin/clients/{payer.app_id}/batch-settings",
                       json={"auto_approve_max": "1000.00"}, headers={"Authorization": f"Bearer {api.admin_token}"})
    assert resp.status == 200 and resp.json()["auto_approve_max"] == "1000.00"
    small = upload(api, payer, to_csv(rows(payer, 2, amount="10.00"))).json()
    assert small["status"] in ("APPROVED", "RUNNING", "COMPLETED")
    assert wait_status(api, payer, small["batch_id"], "COMPLETED")["approved_by"] == "system:auto-approval"
    big = upload(api, payer, to_csv(rows(payer, 2, amount="600.00"))).json()
    assert big["status"] == "AWAITING_APPROVAL"
    admin_post(api, f"/api/v1/admin/batches/{big['batch_id']}/cancel")


def test_another_client_sees_nothing(api, payer):
    batch = upload(api, payer, to_csv(rows(payer, 1))).json()["batch_id"]
    other = batch_payer(api)
    for suffix in ("", "/errors", "/results"):
        resp = api.request("GET", f"/api/v1/batches/{batch}{suffix}", headers=other.basic)
        assert resp.status == 404, suffix
    resp = api.request("POST", f"/api/v1/batches/{batch}/cancel", headers=other.basic)
    assert resp.status == 404
    listed = api.request("GET", "/api/v1/batches", headers=other.basic).json()
    assert listed["items"] == []
    mine = api.request("GET", "/api/v1/batches", headers=payer.basic).json()
    assert batch in [b["batch_id"] for b in mine["items"]]
    assert admin_get(api, f"/api/v1/admin/batches/{batch}").status == 200
    admin_post(api, f"/api/v1/admin/batches/{batch}/cancel")
