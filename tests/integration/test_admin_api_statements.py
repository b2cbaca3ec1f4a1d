"""Provider statements over the admin API: a statement with every kind of discrepancy planted gives the
exact counts and says why; the same file again is the same statement; bad files are clear 4xx with
nothing written; the exception queue resolves with a reason (audited) or settles an open transaction
from the statement through the operator's path."""

from __future__ import annotations

import uuid

import pytest

from mospay import accounts, catalogue
from tests.integration.portal_support import site  # noqa: F401  (fixture)
from tests.integration.test_admin_api_records import BASE, Api
from tests.support import provider_reference

DAY = "2026-11-30"


@pytest.fixture
def books(site):
    site.ids = plant(site.db, site.config.secret_key)
    return site


def plant(db, secret_key: str, service: str = "mtnmomorwa", other: str = "airtel", app_id: str = "akaliza") -> dict:
    """`service` (RWF) transactions on one day, each planted for one outcome: {role: transaction_id}."""
    catalogue.create_service(db, {"name": service, "service_url": "http://127.0.0.1:9"})
    catalogue.create_service(db, {"name": other, "service_url": "http://127.0.0.1:9"})
    accounts.create_client(db, secret_key, {"app_id": app_id, "company_name": "Akaliza"})
    names = {"mtnmomorwa": service, "airtel": other}
    plan = [  # role, service, amount, status, time, provider_response
        ("ok_ref", "mtnmomorwa", 100, "SUCCESSFUL", f"{DAY}T09:00:00Z", None),
        ("ok_fin", "mtnmomorwa", 100, "SUCCESSFUL", f"{DAY}T09:30:00Z", '{"financialTransactionId": "FIN-77"}'),
        ("ok_legacy", "mtnmomorwa", 100, "FAILED", f"{DAY}T10:00:00Z", None),
        ("amount", "mtnmomorwa", 200, "SUCCESSFUL", f"{DAY}T10:30:00Z", None),
        ("status", "mtnmomorwa", 150, "PENDING", f"{DAY}T11:00:00Z", None),
        ("currency", "mtnmomorwa", 120, "SUCCESSFUL", f"{DAY}T11:30:00Z", None),
        ("absent", "mtnmomorwa", 130, "SUCCESSFUL", f"{DAY}T12:00:00Z", None),
        ("no_ref", "mtnmomorwa", 300, "SUCCESSFUL", f"{DAY}T13:00:00Z", None),
        ("never_sent", "mtnmomorwa", 140, "FAILED", f"{DAY}T13:30:00Z", None),
        ("before", "mtnmomorwa", 160, "SUCCESSFUL", "2026-11-20T12:00:00Z", None),
        ("other_service", "airtel", 170, "SUCCESSFUL", f"{DAY}T14:00:00Z", None),
    ]
    ids = {}
    for role, service_of, amount, status, when, answer in plan:
        row = db.run("""
            INSERT INTO transactions (client_id, service_id, route, f010, amount, request, request_hash, status,
                                      created_at, provider_response, provider_http_status, provider_ref)
            SELECT c.id, s.id, 'collection', :f010, :amount, jsonb_build_object('f010', CAST(:f010 AS text)),
                   'h-' || :f010, 'RECEIVED', CAST(:when AS timestamptz), CAST(:answer AS jsonb),
                   CASE WHEN :sent THEN 200 END, CASE WHEN :legacy THEN CAST(:f010 AS text) END
              FROM clients c, services s WHERE c.app_id = :app_id AND s.name = :service
            RETURNING public_id""", f010=f"order-{role}", amount=amount, when=when, answer=answer,
            service=names[service_of], app_id=app_id,
            sent=role != "never_sent", legacy=role == "ok_legacy")[0]["public_id"]
        if status != "RECEIVED":
            db.run("UPDATE transactions SET status = :s WHERE public_id = :p", s=status, p=row)
        ids[role] = row
    return ids


def ref(held, role):
    return provider_reference(held.ids[role])


