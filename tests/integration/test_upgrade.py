"""Upgrades in place: a database made by v0.1.0 (tests/fixtures/v0.1.0.sql) goes through `python -m mospay
migrate`, then serves its old transactions, settles its open ones, takes new payments and has exactly
a fresh install's schema. Also the runner's promises: one transaction per step, once under concurrency,
and never a downgrade. `pytest -s` prints a summary of the upgrade."""

from __future__ import annotations

import base64
import json
import shutil
import threading
import time

import falcon.testing
import pg8000.native
import pytest

from mospay import __version__, errors, migrate
from mospay.app import create_app
from mospay.config import Config
from mospay.db import Database, connect_params
from mospay.provider import Provider
from mospay.reconciler import Reconciler
from mospay.simulator import Simulator
from tests.catalog import differences, row_counts, snapshot
from tests.support import ROOT, load_sql_file, mospay_cli, provider_reference

FIXTURE = ROOT / "tests" / "fixtures" / "v0.1.0.sql"
FACTS = json.loads((ROOT / "tests" / "fixtures" / "v0.1.0.json").read_text(encoding="utf-8"))
KEYS = {"SECRET_KEY": FACTS["secret_key"], "JWT_SECRET_KEY": FACTS["jwt_secret_key"]}
# What the provider says about the payments v0.1.0 left open (the simulator is told below).
PROVIDER_VERDICTS = {"ak-pending": "SUCCESSFUL", "ks-pending": "FAILED", "ak-500": "SUCCESSFUL",
                     "ak-timeout": "FAILED", "ak-crash": "SUCCESSFUL"}


@pytest.fixture
def v010_url(postgres):
    name = postgres.create_database()  # empty: the dump creates everything
    url = postgres.url_for(name)
    load_sql_file(url, FIXTURE)
    yield url
    postgres.drop_database(name)


@pytest.fixture(scope="module")
def sim():
    with Simulator(hang_seconds=2, callback_delay=60) as simulator:
        yield simulator


def headers(app_id: str) -> dict:
    creds = FACTS["clients"][app_id]
    raw = base64.b64encode(f"{creds['api_username']}:{creds['api_secret']}".encode()).decode()
    return {"Authorization": f"Basic {raw}", "App-ID": app_id}


def payment(app_id, service, f010, msisdn) -> dict:
    return {"f000": service, "f001": "collection", "f002": "collection", "f003": app_id, "f004": "700.00",
            "f005": msisdn, "f006": "c", "f007": "e", "f008": "p", "f009": "d", "f010": f010}


def test_a_v010_database_upgrades_in_place_and_keeps_working(v010_url, db, sim):
    old = Database(v010_url, size=4)
    try:
        report = upgrade_and_use(old, fresh=db, sim=sim)
    finally:
        old.close()
    print("\n" + "\n".join(report))


