"""Per-client functions run as the role mospay_function: a saved function and a dry run reach only their
arguments, even when MosPay's own database role is a superuser (as the test database's is)."""

from __future__ import annotations

import json
import secrets
from urllib.parse import urlsplit, urlunsplit

import pytest

from mospay import accounts, catalogue, errors, function_editor as fe, migrate
from mospay.audit import Actor
from mospay.db import Database
from mospay.simulator import Simulator
from tests.integration.portal_support import site  # noqa: F401  (fixture)
from tests.integration.test_functions_db import KEYS, app_client, payment
from tests.integration.test_upgrade import FIXTURE
from tests.support import load_sql_file

REQUEST = "akaliza_mtnmomorwa_collection"
RESPONSE = "RESPONSE_" + REQUEST
ROOT = Actor(None, "root", "super_admin")
HEADER = (f'CREATE OR REPLACE FUNCTION mospay_fn."{RESPONSE}"(unique_id text, data_input jsonb, code integer, '
          "data_output jsonb) RETURNS jsonb LANGUAGE plpgsql AS $f$\n")
ROLE = "mospay_evil_" + secrets.token_hex(4)
# What a hostile body tries, each one answered with PostgreSQL's refusal. On the code before this change
# every one of them ran (the function ran as MosPay's role, here a superuser).
HOSTILE = {
    "read_password_hashes": "BEGIN RETURN (SELECT jsonb_agg(password_hash) FROM users); END",
    "read_secret_hashes": "BEGIN RETURN (SELECT jsonb_agg(api_secret_hash) FROM clients); END",
    "copy_to_program": "BEGIN COPY (SELECT 1) TO PROGRAM 'cat > /dev/null'; RETURN '{}'; END",
    "create_role": f"BEGIN CREATE ROLE {ROLE}; RETURN '{{}}'; END",
    "create_superuser": f"BEGIN CREATE ROLE {ROLE} SUPERUSER; RETURN '{{}}'; END",
    "f007_into_a_table": "BEGIN INSERT INTO audit_log (username, action, target_type) "
                         "VALUES (data_input ->> 'f007', 'stash', 'x'); RETURN '{}'; END",
    "f007_into_a_new_table": "BEGIN CREATE TABLE public.stash AS SELECT data_input ->> 'f007' AS f007; "
                             "RETURN '{}'; END",
    "drop_another_function": f'BEGIN DROP FUNCTION mospay_fn."{REQUEST}Status"(text, jsonb, integer, jsonb); '
                             "RETURN '{}'; END",
    "call_the_gateway": "BEGIN RETURN to_jsonb(mospay.seal_functions()); END",
    "back_to_mospays_role": "BEGIN RESET ROLE; RETURN (SELECT jsonb_agg(password_hash) FROM users); END",
}
REFUSALS = ("permission denied", "must be superuser", "pg_execute_server_program", "cannot set parameter")


@pytest.fixture(scope="module")
def sim():
    with Simulator(hang_seconds=2) as simulator:
        yield simulator


@pytest.fixture
def client_creds(db, sim):
    catalogue.create_service(db, {"name": "mtnmomorwa", "service_url": sim.url, "timeout_s": 1})
    creds = accounts.create_client(db, KEYS["secret_key"], {"company_name": "Akaliza", "app_id": "akaliza"})
    catalogue.assign_service(db, "akaliza", {"service": "mtnmomorwa", "routes": ["collection"]})
    return creds


@pytest.fixture
def v010_url(postgres):
    name = postgres.create_database()
    url = postgres.url_for(name)
    load_sql_file(url, FIXTURE)  # a database v0.1.0's own code made
    yield url
    postgres.drop_database(name)


def hostile(body: str) -> str:
    return HEADER + body + "\n$f$"


@pytest.fixture
def no_stray_role(db):
    yield
    db.run(f"DROP ROLE IF EXISTS {ROLE}")  # only there if the role escaped (the code before this change)


def call_response(db, data: dict):
    return db.run("SELECT mospay.call_response_function(:n, 'u-1', CAST(:d AS jsonb), 200, '{}') AS r",
                  n=RESPONSE, d=json.dumps(data))[0]["r"]


def test_the_test_database_role_is_a_superuser(db):
    # Without this the tests below would prove less: MosPay's own role here may do everything.
    assert db.run("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")[0]["rolsuper"]


@pytest.mark.parametrize("attempt", sorted(HOSTILE))
def test_a_dry_run_reaches_nothing_but_its_arguments(db, client_creds, no_stray_role, attempt):
    args = {**fe.sample_arguments(RESPONSE, "akaliza", "mtnmomorwa", "collection"),
            "data_input": json.dumps({"f007": "clear-f007"})}
    with pytest.raises(errors.InvalidField) as refused:
        fe.dry_run(db, RESPONSE, args, hostile(HOSTILE[attempt]), actor=ROOT)
    assert any(word in refused.value.message for word in REFUSALS), refused.value.message
    assert not db.run("SELECT 1 FROM pg_roles WHERE rolname = :r", r=ROLE)


