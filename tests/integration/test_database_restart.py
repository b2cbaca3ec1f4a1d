"""PostgreSQL restarted under a running MosPay: clean 503s during the outage, recovery without a restart.
Uses a private pgserver cluster in a temp dir: the shared server is never touched."""

from __future__ import annotations

import base64
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import urllib3

from mospay import accounts, catalogue
from mospay.db import Database
from tests.integration.conftest import TEST_KEYS
from tests.support import free_port, start_process, stop_embedded, stop_process, wait_for_line

pgserver = pytest.importorskip("pgserver")
from pgserver._commands import pg_ctl  # noqa: E402  (pgserver's own wrapper: runs as its system user)

pytestmark = pytest.mark.embedded  # its own pgserver cluster (or none), never the suite's database


class PrivateCluster:
    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="mospay-restart-"))
        self.pgdata = self.tmp / "pgdata"
        self.server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        self.server.psql("CREATE DATABASE mospay;")
        self.url = self.server.get_uri("mospay")

    def stop(self):
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self.server.system_user, timeout=10)

    def start(self):
        # The same socket directory as pgserver's first start, so MosPay's URL stays valid.
        pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {self.pgdata}", "-l", str(self.server.log), "start"],
               pgdata=self.pgdata, user=self.server.system_user, timeout=10)

    def close(self):
        try:
            stop_embedded(self.server)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture
def cluster():
    c = PrivateCluster()
    yield c
    c.close()


def test_database_restart_gives_clean_503s_then_recovers_by_itself(cluster, simulator, tmp_path):
    port = free_port()
    proc = start_process(["run.py", "--port", str(port)], {
        "DATABASE_URL": cluster.url, "MOSPAY_DATA_DIR": str(tmp_path), "MOSPAY_RECONCILE_INTERVAL": "0.2",
        "MOSPAY_LOG_LEVEL": "WARNING", **TEST_KEYS})
    db = None
    try:
        wait_for_line(proc, r"MosPay listening on", timeout=60)
        db = Database(cluster.url, size=2)
        catalogue.create_service(db, {"name": "momo", "service_url": simulator, "timeout_s": 2})
        creds = accounts.create_client(db, TEST_KEYS["SECRET_KEY"], {"company_name": "S", "app_id": "shop"})
        catalogue.assign_service(db, "shop", {"service": "momo", "routes": ["collection"]})
        db.close()
        raw = base64.b64encode(f"{creds['api_username']}:{creds['api_secret']}".encode()).decode()
        headers = {"Authorization": f"Basic {raw}", "App-ID": "shop"}
        http = urllib3.PoolManager(retries=False, timeout=10)
        url = f"http://127.0.0.1:{port}"
        n = iter(range(1000))

        def pay():
            body = {"f000": "momo", "f001": "collection", "f002": "collection", "f003": "shop",
                    "f004": "10.00", "f005": "+250788123456", "f006": "c", "f007": "e", "f008": "p",
                    "f009": "d", "f010": f"restart_{next(n)}"}
            return http.request("POST", url + "/api/v1/payment/process", json=body, headers=headers)

        for _ in range(3):  # warm the pool: these connections will all be dead after the restart
            assert pay().status == 200

        cluster.stop()
        for _ in range(3):
            started = time.monotonic()
            resp = pay()
            assert time.monotonic() - started < 3, "a request hung during the outage"
            assert resp.status == 503, resp.data
            error = resp.json()["error"]
            assert error["code"] == "service_unavailable" and "Traceback" not in error["message"]
        assert http.request("GET", url + "/readyz").status == 503
        assert http.request("GET", url + "/healthz").status == 200  # the process itself is alive

        cluster.start()
        # The outage's first failure emptied the pool of dead connections: no request after it fails.
        for _ in range(3):
            resp = pay()
            assert resp.status == 200 and resp.json()["status"] == "SUCCESSFUL", resp.data
        assert http.request("GET", url + "/readyz").status == 200
        assert proc.poll() is None  # recovered without a restart
    finally:
        stop_process(proc)
