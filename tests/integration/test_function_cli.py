"""`python -m mospay function-show / function-save / function-dry-run`: a client function kept in version
control, with the portal editor's checks, exit codes, and an audit row naming the operator."""

from __future__ import annotations

import getpass
import json
import subprocess
import sys

import pytest

from mospay import accounts, catalogue
from tests.support import ROOT, mospay_cli

KEYS = {"SECRET_KEY": "f" * 40, "JWT_SECRET_KEY": "g" * 40}
NAME = "RESPONSE_akaliza_mtnmomorwa_collection"


@pytest.fixture
def assigned(db):
    catalogue.create_service(db, {"name": "mtnmomorwa", "service_url": "http://127.0.0.1:9"})
    accounts.create_client(db, KEYS["SECRET_KEY"], {"company_name": "Akaliza", "app_id": "akaliza"})
    catalogue.assign_service(db, "akaliza", {"service": "mtnmomorwa", "routes": ["collection"]})
    return db


def cli(url, *args):
    return mospay_cli(url, *args, keys=KEYS)


def audit_rows(db):
    return [(r["username"], r["action"], r["target_id"]) for r in db.run(
        "SELECT username, action, target_id FROM audit_log WHERE action LIKE 'function.%' ORDER BY id")]


def stored(db) -> str:
    return db.run("SELECT pg_get_functiondef(p.oid) AS s FROM pg_proc p WHERE p.proname = :n", n=NAME)[0]["s"]


def test_show_then_dry_run_then_save_round_trip(assigned, db_url, tmp_path):
    db = assigned
    shown = cli(db_url, "function-show", NAME, "--user", "deployer")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == stored(db)  # the statement itself, ready for a file
    edited = tmp_path / f"{NAME}.sql"
    edited.write_text(shown.stdout.replace("'Payment completed'", "'Paid from git'"), encoding="utf-8")

    dry = cli(db_url, "function-dry-run", NAME, str(edited), "--user", "deployer",
              "--data-output", '{"status": "SUCCESSFUL"}')
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["result"]["message"] == "Paid from git"
    assert "Paid from git" not in stored(db)  # a dry run changes nothing

    saved = cli(db_url, "function-save", NAME, str(edited))  # no --user: the OS user is the operator
    assert saved.returncode == 0, saved.stderr
    assert json.loads(saved.stdout)["saved"] is True
    assert "Paid from git" in stored(db)
    assert db.run("SELECT created_by FROM function_versions WHERE name = :n", n=NAME)[0]["created_by"] == \
        getpass.getuser()
    again = cli(db_url, "function-show", NAME, "--json", "--user", "deployer")
    assert json.loads(again.stdout) == {"name": NAME, "source": stored(db)}
    assert audit_rows(db) == [("deployer", "function.show", NAME), ("deployer", "function.dry_run", NAME),
                              (getpass.getuser(), "function.save", NAME), ("deployer", "function.show", NAME)]
    owner = db.run("SELECT pg_get_userbyid(proowner) AS o, prosecdef FROM pg_proc WHERE proname = :n", n=NAME)
    assert owner == [{"o": "mospay_function", "prosecdef": True}]


@pytest.mark.parametrize("case, mutate, code", [
    ("other_function", lambda s: s.replace("RESPONSE_akaliza", "RESPONSE_other", 1), "wrong_function"),
    ("two_statements", lambda s: s.rstrip() + ";\nDROP TABLE clients;\n", "sql_error"),
    ("invalid_sql", lambda s: s.replace("BEGIN", "BEGIN nonsense here", 1), "sql_error"),
])
def test_save_and_dry_run_refuse_what_the_editor_refuses(assigned, db_url, tmp_path, case, mutate, code):
    db = assigned
    before = stored(db)
    bad = tmp_path / "bad.sql"
    bad.write_text(mutate(before), encoding="utf-8")
    for command in ("function-save", "function-dry-run"):
        result = cli(db_url, command, NAME, str(bad), "--user", "deployer")
        assert result.returncode == 1, (command, result.stdout)
        assert json.loads(result.stderr)["error"]["code"] == code, (command, result.stderr)
    assert stored(db) == before
    assert db.run("SELECT count(*) AS n FROM clients")[0]["n"] == 1
    assert ("deployer", "function.save", NAME) not in audit_rows(db)


def test_a_hostile_dry_run_is_refused_and_audited(assigned, db_url, tmp_path):
    db = assigned
    hostile = tmp_path / "hostile.sql"
    hostile.write_text(f'CREATE OR REPLACE FUNCTION mospay_fn."{NAME}"(unique_id text, data_input jsonb, '
                       "code integer, data_output jsonb) RETURNS jsonb LANGUAGE plpgsql AS $f$ BEGIN "
                       "RETURN (SELECT jsonb_agg(password_hash) FROM users); END $f$\n", encoding="utf-8")
    result = cli(db_url, "function-dry-run", NAME, str(hostile), "--user", "mallory")
    assert result.returncode == 1 and "permission denied for table users" in result.stderr
    row = db.run("SELECT username, after FROM audit_log WHERE action = 'function.dry_run'")[0]
    assert row["username"] == "mallory" and row["after"]["ok"] is False


def test_unknown_function_and_missing_file_are_errors(assigned, db_url, tmp_path):
    unknown = cli(db_url, "function-show", "nosuch_x_y")
    assert unknown.returncode == 1 and json.loads(unknown.stderr)["error"]["code"] == "function_not_found"
    missing = cli(db_url, "function-save", NAME, str(tmp_path / "nosuch.sql"))
    assert missing.returncode == 1 and json.loads(missing.stderr)["error"]["field"] == "file"


def test_the_cli_does_not_import_falcon():
    code = "import sys, mospay.__main__, mospay.function_commands; print('falcon' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_rotating_a_webhook_secret_from_the_cli_is_audited_with_the_operator(assigned, db_url):
    """The portal's and the admin API's rotations write an audit row; the CLI's did not."""
    done = cli(db_url, "rotate-webhook-secret", "akaliza", "--overlap", "600", "--user", "night-ops")
    assert done.returncode == 0, done.stdout + done.stderr
    secret = json.loads(done.stdout)["webhook_secret"]
    rows = assigned.run("SELECT username, action, target_id, after::text AS after FROM audit_log "
                        "WHERE action = 'client.rotate_webhook_secret'")
    assert [(r["username"], r["target_id"]) for r in rows] == [("night-ops", "akaliza")]
    assert secret not in rows[0]["after"]  # shown once on stdout, masked in the trail
    unknown = cli(db_url, "rotate-webhook-secret", "nobody1")
    assert unknown.returncode != 0 and "client_not_found" in unknown.stdout + unknown.stderr