def planted(held) -> str:
    """The statement, every kind of discrepancy planted; `site`: anything with the planted ids as .ids."""
    stranger = str(uuid.UUID(int=7))
    lines = [
        f"{ref(held, 'ok_ref')},100.00,RWF,SUCCESSFUL,{DAY}T09:00:05Z",
        f"FIN-77,100,RWF,successful,{DAY}T09:30:05Z",          # the provider's own id
        f"order-ok_legacy,100,RWF,FAILED,{DAY}T10:00:05Z",      # sent its f010 before schema 4
        f"{ref(held, 'amount')},250.00,RWF,SUCCESSFUL,{DAY}T10:30:05Z",
        f"{ref(held, 'status')},150,RWF,SUCCESS,{DAY}T11:00:05Z",
        f"{ref(held, 'currency')},120,USD,SUCCESSFUL,{DAY}T11:30:05Z",
        f"{stranger},55,RWF,SUCCESSFUL,{DAY}T12:30:00Z",        # a payment MosPay never saw
        f"{ref(held, 'ok_ref')},100.00,RWF,SUCCESSFUL,{DAY}T09:00:05Z",  # listed twice
        f",300.00,RWF,SUCCESSFUL,{DAY}T13:02:00",               # no reference: amount and time
        f",999.00,RWF,SUCCESSFUL,{DAY}T13:05:00Z",              # no reference, nothing like it
        f"{ref(held, 'other_service')},170,RWF,SUCCESSFUL,{DAY}T14:00:05Z",  # another service's payment
        f"{ref(held, 'ok_ref').upper()[:8]}x,1,RWF,FAILED,{DAY}T18:00:00Z",   # garbage reference
    ]
    return "reference,amount,currency,status,date\r\n" + "\r\n".join(lines) + "\r\n"


EXPECTED = {"lines": 12, "matched": 4, "missing_in_gateway": 4, "missing_at_provider": 1, "amount_mismatch": 1,
            "status_mismatch": 1, "currency_mismatch": 1, "duplicate": 1}


def upload(api, body, service="mtnmomorwa", content_type="text/csv", **kw):
    data = body.encode() if isinstance(body, str) else body
    return api.client.simulate_post(f"{BASE}/services/{service}/statements", body=data,
                                    headers={**api.headers, "Content-Type": content_type}, **kw)


def test_planted_discrepancies_give_the_exact_counts_and_say_why(books):
    api = Api(books, "ops", "admin")
    resp = upload(api, planted(books))
    assert resp.status_code == 201, resp.text
    assert {k: v for k, v in resp.json.items() if k != "statement_id"} == EXPECTED
    items = api.walk("/statement-exceptions", statement_id=str(resp.json["statement_id"]), limit="3")
    by_kind = {}
    for item in items:
        by_kind.setdefault(item["kind"], []).append(item)
    assert by_kind["missing_at_provider"][0]["transaction_id"] == books.ids["absent"]
    assert by_kind["amount_mismatch"][0]["detail"]["provider"]["amount"] == "250.00"
    assert by_kind["amount_mismatch"][0]["detail"]["gateway"]["amount"] == "200.00"
    assert "amount" in by_kind["amount_mismatch"][0]["detail"]["why"]
    assert by_kind["status_mismatch"][0]["detail"]["provider"]["status"] == "SUCCESSFUL"
    assert by_kind["status_mismatch"][0]["detail"]["gateway"]["status"] == "PENDING"
    assert by_kind["currency_mismatch"][0]["detail"]["provider"]["currency"] == "USD"
    assert by_kind["duplicate"][0]["line_no"] == 9
    assert sorted(i["line_no"] for i in by_kind["missing_in_gateway"]) == [8, 11, 12, 13]
    audit = books.db.run("SELECT username FROM audit_log WHERE action = 'statement.upload'")
    assert [a["username"] for a in audit] == ["ops"]


def test_the_same_file_again_is_the_same_statement(books):
    api = Api(books, "ops", "admin")
    first = upload(api, planted(books))
    again = upload(api, planted(books))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json == first.json
    assert books.db.run("SELECT count(*) AS n FROM statements")[0]["n"] == 1
    assert books.db.run("SELECT count(*) AS n FROM statement_exceptions")[0]["n"] == 9


def test_results_are_deterministic_whatever_the_line_order(books):
    api = Api(books, "ops", "admin")
    text = planted(books)
    header, *lines = text.strip().split("\r\n")
    first = upload(api, text).json
    reordered = upload(api, "\n".join([header] + lines[::-1]) + "\n").json
    assert first["statement_id"] != reordered["statement_id"]
    strip = lambda a: {k: v for k, v in a.items() if k != "statement_id"}  # noqa: E731
    assert strip(reordered) == strip(first) == EXPECTED


