"""Database lifecycle through the CLI a newcomer runs: migrate (idempotent, versioned, printed),
backup to a file and restore into a fresh database with the same rows, and the upgrade path."""

from __future__ import annotations

import base64
import json

import falcon.testing
import pytest

from mospay import accounts, catalogue
from mospay.app import create_app
from mospay.config import Config
from mospay.db import Database
from mospay.migrate import SCHEMA_VERSION
from tests.catalog import row_counts, snapshot
from tests.support import mospay_cli

KEYS = {"SECRET_KEY": "b" * 40, "JWT_SECRET_KEY": "c" * 40}


def cli(url, *args, timeout=120):
    return mospay_cli(url, *args, keys=KEYS, timeout=timeout)


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
    db.run("SELECT mospay.seal_functions()")  # as MosPay's own saves do
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
        assert "restore: 100%" in result.stderr and f"is at version {SCHEMA_VERSION:03d}" in result.stderr
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
        dry = cli(url, "migrate", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "migrate: the database is empty" in dry.stderr and "pending: fresh install" in dry.stderr
        assert json.loads(dry.stdout)["schema_version"] is None
        empty = Database(url, size=2)
        try:  # the dry run created nothing, not even the version table
            assert snapshot(empty)["tables"] == []
        finally:
            empty.close()
        first = cli(url, "migrate")
        assert first.returncode == 0, first.stderr
        step = f"fresh install of version {SCHEMA_VERSION:03d} from schema/"
        assert f"migrate: applied {step}" in first.stderr
        assert json.loads(first.stdout) == {"schema_version": SCHEMA_VERSION, "applied": [step]}
        db = Database(url, size=2)
        try:
            shape = columns(db)
            second = cli(url, "migrate")
            assert second.returncode == 0 and "migrate: nothing to do" in second.stderr
            assert json.loads(second.stdout)["applied"] == []
            assert columns(db) == shape
        finally:
            db.close()
    finally:
        postgres.drop_database(name)
