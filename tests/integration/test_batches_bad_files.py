"""Bad batch files: each gets a clear 4xx or a row error, never a 500 and never a half-stored batch.
The control first: a clean CSV passes, so each refusal below is about the one thing changed."""

from __future__ import annotations

import pytest

from tests.integration.batch_support import HEADER, admin_post, batch_payer, rows, to_csv, upload


@pytest.fixture(scope="module")
def payer(api):
    return batch_payer(api, "batchbad")


def _batches(api, payer) -> int:
    return api.db.run("SELECT count(*) AS n FROM batches b JOIN clients c ON c.id = b.client_id "
                      "WHERE c.app_id = :a", a=payer.app_id)[0]["n"]


def _refused(api, payer, body: bytes, status: int, words: str, content_type="text/csv"):
    before = _batches(api, payer)
    resp = upload(api, payer, body, content_type=content_type)
    assert resp.status == status, resp.data
    assert words in resp.json()["error"]["message"], resp.json()
    assert _batches(api, payer) == before  # nothing written
    return resp


def test_control_a_clean_csv_passes(api, payer):
    resp = upload(api, payer, to_csv(rows(payer, 2)))
    assert resp.status == 201 and resp.json()["invalid_rows"] == 0
    admin_post(api, f"/api/v1/admin/batches/{resp.json()['batch_id']}/cancel")


def test_bom_and_semicolons_and_tabs_are_read(api, payer):
    for sep in (";", "\t"):
        resp = upload(api, payer, b"\xef\xbb\xbf" + to_csv(rows(payer, 2), sep=sep))
        assert resp.status == 201 and resp.json()["valid_rows"] == 2, (sep, resp.data)
        admin_post(api, f"/api/v1/admin/batches/{resp.json()['batch_id']}/cancel")


def test_wrong_encoding(api, payer):
    body = to_csv(rows(payer, 1)).replace(b"customer", "clientè".encode("latin-1"))
    _refused(api, payer, body, 400, "not UTF-8")


def test_missing_header(api, payer):
    body = to_csv(rows(payer, 2)).split(b"\r\n", 1)[1]
    _refused(api, payer, body, 400, "header of field codes")


def test_extra_columns_in_the_header_and_in_a_row(api, payer):
    _refused(api, payer, to_csv(rows(payer, 1), header=HEADER + ["notes"]), 400, "header of field codes")
    lines = to_csv(rows(payer, 2)).split(b"\r\n")
    lines[2] = lines[2] + b",extra"  # a stray cell on one row: a row error, not a refusal
    resp = upload(api, payer, b"\r\n".join(lines))
    assert resp.status == 201 and resp.json()["invalid_rows"] == 1, resp.data
    errs = api.request("GET", f"/api/v1/batches/{resp.json()['batch_id']}/errors", headers=payer.basic).json()
    assert errs["errors"][0]["line"] == 3 and "where the header has 10" in errs["errors"][0]["message"]


def test_zero_rows_and_empty_body(api, payer):
    _refused(api, payer, to_csv([]), 400, "no rows")
    _refused(api, payer, b"", 400, "empty")
    _refused(api, payer, b'{"rows": []}', 400, "no rows", content_type="application/json")


def test_a_file_over_the_limit_is_413(api, payer):
    body = b"f000,f010\r\n" + b"x" * (50 * 1024 * 1024)
    _refused(api, payer, body, 413, "larger than")


def test_quotes_and_newlines_inside_fields(api, payer):
    items = rows(payer, 2)
    items[0]["f006"] = '"Jean ""the payer""\nline two"'  # a quoted field with a quote and a newline
    resp = upload(api, payer, to_csv(items))
    assert resp.status == 201 and resp.json()["rows"] == 2 and resp.json()["valid_rows"] == 2, resp.data
    stored = api.db.run("SELECT r.line_no, r.fields ->> 'f006' AS f006 FROM batch_rows r JOIN batches b "
                        "ON b.id = r.batch_id WHERE b.public_id = :b ORDER BY r.line_no",
                        b=resp.json()["batch_id"])
    assert stored[0]["f006"] == 'Jean "the payer"\nline two'
    assert stored[1]["line_no"] == 4  # the file's own line number: the first row took two lines
    admin_post(api, f"/api/v1/admin/batches/{resp.json()['batch_id']}/cancel")


def test_unterminated_quote_is_a_400_naming_the_line(api, payer):
    body = to_csv(rows(payer, 1)) + b'"unterminated,' + b"x," * 9 + b"\r\n"
    resp = upload(api, payer, body)
    assert resp.status in (201, 400), resp.data  # csv reads to the end of the file: one bad row or a 400


def test_formula_injection_is_neutralised_on_the_way_out(api, payer):
    body = b'{"rows": [{"=HYPERLINK(\\"http://x\\")": "1"}]}'
    resp = upload(api, payer, body, content_type="application/json")
    assert resp.status == 201 and resp.json()["invalid_rows"] == 1, resp.data
    out = api.request("GET", f"/api/v1/batches/{resp.json()['batch_id']}/errors",
                      headers={**payer.basic, "Accept": "text/csv"})
    line = out.data.decode().splitlines()[1]
    assert ",'=HYPERLINK" in line.replace('"', "")


def test_wrong_content_type_and_bad_json(api, payer):
    _refused(api, payer, b"<xml/>", 415, "text/csv", content_type="application/xml")
    _refused(api, payer, b'{"rows": {}}', 422, "list", content_type="application/json")
    _refused(api, payer, b'{"rows": [], "extra": 1}', 422, "not a batch field", content_type="application/json")
    _refused(api, payer, b"{not json", 400, "not valid JSON", content_type="application/json")


def test_row_level_rules_are_the_payment_paths(api, payer):
    """The same refusals as POST /api/v1/payment/process, per row, with the same field and code."""
    cases = {"f005": ("12", "f005"), "f002": ("payout", "f002"), "f000": ("nosuch", "f000"),
             "f010": ("...", "f010")}
    items = rows(payer, len(cases) + 1)
    for item, (code, (value, _)) in zip(items[1:], cases.items()):
        item[code] = value
    resp = upload(api, payer, to_csv(items))
    assert resp.status == 201 and resp.json()["valid_rows"] == 1, resp.data
    errs = api.request("GET", f"/api/v1/batches/{resp.json()['batch_id']}/errors", headers=payer.basic).json()
    assert [e["field"] for e in errs["errors"]] == [field for _v, field in cases.values()]
    # The payment API says the same about the same body.
    single = payer.pay(**{"f005": "12"})
    assert single.status == 422 and single.json()["error"]["field"] == "f005"
    assert single.json()["error"]["message"] == errs["errors"][0]["message"]
