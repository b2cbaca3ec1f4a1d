"""README's commands as a newcomer runs them: `python run.py` with its embedded database, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import urllib3

from tests.support import ROOT, free_port, start_process, stop_process, wait_for_line


def test_run_py_without_database_url_starts_and_stops_its_own_postgres(tmp_path):
    port = free_port()
    env = {"DATABASE_URL": None, "MOSPAY_DATA_DIR": str(tmp_path / "var"), "SECRET_KEY": None,
           "JWT_SECRET_KEY": None, "MOSPAY_PORT": str(port)}
    started = time.monotonic()
    proc = start_process(["run.py"], env)
    try:
        wait_for_line(proc, r"MosPay listening on", timeout=60)
        resp = urllib3.request("GET", f"http://127.0.0.1:{port}/readyz", retries=False)
        assert resp.status == 200 and resp.json() == {"status": "ready"}
        ready_after = time.monotonic() - started
    finally:
        code = stop_process(proc)
    assert code == 0
    pgdata = tmp_path / "var" / "pgdata"
    assert (pgdata / "PG_VERSION").exists()
    assert not (pgdata / "postmaster.pid").exists(), "the embedded PostgreSQL must stop with MosPay"
    keys = (tmp_path / "var" / "keys").read_text()
    assert "SECRET_KEY=" in keys and "JWT_SECRET_KEY=" in keys
    assert ready_after < 30


def test_run_py_reports_bad_settings_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "run.py"], cwd=ROOT, capture_output=True, text=True, timeout=30,
                            env={"MOSPAY_PORT": "not-a-port", "PATH": "", "MOSPAY_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.strip() == "mospay: MOSPAY_PORT must be a whole number, got 'not-a-port'"


def test_cli_onboards_a_client_end_to_end(postgres, template_db):
    name = postgres.create_database()  # empty: the CLI migrates it first
    env = {"DATABASE_URL": postgres.url_for(name), "SECRET_KEY": "c" * 40, "JWT_SECRET_KEY": "d" * 40}
    try:
        def cli(*args):
            result = subprocess.run([sys.executable, "-m", "mospay", *args], cwd=ROOT, capture_output=True,
                                    text=True, timeout=60, env={**_base_env(), **env})
            return result.returncode, (json.loads(result.stdout) if result.stdout.strip() else None), result.stderr

        code, service, _ = cli("create-service", "mtnmomorwa", "http://127.0.0.1:9000")
        assert code == 0 and service["name"] == "mtnmomorwa"
        code, client, _ = cli("create-client", "Akaliza Ltd", "--app-id", "akaliza")
        assert code == 0 and client["app_id"] == "akaliza" and client["api_secret"].startswith("sk_")
        code, assigned, _ = cli("assign", "akaliza", "mtnmomorwa", "collection")
        assert code == 0 and assigned["functions"] == ["akaliza_mtnmomorwa_collection",
                                                       "RESPONSE_akaliza_mtnmomorwa_collection",
                                                       "akaliza_mtnmomorwa_collectionStatus",
                                                       "akaliza_mtnmomorwa_Refund",
                                                       "RESPONSE_akaliza_mtnmomorwa_Refund",
                                                       "akaliza_mtnmomorwa_RefundStatus"]
        code, _, err = cli("create-client", "Again", "--app-id", "akaliza")
        assert code == 1 and json.loads(err)["error"]["code"] == "already_exists"
        code, _, err = cli("assign", "akaliza", "mtnmomorwa", "bad;route")
        assert code == 1 and json.loads(err)["error"]["field"] == "routes"
    finally:
        postgres.drop_database(name)


def _base_env():
    import os
    return {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY", "JWT_SECRET_KEY")}