@pytest.mark.parametrize("body, status, words", [
    (b"reference,amount,currency,status,date\n" + "caf\u00e9,1,RWF,OK,2026-11-30\n".encode("latin-1"), 400, "UTF-8"),
    (b"reference amount currency status date\nx 1 RWF OK 2026-11-30\n", 400, "header must name"),
    (b"reference,currency,status,date\nx,RWF,OK,2026-11-30\n", 400, "amount"),
    (b"reference,amount,currency,status,date\nx,1,RWF,OK,2026-11-30\ny,abc,RWF,OK,2026-11-30\n", 400, "line 3"),
    (b"reference,amount,currency,status,date\nx,1,RWF,OK\n", 400, "4 fields where the header has 5"),
    (b"reference,amount,currency,status,date\nx,1,RWF,OK,30/11/2026\n", 400, "ISO 8601"),
    (b"reference,amount,currency,status,date\nx,1,RWFX,OK,2026-11-30\n", 400, "3-letter"),
    (b"", 400, "empty"),
])
def test_bad_statements_are_clear_4xx_and_leave_nothing(books, body, status, words):
    api = Api(books, "ops", "admin")
    good = upload(api, b"reference,amount,currency,status,date\nx,1,RWF,OK,2026-11-30\n", service="airtel")
    assert good.status_code == 201, good.text  # the control: a well-formed file is accepted
    resp = upload(api, body)
    assert resp.status_code == status, resp.text
    assert words in resp.json["error"]["message"]
    assert resp.json["error"]["code"] == "bad_statement"
    assert books.db.run("SELECT count(*) AS n FROM statements s JOIN services v ON v.id = s.service_id "
                        "WHERE v.name = 'mtnmomorwa'")[0]["n"] == 0


def test_semicolon_and_tab_separated_statements_are_read(books):
    api = Api(books, "ops", "admin")
    text = planted(books)
    for separator in (";", "\t"):
        resp = upload(api, text.replace(",", separator).replace("\r\n", "\n"))
        assert resp.status_code == 201, resp.text
        assert resp.json["matched"] == EXPECTED["matched"]


def test_a_50_mb_statement_is_a_json_413(books):
    api = Api(books, "ops", "admin")
    resp = upload(api, b"reference,amount,currency,status,date\n" + b"x,1,RWF,OK,2026-11-30\n" * 2_300_000)
    assert resp.status_code == 413, resp.text[:200]
    assert resp.json["error"]["code"] == "statement_too_large"
    assert upload(api, "x", content_type="application/json").status_code == 415
    assert upload(api, "x", service="nosuch").status_code == 404


def test_a_multipart_form_upload_and_a_column_mapping(books):
    api = Api(books, "ops", "admin")
    mapping = {"columns": {"reference": "externalId", "amount": "Amt", "date": "When"}}
    assert api.client.simulate_patch(f"{BASE}/services/mtnmomorwa/statement-format", json={"columns": {"x": "y"}},
                                     headers=api.headers).status_code == 422
    resp = api.client.simulate_patch(f"{BASE}/services/mtnmomorwa/statement-format", json=mapping,
                                     headers=api.headers)
    assert resp.status_code == 200, resp.text
    assert api.get("/services/mtnmomorwa/statement-format").json["columns"]["reference"] == "externalId"
    csv_text = f"When,Amt,externalId,status\n{DAY}T09:00:05Z,100,{ref(books, 'ok_ref')},SUCCESSFUL\n"
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\n{csv_text}\r\n--{boundary}--\r\n")
    resp = upload(api, body, content_type=f"multipart/form-data; boundary={boundary}")
    assert resp.status_code == 201, resp.text
    assert (resp.json["lines"], resp.json["matched"]) == (1, 1)
    assert api.get(f"/statements/{resp.json['statement_id']}").json["filename"] == "s.csv"


