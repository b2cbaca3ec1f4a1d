"""A merchant's own transactions and API calls (mospay.merchant_records): the admin portal's filters, pages
and CSV export, scoped to the client in SQL; the totals equal the CSV's rows."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from mospay import accounts, catalogue, errors, merchant_records as mr, reports

KEY = "k" * 40


@pytest.fixture
def shops(db):
    catalogue.create_service(db, {"name": "momo", "service_url": "http://127.0.0.1:9", "timeout_s": 2})
    service_id = db.run("SELECT id FROM services")[0]["id"]
    found = {}
    for app_id, first, last in (("shopa", 1, 120), ("shopb", 1000, 1060)):
        accounts.create_client(db, KEY, {"company_name": app_id, "app_id": app_id})
        client_id = db.run("SELECT id FROM clients WHERE app_id = :a", a=app_id)[0]["id"]
        db.query("seed_transactions", first=first, last=last, client_id=client_id, service_id=service_id)
        db.run("INSERT INTO api_logs (client_id, app_id, endpoint, method, status_code) "
               "VALUES (:c, :a, '/api/v1/auth/token', 'POST', 200)", c=client_id, a=app_id)
        found[app_id] = client_id
    # A stranger's failed call claiming shopa's App-ID: not one of shopa's own calls.
    db.run("INSERT INTO api_logs (client_id, app_id, endpoint, method, status_code) "
           "VALUES (NULL, 'shopa', '/api/v1/auth/token', 'POST', 401)")
    return found


def _csv(db, filters):
    rows = list(csv.DictReader(io.StringIO(b"".join(mr.transactions_csv(db, filters)).decode())))
    return rows


def test_pages_totals_and_csv_are_the_clients_own_and_agree(db, shops):
    a, b = shops["shopa"], shops["shopb"]
    filters = mr.transaction_filters({"client": "shopb"}, a)  # a client filter is not the merchant's to set
    seen, after = [], None
    while True:
        rows, after = mr.transactions_page(db, {**filters, **dict(zip(("after_at", "after_id"),
                                                                     _cursor(after)))}, 50)
        seen += rows
        if after is None:
            break
    assert len(seen) == 120 and {r["app_id"] for r in seen} == {"shopa"}
    totals = mr.transaction_totals(db, filters)
    exported = _csv(db, filters)
    assert totals[0]["n"] == len(exported) == 120
    assert totals[0]["amount"] == sum(Decimal(r["amount"]) for r in exported)
    assert totals[0]["successful"] == sum(Decimal(r["amount"]) for r in exported if r["status"] == "SUCCESSFUL")
    failed = mr.transaction_filters({"status": "FAILED"}, b)
    assert mr.transaction_totals(db, failed)[0]["n"] == len(_csv(db, failed)) == 6
    assert {r["app_id"] for r in _csv(db, failed)} == {"shopb"}
    # The admin's own view is unchanged: every client.
    assert reports.transaction_totals(db, reports.transaction_filters({}))[0]["n"] == 181


def _cursor(after):
    from mospay import validators
    return validators.cursor(after)


def test_another_clients_transaction_and_log_are_not_found(db, shops):
    a, b = shops["shopa"], shops["shopb"]
    theirs = db.run("SELECT public_id FROM transactions WHERE client_id = :b LIMIT 1", b=b)[0]["public_id"]
    mine = db.run("SELECT public_id FROM transactions WHERE client_id = :a LIMIT 1", a=a)[0]["public_id"]
    detail = mr.transaction(db, a, mine)
    assert detail["public_id"] == mine and detail["webhook_events"] == [] and "provider_response" not in detail
    assert all("actor" not in e and "note" not in e for e in detail["events"])
    with pytest.raises(errors.NotFound):
        mr.transaction(db, a, theirs)
    log_b = db.run("SELECT id FROM api_logs WHERE client_id = :b", b=b)[0]["id"]
    with pytest.raises(errors.NotFound):
        mr.api_log(db, a, str(log_b))
    assert mr.api_log(db, b, str(log_b))["client_id"] == b
    logs, _ = mr.api_logs_page(db, mr.api_log_filters({}, a))
    assert [(r["app_id"], r["status_code"]) for r in logs] == [("shopa", 200)]  # not the stranger's 401
    with pytest.raises(TypeError):
        mr.transaction_filters({}, None)
    with pytest.raises(TypeError):
        mr.transactions_page(db, reports.transaction_filters({}))  # an unscoped filter never reaches SQL


def test_a_bad_filter_is_a_field_error(db, shops):
    for params in ({"status": "DONE"}, {"from": "2026-13-01"}, {"q": "x" * 65}, {"after": "nope"}):
        with pytest.raises(errors.InvalidField):
            mr.transaction_filters(params, shops["shopa"])
    assert mr.transaction_filters({"status": "FAILED"}, shops["shopa"])["status"] == "FAILED"
