"""Database lifecycle through the CLI a newcomer runs: migrate (idempotent, versioned, printed),
backup to a file and restore into a fresh database with the same rows, and the upgrade path."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import falcon.testing
import pytest

from mospay import accounts, catalogue
from mospay.app import create_app
from mospay.config import Config
from mospay.db import MIGRATIONS_DIR, Database, apply_schema
from tests.support import ROOT

# The repository's own migrations, applied after the baseline on every fresh database.
MIGRATIONS = sorted(p.stem for p in MIGRATIONS_DIR.glob("[0-9][0-9][0-9]_*.sql"))
LATEST = int(MIGRATIONS[-1][:3]) if MIGRATIONS else 1

KEYS = {"SECRET_KEY": "b" * 40, "JWT_SECRET_KEY": "c" * 40}


def cli(url, *args, timeout=120):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MOSPAY_CONFIG")}
    env.update(DATABASE_URL=url, **KEYS)
    return subprocess.run([sys.executable, "-m", "mospay", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def row_counts(db) -> dict:
    tables = [r["t"] for r in db.run("SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS t "
                                     "FROM pg_tables WHERE schemaname IN ('public', 'mospay', 'mospay_fn')")]
    counts = {t: db.run(f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in tables}  # names from the catalog
    counts["functions in mospay_fn"] = db.run(
        "SELECT count(*) AS n FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE nspname = 'mospay_fn'")[0]["n"]
    return counts


def columns(db) -> list[tuple]:
    return [tuple(r.values()) for r in db.run(
        "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns "
        "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position")]


@pytest.fixture
def db_with_payments(db_url):
    """A database with a service, a client, its functions and 12 payments (transactions, events, logs)."""
    db = Database(db_url, size=4)
    accounts.ensure_default_admin(db, "first-password")  # as every start does
    accounts.create_admin(db, {"username": "ops", "password": "ops-password-1", "role": "admin"})
    catalogue.create_service(db, {"name": "mtnmomorwa", "service_url": "http://127.0.0.1:9"})
    creds = accounts.create_client(db, KEYS["SECRET_KEY"], {"company_name": "Akaliza", "app_id": "akaliza"})
    catalogue.assign_service(db, "akaliza", {"service": "mtnmomorwa", "routes": ["collection"]})
    # Answer from the function itself (action OUTPUT): payments complete without a provider.
    db.run("""CREATE OR REPLACE FUNCTION mospay_fn."akaliza_mtnmomorwa_collection"(unique_id text, data_input jsonb)
              RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"action": "OUTPUT", "status": "SUCCESSFUL"}'::jsonb $$""")
    client = falcon.testing.TestClient(create_app(Config(database_url=db_url, secret_key=KEYS["SECRET_KEY"],
                                                         jwt_secret_key=KEYS["JWT_SECRET_KEY"]), db))
    basic = base64.b64encode(f"{creds['api_username']}:{creds['api_secret']}".encode()).decode()
    for i in range(12):
        body = {"f000": "mtnmomorwa", "f001": "collection", "f002": "collection", "f003": "akaliza",
                "f004": f"{100 + i}.00", "f005": "+250788123456", "f006": "c", "f007": "e", "f008": "p",
                "f009": "d", "f010": f"order-{i}"}
        resp = client.simulate_post("/api/v1/payment/process", json=body,
                                    headers={"Authorization": f"Basic {basic}", "App-ID": "akaliza"})
        assert resp.status_code == 200, resp.text
    yield db
    db.close()


def test_backup_then_restore_into_a_fresh_database_keeps_every_row(postgres, db_url, db_with_payments, tmp_path):
    before = row_counts(db_with_payments)
    assert before["public.transactions"] == 12 and before["public.users"] == 2 and before["public.api_logs"] >= 12
    dump = tmp_path / "mospay.dump"
    result = cli(db_url, "backup", str(dump))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["bytes"] == dump.stat().st_size > 0
    assert "backup: 100%" in result.stderr  # progress, one line per 10% when not on a terminal
    assert not (tmp_path / "mospay.dump.partial").exists()

    fresh = postgres.create_database()
    try:
        url = postgres.url_for(fresh)
        result = cli(url, "restore", str(dump))
        assert result.returncode == 0, result.stderr
        assert "restore: 100%" in result.stderr and f"migrate: up to date at version {LATEST:03d}" in result.stderr
        restored = Database(url, size=2)
        try:
            assert row_counts(restored) == before
            assert [r["f010"] for r in restored.run("SELECT f010 FROM transactions ORDER BY f010")] == \
                [r["f010"] for r in db_with_payments.run("SELECT f010 FROM transactions ORDER BY f010")]
            assert columns(restored) == columns(db_with_payments)
        finally:
            restored.close()
        # a second restore over the now non-empty database is refused unless asked for
        again = cli(url, "restore", str(dump))
        assert again.returncode == 1 and json.loads(again.stderr.strip().splitlines()[-1])["error"]["code"] == "database_not_empty"
    finally:
        postgres.drop_database(fresh)


def test_restore_rejects_a_file_that_is_not_a_backup(postgres, tmp_path):
    bogus = tmp_path / "not-a-dump"
    bogus.write_text("hello")
    fresh = postgres.create_database()
    try:
        result = cli(postgres.url_for(fresh), "restore", str(bogus))
        assert result.returncode == 1 and json.loads(result.stderr.strip().splitlines()[-1])["error"]["code"] == "invalid_backup"
    finally:
        postgres.drop_database(fresh)


def test_migrate_prints_each_step_and_a_second_run_is_a_no_op(postgres):
    name = postgres.create_database()  # empty
    try:
        url = postgres.url_for(name)
        first = cli(url, "migrate")
        assert first.returncode == 0, first.stderr
        assert "migrate: applied 001 baseline schema.sql" in first.stderr
        assert json.loads(first.stdout) == {"schema_version": LATEST,
                                            "applied": ["001 baseline schema.sql", *MIGRATIONS]}
        db = Database(url, size=2)
        try:
            shape = columns(db)
            second = cli(url, "migrate")
            assert second.returncode == 0 and "(nothing to do)" in second.stderr
            assert json.loads(second.stdout)["applied"] == []
            assert columns(db) == shape
        finally:
            db.close()
    finally:
        postgres.drop_database(name)


def test_an_older_database_gets_a_pending_migration_once(db, tmp_path):
    """The upgrade path: a database at version 1 (today's schema) and a later migration that adds a
    column. There is no real 002 yet (nothing needed a schema change), so the migration is written here."""
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "002_clients_note.sql").write_text(
        "ALTER TABLE clients ADD COLUMN IF NOT EXISTS ops_note text;\n")
    catalogue.create_service(db, {"name": "mtnmomorwa", "service_url": "http://127.0.0.1:9"})
    assert "ops_note" not in {c[1] for c in columns(db) if c[0] == "clients"}
    assert apply_schema(db, migrations) == ["002_clients_note"]
    assert "ops_note" in {c[1] for c in columns(db) if c[0] == "clients"}
    assert apply_schema(db, migrations) == []
    versions = [r["version"] for r in db.run("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == sorted({1, 2} | {int(m[:3]) for m in MIGRATIONS})
    assert db.run("SELECT count(*) AS n FROM services")[0]["n"] == 1  # data kept