def test_exceptions_resolve_with_a_reason_or_settle_from_the_statement(books):
    api, viewer = Api(books, "ops", "admin"), Api(books, "watcher", "viewer")
    statement = upload(api, planted(books)).json["statement_id"]
    assert upload(viewer, planted(books)).status_code == 403
    queue = {i["kind"]: i for i in api.walk("/statement-exceptions", statement_id=str(statement))}
    amount, status = queue["amount_mismatch"], queue["status_mismatch"]
    assert viewer.post(f"/statement-exceptions/{amount['id']}/resolve", {"reason": "refund"}).status_code == 403
    assert api.post(f"/statement-exceptions/{amount['id']}/resolve", {"reason": ""}).status_code == 422
    assert api.post(f"/statement-exceptions/{amount['id']}/resolve", {"why": "x"}).status_code == 422
    assert api.post(f"/statement-exceptions/{amount['id']}/settle", {"reason": "paid"}).status_code == 409
    done = api.post(f"/statement-exceptions/{amount['id']}/resolve", {"reason": "fee deducted by the provider"})
    assert done.status_code == 200, done.text
    assert (done.json["resolved_by"], done.json["resolution"]) == ("ops", "fee deducted by the provider")
    assert api.post(f"/statement-exceptions/{amount['id']}/resolve", {"reason": "again"}).status_code == 409
    assert api.post("/statement-exceptions/999999/resolve", {"reason": "nothing"}).status_code == 404
    settled = api.post(f"/statement-exceptions/{status['id']}/settle", {"reason": "provider paid it"})
    assert settled.status_code == 200, settled.text
    assert settled.json["transaction_status"] == "SUCCESSFUL"
    event = books.db.run("""SELECT e.note, e.cause, e.to_status FROM transaction_events e
                             JOIN transactions t ON t.id = e.transaction_id
                            WHERE t.public_id = :p ORDER BY e.id DESC LIMIT 1""", p=books.ids["status"])[0]
    assert event["to_status"] == "SUCCESSFUL"
    assert f"provider statement {statement} line 6" in event["note"]
    actions = [r["action"] for r in books.db.run(
        "SELECT action FROM audit_log WHERE username = 'ops' ORDER BY id")]
    assert actions[-3:] == ["statement_exception.resolve", "transaction.resolve", "statement_exception.settle"]
    left = api.walk("/statement-exceptions", statement_id=str(statement))
    assert len(left) == 7 and api.get(f"/statements/{statement}").json["open_exceptions"] == 7
    assert len(api.walk("/statement-exceptions", statement_id=str(statement), state="all")) == 9
    assert api.get("/statement-exceptions", kind="nonsense").status_code == 422
    assert api.get("/statements/12345").status_code == 404
    assert api.get("/statements/\u00b9").status_code == 404  # a digit to str.isdigit, not to int()
    assert api.get("/statement-exceptions/\u00b2").status_code == 404
    assert api.get("/statement-exceptions", statement_id="\u00b9").status_code == 422
    assert api.walk("/statements")[0]["id"] == statement


def test_lines_go_in_in_batches_from_a_spooled_file(books, monkeypatch):
    """Memory stays flat: the body is copied to a temporary file in chunks and the lines are inserted in
    batches, never held all at once."""
    from mospay import statements

    monkeypatch.setattr(statements, "BATCH", 5)
    sizes = []
    real = statements.json.dumps

    def dumps(value, *args, **kwargs):  # each batch of lines is sent as one JSON array
        if isinstance(value, list) and value and isinstance(value[0], dict) and "line_no" in value[0]:
            sizes.append(len(value))
        return real(value, *args, **kwargs)

    monkeypatch.setattr(statements.json, "dumps", dumps)
    api = Api(books, "ops", "admin")
    assert upload(api, planted(books)).json["lines"] == 12
    assert sizes == [5, 5, 2]


def test_the_same_file_uploaded_twice_at_once_is_one_statement(books):
    import io
    import threading

    from mospay import statements
    from mospay.audit import Actor

    body = planted(books).encode()
    barrier, results, failures = threading.Barrier(2), [], []

    def send():
        try:
            barrier.wait(10)
            results.append(statements.upload(books.db, Actor(None, "ops", "admin"), "mtnmomorwa", io.BytesIO(body),
                                             None, max_bytes=1 << 20, tolerance=0, window_s=86400))
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not failures and len(results) == 2
    assert results[0][0] == results[1][0]
    assert sorted(created for _, created in results) == [False, True]


def test_a_truncated_multipart_upload_is_a_400_and_stores_nothing(books):
    api = Api(books, "ops", "admin")
    body = ('--b0undary\r\nContent-Disposition: form-data; name="file"; filename="s.csv"\r\n'
            "Content-Type: text/csv\r\n\r\nreference,amount,currency,status,date\r\nx,1,RWF,OK,2026-11-30\r\n")
    resp = upload(api, body, content_type="multipart/form-data; boundary=b0undary")
    assert resp.status_code == 400, resp.text
    assert resp.json["error"]["code"] in ("bad_statement", "bad_request")
    assert books.db.run("SELECT count(*) AS n FROM statements")[0]["n"] == 0
