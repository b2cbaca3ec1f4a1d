"""DATABASE_URL with password (SCRAM-SHA-256) authentication, as a production server would require."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import urllib3

from mospay.db import Database
from tests.support import free_port, start_process, stop_process, wait_for_line

PASSWORD = "p@ss w:rd/%é"


@pytest.fixture
def scram_database(postgres):
    """A role that must log in with SCRAM, on the test's own embedded cluster (never the shared server)."""
    if not postgres.embedded:
        pytest.skip("needs the embedded test cluster: the shared server's pg_hba.conf is not ours to edit")
    admin = Database(postgres.url, size=1)
    hba = admin.run("SHOW hba_file")[0]["hba_file"]
    with open(hba, encoding="utf-8") as f:
        original = f.read()
    rules = "local all mospay_scram scram-sha-256\nhost all mospay_scram 127.0.0.1/32 scram-sha-256\n"
    with open(hba, "w", encoding="utf-8") as f:
        f.write(rules + original)
    admin.run("SET password_encryption = 'scram-sha-256'")
    admin.run("DROP ROLE IF EXISTS mospay_scram")
    admin.run(f"CREATE ROLE mospay_scram LOGIN PASSWORD '{PASSWORD}'")
    # The least-privileged set-up docs/database-roles.md gives: the function role made by a superuser,
    # and MosPay's role a member of it (it cannot create or grant roles itself).
    admin.run("DO $$ BEGIN CREATE ROLE mospay_function NOLOGIN NOINHERIT; "
              "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    admin.run("GRANT mospay_function TO mospay_scram")
    admin.run("SELECT pg_reload_conf()")
    name = postgres.create_database()
    admin.run(f"ALTER DATABASE {name} OWNER TO mospay_scram")
    yield postgres, name
    postgres.drop_database(name, wait=True)  # before its owner role goes
    with open(hba, "w", encoding="utf-8") as f:
        f.write(original)
    admin.run("SELECT pg_reload_conf()")
    admin.run("DROP ROLE IF EXISTS mospay_scram")
    admin.close()


def _url(postgres, name, password):
    base = postgres.url_for(name)  # postgresql://postgres:@/<db>?host=<socket dir>
    return base.replace("postgres:@", f"mospay_scram:{quote(password, safe='')}@", 1)


def test_run_py_connects_with_a_scram_password(scram_database, tmp_path):
    postgres, name = scram_database
    port = free_port()
    proc = start_process(["run.py", "--port", str(port)],
                         {"DATABASE_URL": _url(postgres, name, PASSWORD), "MOSPAY_DATA_DIR": str(tmp_path)})
    try:
        wait_for_line(proc, r"MosPay listening on", timeout=60)
        resp = urllib3.request("GET", f"http://127.0.0.1:{port}/readyz", retries=False)
        assert resp.status == 200
    finally:
        assert stop_process(proc) == 0


def test_wrong_password_stops_start_up_with_one_line(scram_database, tmp_path):
    postgres, name = scram_database
    proc = start_process(["run.py", "--port", str(free_port())],
                         {"DATABASE_URL": _url(postgres, name, "wrong"), "MOSPAY_DATA_DIR": str(tmp_path)})
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 2
    assert "mospay: cannot start:" in output and "Traceback" not in output
    assert "wrong" not in output.split("cannot start:")[1]