def upgrade_and_use(old: Database, fresh: Database, sim: Simulator) -> list[str]:
    url = old.url
    report = [f"upgrade of a v0.1.0 database ({FIXTURE.relative_to(ROOT)})"]
    assert [(r["version"], r["name"]) for r in old.run("SELECT version, name FROM schema_migrations")] == \
        [(1, "baseline schema.sql")]
    rows_before, shape_before = row_counts(old), snapshot(old)
    expected = [m.label() for m in migrate.known()[1:]]

    dry = mospay_cli(url, "migrate", "--dry-run", keys=KEYS)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout) == {"schema_version": 1, "target_version": migrate.SCHEMA_VERSION,
                                      "would_apply": expected}
    assert snapshot(old) == shape_before and row_counts(old) == rows_before  # a dry run changes nothing
    report += ["$ python -m mospay migrate --dry-run", *("  " + line for line in dry.stderr.splitlines())]

    real = mospay_cli(url, "migrate", keys=KEYS)
    assert real.returncode == 0, real.stderr
    assert json.loads(real.stdout) == {"schema_version": migrate.SCHEMA_VERSION, "applied": expected}
    report += ["$ python -m mospay migrate", *("  " + line for line in real.stderr.splitlines())]
    rows_after = row_counts(old)
    assert {t: n for t, n in rows_after.items() if t in rows_before and t != "public.schema_migrations"} == \
        {t: n for t, n in rows_before.items() if t != "public.schema_migrations"}  # every row kept
    kept = ", ".join(f"{t.split('.')[-1]} {n}" for t, n in rows_before.items() if n)
    report.append(f"rows kept: {kept}")

    # (d) The schema is a fresh install's, compared in the catalogs (generated mospay_fn functions aside).
    upgraded, new = snapshot(old), snapshot(fresh)
    assert differences(upgraded, new) == []
    report.append("schema equals a fresh install's: " + ", ".join(f"{len(v)} {k}" for k, v in new.items()))

    app = falcon.testing.TestClient(create_app(Config(database_url=url, secret_key=KEYS["SECRET_KEY"],
                                                      jwt_secret_key=KEYS["JWT_SECRET_KEY"]), old, Provider()))
    # (a) The old transactions are served with the old clients' credentials, as they were answered then.
    for f010, app_id in (("ak-ok-1", "akaliza"), ("ks-declined", "kigalishop")):
        resp = app.simulate_get(f"/api/v1/payment/{f010}", headers=headers(app_id))
        stored = old.run("SELECT status, response_body FROM transactions WHERE f010 = :f", f=f010)[0]
        assert resp.status_code == 200 and resp.json["status"] == FACTS["transactions"][f010] == stored["status"]
        assert resp.json["transaction_id"] == stored["response_body"]["transaction_id"]
        report.append(f"old transaction served: {app_id} {f010} -> HTTP {resp.status_code} {resp.json['status']}")
    token = app.simulate_post("/api/v1/auth/token", headers=headers("akaliza"))
    assert token.status_code == 200 and token.json["access_token"]
    raw = base64.b64encode(f"admin:{FACTS['admin_password']}".encode()).decode()
    admin = app.simulate_post("/api/v1/admin/token", headers={"Authorization": f"Basic {raw}"})
    assert admin.status_code == 200 and admin.json["access_token"]  # v0.1.0's admin signs in as before

    # (b) The open ones are settled by the reconciler, through their v0.1.0-generated Status functions.
    old.run("UPDATE services SET service_url = :u", u=sim.url)
    for f010, verdict in PROVIDER_VERDICTS.items():
        sim.server.ledger.settle(f010, verdict)
    open_before = {r["f010"]: r["status"] for r in old.run(
        "SELECT f010, status FROM transactions WHERE status IN ('RECEIVED', 'PENDING', 'UNKNOWN') ORDER BY f010")}
    assert set(open_before) == set(PROVIDER_VERDICTS) and set(open_before.values()) == {"RECEIVED", "PENDING", "UNKNOWN"}
    counts = Reconciler(old, Provider()).run_once()
    assert counts == {"checked": 5, "settled": 5, "stuck": 0}
    after = {r["f010"]: (r["status"], r["status_reason"]) for r in old.run(
        "SELECT f010, status, status_reason FROM transactions WHERE f010 = ANY (:f)", f=list(PROVIDER_VERDICTS))}
    assert after == {f010: (verdict, "reconciliation") for f010, verdict in PROVIDER_VERDICTS.items()}
    report.append("reconciler settled: " + ", ".join(f"{f} {open_before[f]} -> {after[f][0]}" for f in sorted(after)))
    events = old.run("SELECT t.f010 FROM webhook_events w JOIN transactions t ON t.id = w.transaction_id "
                     "WHERE t.f010 = ANY (:f) ORDER BY 1", f=list(PROVIDER_VERDICTS))
    assert [e["f010"] for e in events] == sorted(f for f in PROVIDER_VERDICTS if f.startswith("ak-"))  # akaliza has a callback_url

    # (c) New payments work, for both clients, through their old generated functions.
    # The provider is sent the transaction's own reference now, no longer the client's f010.
    for app_id, service, f010 in (("akaliza", "mtnmomorwa", "ak-new-1"), ("kigalishop", "airtelrwa", "ks-new-1")):
        resp = app.simulate_post("/api/v1/payment/process", json=payment(app_id, service, f010, "+250788300000"),
                                 headers=headers(app_id))
        assert resp.status_code == 200 and resp.json["status"] == "SUCCESSFUL", resp.text
        report.append(f"new payment: {app_id} {f010} via {service} -> HTTP {resp.status_code} {resp.json['status']}")
        assert sim.status(provider_reference(resp.json["transaction_id"])) == "SUCCESSFUL"
        assert sim.status(f010) is None
    return report


