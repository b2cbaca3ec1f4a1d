"""Hostile values in every field of every state-changing portal form: a 4xx HTML answer (never a 5xx,
no stack trace, SQL or internal path) and an unchanged database; free-text fields may instead keep the
value as inert literal text. The XSS half lives in test_portal_xss.py."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from mospay.admin.web import ROOT
from tests.integration.portal_support import PASSWORD, site  # noqa: F401  (fixture)
from tests.integration.security_support import snapshot

FUNCTION = "RESPONSE_akaliza_mtnmomorwa_collection"
NEW_PASSWORD = "another-horse-22"
# Form values, already percent-encoded: the body is built by hand so invalid UTF-8 can be sent as raw bytes.
BIG = "x" * 1_000_000
NUL = "a%00b"
BAD_UTF8 = "ok%FF%FEok"
SURROGATE = "ok%ED%A0%80ok"  # the UTF-8 form of a lone surrogate (U+D800): not valid UTF-8
RAW_BAD_BYTES = b"ok\xff\xfe\xc0\xafok"  # not even percent-encoded
CRLF = quote("a\r\nSet-Cookie: x=1")
SQL = quote("x'; DROP TABLE clients; --")
DOLLAR = quote("$$; DROP TABLE clients; $$")
TRAVERSAL = quote("../../../etc/passwd")
# Every field refuses these (4xx, nothing written).
ALWAYS_REFUSED = {"1MB": BIG, "nul": NUL, "bad_utf8": BAD_UTF8, "surrogate": SURROGATE, "raw_bytes": RAW_BAD_BYTES}
# Identifiers, URLs, numbers, choices and codes refuse these too; free text may store them literally.
INJECTION = {"sql": SQL, "dollar_quote": DOLLAR, "traversal": TRAVERSAL, "crlf": CRLF}
NOT_A_NUMBER = {"text": "abc", "negative": "-5", "zero": "0", "huge": "1" + "0" * 30, "nan": "NaN",
                "infinity": "Infinity", "exponent": "1e400", "hex": "0x10",
                "superscript": quote("²")}  # str.isdigit() says yes, int() says no
# Only "no 5xx": some fields may take these (Decimal reads Arabic-Indic digits "١٢" as 12 seconds).
NOT_TEXT_CHOICE = {"number": "12345", "negative": "-1", "arabic_digits": quote("١٢")}

# form -> (path, valid values, {field: kind}). kinds: text (free text: injection may be stored literally),
# strict (identifiers, URLs, codes, choices: injection refused), number, secret (passwords), any (a value
# that is only compared, such as the login username: must not break anything).
FORMS = {
    "login": ("/admin/login", {"username": "root", "password": PASSWORD},
              {"username": "any", "password": "any"}),
    "change_password": ("/admin/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                            "confirm_password": NEW_PASSWORD},
                        {"current_password": "secret", "new_password": "secret", "confirm_password": "secret"}),
    "create_client": ("/admin/clients", {"app_id": "umucyo", "company_name": "Umucyo Ltd",
                                         "contact_email": "ops@umucyo.example",
                                         "callback_url": "https://umucyo.example/cb"},
                      {"app_id": "strict", "company_name": "text", "contact_email": "text",
                       "callback_url": "strict"}),
    "edit_client": ("/admin/clients/akaliza", {"company_name": "Akaliza 2", "contact_email": "a@b.example",
                                               "callback_url": "https://akaliza.example/cb", "active": "on"},
                    {"company_name": "text", "contact_email": "text", "callback_url": "strict"}),
    "create_service": ("/admin/services", {"name": "airtelrw", "display_name": "Airtel", "currency": "RWF",
                                           "service_url": "http://127.0.0.1:9", "timeout_s": "20",
                                           "connect_timeout_s": "3"},
                       {"name": "strict", "display_name": "text", "currency": "strict", "service_url": "strict",
                        "timeout_s": "number", "connect_timeout_s": "number"}),
    "edit_service": ("/admin/services/mtnmomorwa", {"display_name": "MTN 2", "service_url": "http://127.0.0.1:8",
                                                    "timeout_s": "25", "active": "on"},
                     {"display_name": "text", "service_url": "strict", "timeout_s": "number"}),
    "save_field": ("/admin/services/mtnmomorwa/fields", {"code": "f011", "label": "Branch", "field_type": "string",
                                                         "max_length": "12", "pattern": "[a-z]+", "required": "on"},
                   {"code": "strict", "label": "text", "field_type": "strict", "max_length": "number",
                    "pattern": "text"}),
    "assign_routes": ("/admin/clients/akaliza/services", {"service": "mtnmomorwa", "routes": "collection disbursement"},
                      {"service": "strict", "routes": "strict"}),
    "create_user": ("/admin/users", {"username": "newbie", "password": "a-good-password", "role": "viewer"},
                    {"username": "strict", "password": "secret", "role": "strict"}),
    "reset_password": ("/admin/users/{other}/password", {"password": "a-temporary-pass"}, {"password": "secret"}),
    "save_function": (f"/admin/functions/{FUNCTION}", {"source": "{source}"}, {"source": "strict"}),
}
# Values a field of each kind must refuse: (name, encoded value).
REFUSED_BY_KIND = {
    "any": ALWAYS_REFUSED,
    "secret": {**ALWAYS_REFUSED, "short": "abc", "too_long": "p" * 200},
    "text": {**ALWAYS_REFUSED, "too_long": "t" * 600},
    "strict": {**ALWAYS_REFUSED, **INJECTION, "too_long": "s" * 600},
    "number": {**ALWAYS_REFUSED, **INJECTION, **NOT_A_NUMBER},
}
# Free text may keep these; if it does, the table must hold exactly the text sent (nothing executed).
LITERAL_OK = {"sql": "x'; DROP TABLE clients; --", "dollar_quote": "$$; DROP TABLE clients; $$",
              "traversal": "../../../etc/passwd", "crlf": "a\r\nSet-Cookie: x=1", "number": "12345"}
# What a refusal page must never show. (The function editor shows PostgreSQL's message about the
# super_admin's own SQL on purpose, so for it "syntax error" is allowed.)
LEAKS = ("Traceback", "site-packages", str(ROOT), "pg8000", "psycopg", "INSERT INTO", "SELECT ", "SQLSTATE",
         'File "')


@pytest.fixture
def world(site):
    """root (super_admin) signed in, one service, one client with a route, another user to reset."""
    portal = site.portal("root", "super_admin")
    assert portal.post("/admin/services", {"name": "mtnmomorwa", "service_url": "http://127.0.0.1:9"}).status_code == 303
    assert portal.post("/admin/clients", {"app_id": "akaliza", "company_name": "Akaliza"}).status_code == 201
    assert portal.post("/admin/clients/akaliza/services", {"service": "mtnmomorwa", "routes": "collection"}).status_code == 303
    site.user("other", "viewer")
    site.other_id = site.db.run("SELECT id FROM users WHERE username = 'other'")[0]["id"]
    site.source = site.db.run("SELECT pg_get_functiondef(p.oid) AS s FROM pg_proc p WHERE p.proname = :n",
                              n=FUNCTION)[0]["s"].replace("'Payment completed'", "'Paid, thanks'")
    return portal


def state(db) -> dict:
    """snapshot() plus the portal's own records: an audit row or a function version is a change too
    (except the audit row every dry run writes on purpose)."""
    digest = snapshot(db)
    for table in ("audit_log", "function_versions"):
        digest[table] = db.run(f"SELECT count(*) AS n FROM {table}")[0]["n"]
    digest["audit_log"] -= db.run("SELECT count(*) AS n FROM audit_log WHERE action = 'function.dry_run'")[0]["n"]
    return digest


def encode(values: dict) -> bytes:
    """A urlencoded body from already-encoded values (bytes kept raw, lists become repeated names)."""
    parts = []
    for key, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            raw = item if isinstance(item, bytes) else item.encode("ascii")
            parts.append(quote(key).encode() + b"=" + raw)
    return b"&".join(parts)


def post(portal, path: str, values: dict, *, anonymous=False):
    body = dict(values) if anonymous else {**values, "csrf_token": quote(portal.csrf)}
    cookies = None if anonymous else {"mospay_session": portal.cookie}
    return portal.client.simulate_request("POST", path, body=encode(body), cookies=cookies,
                                          headers={"Content-Type": "application/x-www-form-urlencoded"})


def valid_values(site, form: str) -> tuple[str, dict]:
    path, values, _ = FORMS[form]
    values = {k: quote(v.replace("{source}", site.source)) for k, v in values.items()}
    return path.replace("{other}", str(site.other_id)), values


def assert_refused(result, before, site, label, *, sql_errors_shown=False):
    assert 400 <= result.status_code < 500, f"{label}: {result.status_code} {result.text[:300]}"
    assert result.headers.get("content-type", "").startswith("text/html"), label
    assert "<html" in result.text or "<div" in result.text or "<form" in result.text, label
    for leak in LEAKS:
        assert leak not in result.text, f"{label}: {leak!r} in the page"
    if not sql_errors_shown:
        assert "syntax error" not in result.text, label
    assert state(site.db) == before, f"{label}: the database changed"


@pytest.mark.parametrize("form", list(FORMS))
def test_hostile_value_in_each_field_is_refused_and_changes_nothing(site, world, form):
    """One test per form (a fresh database each), every field of it in turn: see REFUSED_BY_KIND."""
    path, valid = valid_values(site, form)
    anonymous = form == "login"
    portal = site.portal() if anonymous else world
    for field, kind in FORMS[form][2].items():
        for name, value in REFUSED_BY_KIND[kind].items():
            before = state(site.db)
            result = post(portal, path, {**valid, field: value}, anonymous=anonymous)
            assert_refused(result, before, site, f"{form}.{field}={name}", sql_errors_shown=form == "save_function")
        if kind == "text":  # injection text: refused, or stored literally while every table stays in place
            for name, text in LITERAL_OK.items():
                tables = state(site.db)["tables"]
                fresh = {k: v for k, v in valid.items() if k != "app_id"}  # a new client each time, no 409
                result = post(portal, path, {**fresh, field: quote(text)})
                assert result.status_code in (201, 303, 422), f"{form}.{field}={name}: {result.status_code}"
                assert result.status_code < 500, f"{form}.{field}={name}: {result.status_code}"
                assert state(site.db)["tables"] == tables
                if result.status_code < 400:
                    stored = site.db.run(f"SELECT count(*) AS n FROM {_table(form)} t "
                                         "WHERE t::text LIKE '%' || :v || '%'", v=_row_text(text))[0]["n"]
                    assert stored >= 1, f"{form}.{field}={name} accepted but not stored as sent"
        if kind in ("strict", "number", "any"):  # a number where text is expected, and vice versa
            for name, value in NOT_TEXT_CHOICE.items():
                result = post(portal, path, {**valid, field: value}, anonymous=anonymous)
                assert result.status_code < 500, f"{form}.{field}={name}: {result.status_code}"


def _table(form: str) -> str:
    return {"create_client": "clients", "edit_client": "clients", "create_service": "services",
            "edit_service": "services", "save_field": "service_fields"}[form]


def _row_text(text: str) -> str:
    """How a value appears in a row's text form: quotes doubled in record syntax, so match a plain part."""
    return re.split(r"[\"'\\\r\n]", text)[-1].strip() or text.strip("$; ")