@pytest.mark.parametrize("attempt", sorted(HOSTILE))
def test_a_saved_function_reaches_nothing_but_its_arguments(db, client_creds, no_stray_role, attempt):
    fe.save(db, ROOT, RESPONSE, hostile(HOSTILE[attempt]))
    with pytest.raises(Exception) as refused:  # as a payment calls it (finish_payment)
        db.run("SELECT mospay.call_response_function(:n, 'u-1', CAST(:d AS jsonb), 200, '{}')",
               n=RESPONSE, d=json.dumps({"f007": "clear-f007"}))
    assert any(word in str(refused.value) for word in REFUSALS), str(refused.value)
    assert not db.run("SELECT 1 FROM pg_roles WHERE rolname = :r", r=ROLE)
    assert not db.run("SELECT 1 FROM audit_log WHERE username = 'clear-f007'")
    assert db.run("SELECT to_regclass('public.stash') IS NULL AS gone")[0]["gone"]
    assert db.run("SELECT to_regprocedure(:f) IS NOT NULL AS kept", f=f'mospay_fn."{REQUEST}Status"(text, jsonb, '
                  "integer, jsonb)")[0]["kept"]


def test_a_function_in_an_untrusted_language_is_refused(db, client_creds):
    source = (f'CREATE OR REPLACE FUNCTION mospay_fn."{RESPONSE}"(unique_id text, data_input jsonb, code integer, '
              "data_output jsonb) RETURNS jsonb LANGUAGE internal AS 'jsonb_in'")
    with pytest.raises(errors.InvalidField) as refused:
        fe.save(db, ROOT, RESPONSE, source)
    assert "permission denied for language internal" in refused.value.message


def test_a_saved_function_is_owned_by_the_function_role_whatever_its_header_says(db, client_creds):
    shown = " SECURITY DEFINER\n SET search_path TO 'pg_catalog', 'public', 'pg_temp'\n"
    source = fe.definition(db, RESPONSE)
    assert shown in source  # what the editor shows of a sealed function
    source = source.replace(shown, " SECURITY INVOKER SET search_path = public, pg_temp SET work_mem = '64MB'\n")
    fe.save(db, ROOT, RESPONSE, source)
    row = db.run("SELECT pg_get_userbyid(proowner) AS owner, prosecdef, proconfig FROM pg_proc "
                 "WHERE proname = :n", n=RESPONSE)[0]
    assert row == {"owner": "mospay_function", "prosecdef": True,
                   "proconfig": ["search_path=pg_catalog, public, pg_temp"]}
    assert call_response(db, {})["status"] == "UNKNOWN"  # the template's answer to an empty body


def test_a_dry_run_is_audited_with_who_which_function_and_the_result(db, client_creds):
    args = fe.sample_arguments(RESPONSE, "akaliza", "mtnmomorwa", "collection")
    fe.dry_run(db, RESPONSE, args, actor=ROOT)
    with pytest.raises(errors.InvalidField):
        fe.dry_run(db, RESPONSE, args, hostile(HOSTILE["read_password_hashes"]), actor=ROOT)
    rows = db.run("SELECT username, action, target_type, target_id, after FROM audit_log ORDER BY id")
    assert [(r["username"], r["action"], r["target_type"], r["target_id"]) for r in rows] == \
        [("root", "function.dry_run", "function", RESPONSE)] * 2
    assert rows[0]["after"]["ok"] is True and rows[0]["after"]["result"]["status"] == "SUCCESSFUL"
    assert rows[1]["after"]["ok"] is False and "permission denied" in rows[1]["after"]["error"]
    assert "FROM users" in rows[1]["after"]["source"]


def test_the_portal_dry_run_is_audited(site):
    portal = site.portal("root", "super_admin")
    assert portal.post("/admin/services", {"name": "mtnmomorwa", "service_url": "http://127.0.0.1:9"}).status_code == 303
    assert portal.post("/admin/clients", {"app_id": "akaliza", "company_name": "Akaliza"}).status_code == 201
    assert portal.post("/admin/clients/akaliza/services",
                       {"service": "mtnmomorwa", "routes": "collection"}).status_code == 303
    result = portal.post(f"/admin/functions/{RESPONSE}/dry-run", {"code": "200", "data_output": "{}"},
                         headers={"HX-Request": "true"})
    assert result.status_code == 200
    row = site.db.run("SELECT username, target_id FROM audit_log WHERE action = 'function.dry_run'")
    assert row == [{"username": "root", "target_id": RESPONSE}]