# ----------------------------------------------------------------------------- the runner's promises

def migrations_dir(tmp_path, *sources: str):
    """The real migrations plus `sources` as the next numbers: valid whatever the repository holds."""
    target = tmp_path / "migrations"
    target.mkdir()
    for path in migrate.MIGRATIONS_DIR.glob("*.sql"):
        shutil.copy(path, target)
    for offset, source in enumerate(sources, start=1):
        (target / f"{migrate.SCHEMA_VERSION + offset:03d}_step_{offset}.sql").write_text(source)
    return target


def versions(db) -> list[int]:
    return [r["version"] for r in db.run("SELECT version FROM schema_migrations ORDER BY version")]


def test_pending_migrations_run_once_in_order_and_the_catalog_comparison_sees_them(db, tmp_path):
    later = migrations_dir(tmp_path, "ALTER TABLE clients ADD COLUMN ops_note text;",
                           "CREATE INDEX clients_ops_note_idx ON clients (ops_note);")
    before = versions(db)
    fresh_shape = snapshot(db)
    v1, v2 = migrate.SCHEMA_VERSION + 1, migrate.SCHEMA_VERSION + 2
    plan = migrate.plan(db, later)
    assert plan.steps == [f"{v1:03d}_step_1", f"{v2:03d}_step_2"] and plan.target == v2 and not plan.fresh
    assert snapshot(db) == fresh_shape  # planning changes nothing
    assert migrate.apply(db, later) == plan.steps
    assert migrate.apply(db, later) == [] and versions(db) == [*before, v1, v2]
    # The control for the upgrade test: a migration that schema/ lacks is a difference.
    assert any("ops_note" in line for line in differences(snapshot(db), fresh_shape))


def test_a_failing_migration_rolls_back_entirely_and_leaves_the_version(db, tmp_path):
    later = migrations_dir(tmp_path, "ALTER TABLE clients ADD COLUMN ops_note text;",
                           "ALTER TABLE services ADD COLUMN half_done text;\n"
                           "CREATE TABLE never_kept (id integer);\n"
                           "SELECT 1 / 0;\n")
    before, shape = versions(db), snapshot(db)
    with pytest.raises(migrate.SchemaError) as failed:
        migrate.apply(db, later)
    assert failed.value.code == "migration_failed"
    assert f"{migrate.SCHEMA_VERSION + 2:03d}_step_2 failed" in failed.value.message
    assert "division by zero" in failed.value.message
    # The first step is committed (its own transaction); nothing of the second one is left.
    assert versions(db) == [*before, migrate.SCHEMA_VERSION + 1]
    lines = differences(snapshot(db), shape)
    assert lines and all("ops_note" in line for line in lines)