@pytest.mark.parametrize("form", [f for f in FORMS if f != "login"])
def test_missing_empty_and_duplicated_fields_are_refused(site, world, form):
    """Each required field left out, an empty form, and each field sent twice with a hostile last copy
    (the last value is the one used); then the valid form itself is accepted."""
    path, valid = valid_values(site, form)
    optional = {"contact_email", "callback_url", "app_id", "display_name", "currency", "timeout_s",
                "connect_timeout_s", "max_length", "pattern", "field_type", "role"}
    for field in FORMS[form][2]:
        if field not in optional:
            before = state(site.db)
            values = {k: v for k, v in valid.items() if k != field}
            assert_refused(post(world, path, values), before, site, f"{form} without {field}")
    before = state(site.db)
    assert_refused(post(world, path, {}), before, site, f"{form} empty")
    for field in FORMS[form][2]:
        result = post(world, path, {**valid, field: [valid[field], NUL]})
        assert_refused(result, before, site, f"{form}: {field} twice, the second hostile")
    # The control: the valid values used throughout are accepted, and the fingerprint sees the change.
    result = post(world, path, valid)
    assert result.status_code in (201, 303), f"{form}: {result.status_code} {result.text[:300]}"
    assert state(site.db) != before, form


def test_a_forged_second_csrf_token_and_non_form_bodies_are_refused(site, world):
    """The CSRF token sent twice with a forged one last is refused; so is a body that is not a form."""
    before = state(site.db)
    result = world.client.simulate_request(
        "POST", "/admin/clients", cookies={"mospay_session": world.cookie},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=encode({"company_name": "Forged", "csrf_token": [quote(world.csrf), "forged"]}))
    assert_refused(result, before, site, "csrf token twice, the forged one last")
    # A missing Content-Type, or JSON instead of a form, is not a form either.
    for headers, body in (({}, b"company_name=x"), ({"Content-Type": "application/json"}, b'{"company_name": "x"}'),
                          ({"Content-Type": "text/plain"}, b"company_name=x")):
        result = world.client.simulate_request("POST", "/admin/clients", cookies={"mospay_session": world.cookie},
                                               headers={**headers, "X-CSRF-Token": world.csrf}, body=body)
        assert_refused(result, before, site, f"form as {headers}")


