"""The gateway under test: `api`, the app run.py serves called in-process (tests/integration/inprocess.py),
and `gateway`, a real `python run.py` on a free loopback port, for what needs the process itself. Both
call the provider simulator, a real process on loopback."""

from __future__ import annotations

import base64
import secrets
import threading
from dataclasses import dataclass

import pytest
import urllib3

from mospay import accounts
from mospay.db import Database
from tests.support import free_port, start_process, stop_process, wait_for_line

PORTAL_ADMIN_PASSWORD = "admin123"  # the default admin of every portal test's database (portal_support.Site)

TEST_KEYS = {"SECRET_KEY": "s" * 16 + secrets.token_hex(16), "JWT_SECRET_KEY": "j" * 16 + secrets.token_hex(16)}


def pytest_collection_modifyitems(items):
    """schemathesis names each operation's test "test[POST /path]", but pytest 9.2 builds the node id
    without that part, so every operation of one test had the same id: xdist needs them distinct (it ran
    one operation and dropped the rest), and a report must say which operation failed."""
    for item in items:
        label = getattr(item, "operation_label", None)
        node_id = getattr(item, "_id", None)
        if label and node_id is not None and hasattr(node_id, "with_params") and not node_id.params:
            item._id = node_id.with_params(label)


class AdminCalls:
    """What the real-server Gateway and the in-process app share: admin API calls and onboarding, made
    through the object's own request() (so both go through the API a client would use)."""

    def admin(self, path, payload):
        return self.request("POST", path, json=payload, headers={"Authorization": f"Bearer {self.admin_token}"})

    def onboard(self, service="mtnmomorwa", routes=("collection",), timeout_s=5, service_url=None):
        """A fresh client with `service` assigned; creates the service when it does not exist yet."""
        created = self.admin("/api/v1/admin/services", {"name": service, "timeout_s": timeout_s,
                                                       "service_url": service_url or self.simulator_url})
        assert created.status in (201, 409), created.data
        client = self.admin("/api/v1/admin/clients", {"company_name": "Test Shop " + secrets.token_hex(3)})
        assert client.status == 201, client.data
        creds = client.json()
        assigned = self.admin(f"/api/v1/admin/clients/{creds['app_id']}/services",
                              {"service": service, "routes": list(routes)})
        assert assigned.status == 201, assigned.data
        return Client(self, creds["app_id"], creds["api_username"], creds["api_secret"], service)


@dataclass
class Gateway(AdminCalls):
    url: str
    db: Database
    http: urllib3.PoolManager
    admin_token: str
    simulator_url: str
    output: list = None  # the server's log lines so far (drained by a thread so its pipe never fills)

    def request(self, method, path, *, body=None, headers=None, json=None, source=None):
        """source: the local address to connect from (127.0.0.2 is the trusted proxy)."""
        http = self.http
        if source:
            host, port = self.url.rsplit("/", 1)[1].split(":")
            http = urllib3.HTTPConnectionPool(host, int(port), source_address=(source, 0), maxsize=1)
            return http.request(method, path, body=body, json=json, headers=headers or {}, retries=False,
                                timeout=30)
        return http.request(method, self.url + path, body=body, json=json, headers=headers or {},
                            retries=False, timeout=30)



@dataclass
class Client:
    gw: Gateway
    app_id: str
    username: str
    secret: str
    service: str

    @property
    def basic(self):
        raw = base64.b64encode(f"{self.username}:{self.secret}".encode()).decode()
        return {"Authorization": f"Basic {raw}", "App-ID": self.app_id}

    def token(self):
        resp = self.gw.request("POST", "/api/v1/auth/token", headers=self.basic)
        assert resp.status == 200, resp.data
        return resp.json()["access_token"]

    def bearer(self):
        return {"Authorization": f"Bearer {self.token()}"}

    def body(self, msisdn="+250788123456", **overrides):
        body = {"f000": self.service, "f001": "collection", "f002": "collection", "f003": self.app_id,
                "f004": "1000.00", "f005": msisdn, "f006": "customer123", "f007": "enc-" + secrets.token_hex(8),
                "f008": "pwd-" + secrets.token_hex(8), "f009": "device_abc123", "f010": "txn_" + secrets.token_hex(8)}
        body.update(overrides)
        return body

    def pay(self, body=None, headers=None, **overrides):
        return self.gw.request("POST", "/api/v1/payment/process", json=body or self.body(**overrides),
                               headers=headers or self.bearer())