def test_two_concurrent_runs_apply_each_step_exactly_once(db, db_url, tmp_path):
    later = migrations_dir(tmp_path, "CREATE TABLE IF NOT EXISTS step_runs (step integer);\n"
                                     "INSERT INTO step_runs VALUES (1);",
                           "INSERT INTO step_runs VALUES (2);")
    holder = pg8000.native.Connection(**connect_params(db_url))
    results, failures = [], []

    def run():
        database = Database(db_url, size=1)
        try:
            results.append(migrate.apply(database, later))
        except Exception as exc:  # reported by the assertion below
            failures.append(exc)
        finally:
            database.close()

    try:
        # Hold the lock until both runs wait for it, so that they really overlap.
        holder.run("SELECT pg_advisory_lock(:lock)", lock=migrate.LOCK)
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while waiting_for_lock(db) < 2:
            assert time.monotonic() < deadline, "the two runs never waited for the lock"
            time.sleep(0.02)
        holder.run("SELECT pg_advisory_unlock(:lock)", lock=migrate.LOCK)
        for thread in threads:
            thread.join(timeout=60)
    finally:
        holder.close()
    assert failures == []
    applied = sorted(step for steps in results for step in steps)
    assert applied == [f"{migrate.SCHEMA_VERSION + 1:03d}_step_1", f"{migrate.SCHEMA_VERSION + 2:03d}_step_2"]
    assert [r["step"] for r in db.run("SELECT step FROM step_runs ORDER BY step")] == [1, 2]


def waiting_for_lock(db) -> int:
    return db.run("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                  "AND objid = :lock AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                  lock=migrate.LOCK)[0]["n"]


def test_a_database_newer_than_the_code_is_refused_not_downgraded(db, db_url):
    newer = migrate.SCHEMA_VERSION + 1
    db.run("INSERT INTO schema_migrations (version, name) VALUES (:v, '999_from_the_future')", v=newer)
    shape = snapshot(db)
    with pytest.raises(migrate.SchemaError) as refused:
        migrate.apply(db)
    assert refused.value.code == "schema_too_new" and f"schema version {newer:03d}" in refused.value.message
    for args in (("migrate",), ("migrate", "--dry-run")):
        result = mospay_cli(db_url, *args, keys=KEYS)
        assert result.returncode == 1 and json.loads(result.stderr.strip().splitlines()[-1])["error"]["code"] == \
            "schema_too_new", result.stderr
    started = mospay_cli(db_url, "stuck", keys=KEYS)  # any other command starts the runtime: refused too
    assert started.returncode == 2 and "never downgrades" in started.stderr
    assert snapshot(db) == shape and versions(db)[-1] == newer


def test_healthz_shows_the_versions_without_asking_the_database(postgres):
    name = postgres.create_database()
    url = postgres.url_for(name)
    database = Database(url, size=2)
    try:
        migrate.apply(database)
        config = Config(database_url=url, **{k.lower(): v for k, v in KEYS.items()})
        app = falcon.testing.TestClient(create_app(config, database, Provider(),
                                                         schema_version=migrate.current_version(database)))
        expected = {"status": "ok", "version": __version__, "schema_version": migrate.SCHEMA_VERSION,
                    "expected_schema_version": migrate.SCHEMA_VERSION}
        assert app.simulate_get("/healthz").json == expected
        postgres.drop_database(name, wait=True)  # the database is gone: readiness says so, liveness answers as before
        assert app.simulate_get("/readyz").status_code == 503
        assert app.simulate_get("/healthz").json == expected
    finally:
        database.close()
        postgres.drop_database(name)


def test_a_step_longer_than_the_pools_read_timeout_still_completes(db_url, tmp_path):
    """A migration's backfill may run for minutes on a big database: the runner waits for it, where a
    request's pool connection gives up. Here the read timeout is 1 s and the step takes 2 s."""
    later = migrations_dir(tmp_path, "SELECT pg_sleep(2);\nCREATE TABLE after_the_wait (id integer);")
    database = Database(db_url, size=2)
    database._params["timeout"] = 1  # the pool's read timeout, shortened for the test (30 s in service)
    try:
        with pytest.raises(errors.MosPayError):  # the control: a pool connection gives up
            database.run("SELECT pg_sleep(2)")
        assert migrate.apply(database, later) == [f"{migrate.SCHEMA_VERSION + 1:03d}_step_1"]
        assert database.run("SELECT to_regclass('after_the_wait') IS NOT NULL AS made")[0]["made"]
    finally:
        database.close()