def test_json_sign_in_with_a_number_as_username_is_415_not_500(site):
    """Regression: the portal parsed JSON bodies as forms, so {"username": 5} reached .strip() (a 500)."""
    before = state(site.db)
    result = site.portal().client.simulate_request("POST", "/admin/login", body=b'{"username": 5, "password": []}',
                                                   headers={"Content-Type": "application/json"})
    assert_refused(result, before, site, "JSON sign-in")
    assert result.status_code == 415


def test_invalid_utf8_in_a_form_is_400_not_stored_as_replacement_characters(site, world):
    """Regression: Falcon decoded %FF and lone surrogates as U+FFFD and the client was created with that name."""
    before = state(site.db)
    result = post(world, "/admin/clients", {"company_name": BAD_UTF8})
    assert_refused(result, before, site, "bad UTF-8")
    assert result.status_code == 400 and "not valid UTF-8" in result.text


# superscript_digit (code) and json_deep (data_input/data_output) were 500s before this test.
DRY_RUN_VALUES = {**REFUSED_BY_KIND["strict"], **NOT_A_NUMBER, "superscript_digit": quote("²"),
                  "arabic_digits": quote("٢٠٠"), "json_nul": quote('{"a": "\\u0000"}'),
                  "json_surrogate": quote('{"a": "\\ud800"}'), "json_deep": quote("[" * 5000 + "]" * 5000)}


