"""Helpers for tests that run several `python run.py` processes on one fresh database."""

from __future__ import annotations

import base64
import secrets

from mospay import accounts, catalogue
from mospay.db import Database
from tests.integration.conftest import TEST_KEYS
from tests.support import free_port, start_process, stop_process, wait_for_line


class Fleet:
    """MosPay processes sharing one fresh database; each on its own loopback port."""

    def __init__(self, postgres, tmp_path):
        self._postgres = postgres
        self._tmp = tmp_path
        self.name = postgres.create_database()
        self.url = postgres.url_for(self.name)
        self.procs: dict[int, object] = {}
        self.db = None

    def start(self, port=None, **env):
        port = port or free_port()
        full_env = {"DATABASE_URL": self.url, "MOSPAY_DATA_DIR": str(self._tmp / f"data{port}"),
                    "MOSPAY_ADMIN_PASSWORD": "first-password", "MOSPAY_LOG_LEVEL": "WARNING",
                    **TEST_KEYS, **env}
        proc = start_process(["run.py", "--port", str(port)], full_env)
        wait_for_line(proc, r"MosPay listening on", timeout=60)
        self.procs[port] = proc
        if self.db is None:
            self.db = Database(self.url, size=4)
        return port

    def close(self):
        for proc in self.procs.values():
            stop_process(proc)
        if self.db is not None:
            self.db.close()
        self._postgres.drop_database(self.name)


def onboard(db, simulator_url, *, timeout_s=5, connect_timeout_s=None):
    app_id = "shop" + secrets.token_hex(3)
    catalogue.create_service(db, {"name": "momo", "service_url": simulator_url, "timeout_s": timeout_s,
                                   "connect_timeout_s": connect_timeout_s})
    creds = accounts.create_client(db, TEST_KEYS["SECRET_KEY"], {"company_name": "Shop", "app_id": app_id})
    catalogue.assign_service(db, app_id, {"service": "momo", "routes": ["collection"]})
    raw = base64.b64encode(f"{creds['api_username']}:{creds['api_secret']}".encode()).decode()
    headers = {"Authorization": f"Basic {raw}", "App-ID": app_id}
    body = {"f000": "momo", "f001": "collection", "f002": "collection", "f003": app_id, "f004": "1500.00",
            "f005": "+250788123456", "f006": "c", "f007": "enc", "f008": "pwd", "f009": "d",
            "f010": "order_" + secrets.token_hex(6)}
    return headers, body