def test_function_source_is_for_admins_not_viewers(site):
    admin = site.portal("ops", "admin")
    assert admin.post("/admin/services", {"name": "mtnmomorwa", "service_url": "http://127.0.0.1:9"}).status_code == 303
    assert admin.post("/admin/clients", {"app_id": "akaliza", "company_name": "Akaliza"}).status_code == 201
    assert admin.post("/admin/clients/akaliza/services",
                      {"service": "mtnmomorwa", "routes": "collection"}).status_code == 303
    fe.save(site.db, ROOT, RESPONSE, fe.definition(site.db, RESPONSE).replace("Payment completed", "Paid"))
    version = site.db.run("SELECT id FROM function_versions")[0]["id"]
    assert admin.get(f"/admin/functions/{RESPONSE}").status_code == 200
    viewer = site.portal("watcher", "viewer")
    listing = viewer.get("/admin/functions")
    assert listing.status_code == 200 and RESPONSE in listing.text  # the names, not the source
    assert f'href="/admin/functions/{RESPONSE}"' not in listing.text  # no link to a page it may not open
    assert f'href="/admin/functions/{RESPONSE}"' in admin.get("/admin/functions").text
    for path in (f"/admin/functions/{RESPONSE}", f"/admin/functions/{RESPONSE}/versions/{version}"):
        assert viewer.get(path).status_code == 403, path
    assert "Payment completed" in admin.get("/admin/audit").text
    audit = viewer.get("/admin/audit")
    assert "function.save" in audit.text and "Payment completed" not in audit.text


ALTERATIONS = {
    "security_invoker": f'ALTER FUNCTION mospay_fn."{REQUEST}"(text, jsonb) SECURITY INVOKER',
    "owner": f'ALTER FUNCTION mospay_fn."{REQUEST}"(text, jsonb) OWNER TO CURRENT_USER',
    "set_clause": f'ALTER FUNCTION mospay_fn."{REQUEST}"(text, jsonb) SET search_path = public',
    "replaced": f'CREATE OR REPLACE FUNCTION mospay_fn."{REQUEST}"(unique_id text, data_input jsonb) '
                "RETURNS jsonb LANGUAGE sql AS $f$ SELECT jsonb_build_object('n', (SELECT count(*) FROM users)) $f$",
}


@pytest.mark.parametrize("alteration", sorted(ALTERATIONS))
def test_a_function_changed_behind_mospays_back_is_refused_and_a_save_mends_it(db, db_url, client_creds, sim,
                                                                                 alteration):
    source = fe.definition(db, REQUEST)
    db.run(ALTERATIONS[alteration])
    client, database = app_client(db_url)
    try:
        refused = client.simulate_post("/api/v1/payment/process", **payment(client_creds, f010="p-1"))
        assert refused.status_code == 502 and refused.json["error"]["code"] == "function_refused", refused.text
        assert db.run("SELECT count(*) AS n FROM transactions")[0]["n"] == 0
        fe.save(db, ROOT, REQUEST, source)  # through MosPay: the function is the role's again
        sim.reset()
        paid = client.simulate_post("/api/v1/payment/process", **payment(client_creds, f010="p-2"))
        assert paid.status_code == 200 and paid.json["status"] == "SUCCESSFUL", paid.text
    finally:
        database.close()


def test_a_status_function_changed_behind_mospays_back_is_refused(db, client_creds):
    db.run(f'ALTER FUNCTION mospay_fn."{REQUEST}Status"(text, jsonb, integer, jsonb) SECURITY INVOKER')
    with pytest.raises(errors.FunctionError) as refused:
        db.run("SELECT mospay.call_status_function(:n, 'u-1', '{}', NULL, NULL)", n=REQUEST + "Status")
    assert refused.value.code == "function_refused"


def test_an_upgraded_database_hands_its_functions_to_the_function_role(v010_url):
    old = Database(v010_url, size=2)
    try:
        assert old.run("SELECT count(*) AS n FROM pg_proc WHERE pronamespace = 'mospay_fn'::regnamespace "
                       "AND pg_get_userbyid(proowner) <> 'mospay_function'")[0]["n"] > 0
        migrate.apply(old)
        counts = old.run("SELECT count(*) AS n, count(c.oid) AS confined FROM pg_proc p "
                         "LEFT JOIN mospay.confined_functions c ON c.oid = p.oid "
                         "WHERE p.pronamespace = 'mospay_fn'::regnamespace")[0]
        assert counts["n"] > 0 and counts["confined"] == counts["n"]
    finally:
        old.close()


def test_mospay_warns_when_its_own_role_is_a_superuser(db, db_url):
    from mospay import runtime
    from tests.support import mospay_cli
    assert "is a superuser" in runtime.role_warning(db)
    shown = mospay_cli(db_url, "config", keys={"SECRET_KEY": "s" * 40, "JWT_SECRET_KEY": "t" * 40})
    assert shown.returncode == 0 and "warning: MosPay's database role" in shown.stderr
    plain = "mospay_plain_" + secrets.token_hex(4)  # a control: a role of its own is not warned about
    db.run(f"CREATE ROLE {plain} LOGIN")
    try:
        parts = urlsplit(db_url)
        user_db = Database(urlunsplit(parts._replace(netloc=f"{plain}@{parts.netloc.rsplit('@', 1)[-1]}")), size=1)
        try:
            assert runtime.role_warning(user_db) is None
        finally:
            user_db.close()
    finally:
        db.run(f"DROP ROLE {plain}")