@pytest.fixture(scope="session")
def simulator():
    proc = start_process(["-m", "mospay.simulator", "--port", "0", "--hang-seconds", "4"])
    url = wait_for_line(proc, r"listening on (http://\S+)").group(1)
    yield url
    stop_process(proc)


@pytest.fixture(scope="session")
def gateway(postgres, simulator, tmp_path_factory):
    """`python run.py` against an empty database of its own: start-up itself applies the schema."""
    name = postgres.create_database()
    url = postgres.url_for(name)
    port = free_port()
    env = {"DATABASE_URL": url, "MOSPAY_DATA_DIR": str(tmp_path_factory.mktemp("data")),
           "MOSPAY_ADMIN_PASSWORD": "first-password", "MOSPAY_LOG_FORMAT": "json",
           **TEST_KEYS,
           "MOSPAY_TRUSTED_PROXIES": "127.0.0.2",  # the "proxy": a test connects from 127.0.0.2 to be it
           # Every test calls from 127.0.0.1: the shared server must not block it
           # (test_security_throttle.py runs its own servers with the default limits).
           "MOSPAY_AUTH_FAILURE_LIMIT": "100000"}
    proc = start_process(["run.py", "--port", str(port)], env)
    output = []
    try:
        wait_for_line(proc, r"MosPay listening on", timeout=60)
        threading.Thread(target=_drain, args=(proc, output), daemon=True).start()
        db = Database(url, size=4)
        accounts.create_admin(db, {"username": "ops", "password": "ops-password-1", "role": "admin"})
        http = urllib3.PoolManager(maxsize=8)
        raw = base64.b64encode(b"ops:ops-password-1").decode()
        resp = http.request("POST", f"http://127.0.0.1:{port}/api/v1/admin/token",
                            headers={"Authorization": f"Basic {raw}"})
        assert resp.status == 200, resp.data
        yield Gateway(f"http://127.0.0.1:{port}", db, http, resp.json()["access_token"], simulator, output)
        db.close()
    finally:
        stop_process(proc)
        postgres.drop_database(name)


def _drain(proc, lines: list) -> None:
    try:
        for line in proc.stdout:
            lines.append(line)
    except (ValueError, OSError):  # the pipe was closed by stop_process
        pass


@pytest.fixture(scope="session")
def api(postgres, template_db, simulator, tmp_path_factory):
    """The app in-process, configured as the shared `gateway` is (see there)."""
    from tests.integration.inprocess import in_process

    env = {"MOSPAY_ADMIN_PASSWORD": "first-password", "MOSPAY_LOG_FORMAT": "json",
           "MOSPAY_TRUSTED_PROXIES": "127.0.0.2", "MOSPAY_AUTH_FAILURE_LIMIT": "100000"}
    with in_process(postgres, template_db, simulator, tmp_path_factory.mktemp("data"), env) as app:
        yield app


@pytest.fixture(scope="session")
def client(api):
    return api.onboard()


@pytest.fixture(scope="session")
def gateway_client(gateway):
    return gateway.onboard()


@pytest.fixture(scope="session")
def portal_template(postgres, template_db):
    """The schema plus the default admin that every Site starts with: its bcrypt hash is made once."""
    name = postgres.create_database(template=template_db)
    db = Database(postgres.url_for(name), size=1)
    accounts.ensure_default_admin(db, PORTAL_ADMIN_PASSWORD)
    db.close()
    yield name
    postgres.drop_database(name)