@pytest.mark.parametrize("field", ["source", "code", "data_input", "data_output", "unique_id"])
def test_dry_run_with_hostile_values_never_fails_and_writes_nothing(site, world, field):
    """The dry run reports bad input in its result panel (200) or refuses it (4xx); it never writes."""
    path = f"/admin/functions/{FUNCTION}/dry-run"
    valid = {"source": quote(site.source), "code": "200", "data_input": quote('{"f010": "x"}'),
             "data_output": quote('{"status": "SUCCESSFUL"}'), "unique_id": "dry-1"}
    for name, value in DRY_RUN_VALUES.items():
        before = state(site.db)
        for headers in ({}, {"HX-Request": "true"}):
            body = encode({**valid, field: value, "csrf_token": quote(world.csrf)})
            result = world.client.simulate_request(
                "POST", path, body=body, cookies={"mospay_session": world.cookie},
                headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
            label = f"dry-run {field}={name} {headers}"
            assert result.status_code < 500, f"{label}: {result.status_code} {result.text[:300]}"
            assert result.status_code in (200, 400, 413, 415, 422), label
            for leak in LEAKS:
                assert leak not in result.text, f"{label}: {leak!r} in the page"
            assert state(site.db) == before, f"{label}: the database changed"


def test_a_page_number_that_is_a_digit_but_not_a_number_shows_the_first_page(site, world):
    """Regression: ?page=² passed str.isdigit() and int() raised: a 500 on the clients list."""
    for page in (quote("²"), quote("١٢"), "-1", "1e9", "99999999999999999999", "%00"):
        result = world.get("/admin/clients", query_string=f"page={page}")
        assert result.status_code == 200 and "akaliza" in result.text, page


@pytest.mark.parametrize("path, params", [
    ("/admin/transactions", ("client", "service", "status", "from", "to", "q", "after")),
    ("/admin/transactions.csv", ("client", "service", "status", "from", "to", "q")),
    ("/admin/api-logs", ("client", "from", "to", "q", "after")),
    ("/admin/clients", ("q", "page")),
    ("/admin/audit", ("q", "after")),
    ("/admin/services/mtnmomorwa", ("edit",)),
    ("/admin/login", ("next",)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_hostile_list_filters_give_the_page_or_a_4xx(site, world, path, params):
    """Filters and cursors in the query string: the list (perhaps with a message) or a 4xx, never a 5xx."""
    values = [NUL, BAD_UTF8, SURROGATE, CRLF, SQL, DOLLAR, TRAVERSAL, "x" * 10_000, quote("²"), quote("١٢"),
              "-1", "0000-00-00", "9999-12-31", "2026-02-30", "1" * 30, quote("2026-01-01T00:00:00+00:00_") + "9" * 18]
    for param in params:
        for value in values:
            result = world.get(path, query_string=f"{param}={value}")
            label = f"{path}?{param}={value[:40]}"
            assert result.status_code < 500, f"{label}: {result.status_code}"
            assert not any(leak in result.text for leak in LEAKS), label


def test_csv_export_with_a_nul_in_the_search_is_422_before_streaming(site, world):
    """Regression: the NUL reached PostgreSQL only once the 200 and the CSV header had been sent."""
    result = world.get("/admin/transactions.csv", query_string="q=a%00b")
    assert result.status_code == 422 and result.headers["content-type"].startswith("text/html")
