"""The app run.py serves (mospay.app.served_app), called in-process through Falcon's TestClient on a real
PostgreSQL database, with its scheduler running as under run.py. The provider stays a real process on
loopback: the gateway's call to it is real HTTP. InProcess has Gateway's helpers (request, admin,
onboard), so a test body reads the same against either; what needs the process itself (signals,
--workers, waitress's own limits, the server's log output, real sockets) keeps using `gateway`."""

from __future__ import annotations

import base64
import contextlib
import json as jsonlib

import urllib3
from falcon import testing

from mospay import accounts, runtime as rt
from mospay.app import served_app
from mospay.config import Config
from mospay.db import Database
from tests.integration.conftest import TEST_KEYS, AdminCalls
from tests.support import free_port

ADMIN_PASSWORD = "ops-password-1"


class Answer:
    """A TestClient result shaped like the urllib3 response the real-server tests read."""

    def __init__(self, result):
        self.status = result.status_code
        self.data = result.content
        self.headers = result.headers  # case-insensitive, as urllib3's

    def json(self):
        return jsonlib.loads(self.data)


class InProcess(AdminCalls):
    def __init__(self, app, db: Database, simulator_url: str, parts, config: Config):
        self.app = app  # the WSGI callable, for tools that call it themselves (schemathesis)
        self.client = testing.TestClient(app)
        self.db = db  # the test's own pool: its reads never take one of the app's connections
        self.parts = parts  # the app's breakers and metrics, for tests to read
        self.config = config
        self.simulator_url = simulator_url
        self.http = urllib3.PoolManager(maxsize=2)  # for the simulator's /_sim endpoints
        self.admin_token = None

    def request(self, method, path, *, body=None, headers=None, json=None, source=None) -> Answer:
        """source: the client's address (127.0.0.2 is the trusted proxy of the shared `api`)."""
        return Answer(self.client.simulate_request(method, path, body=body, json=json, headers=headers or {},
                                                   remote_addr=source or "127.0.0.1", host="127.0.0.1"))


@contextlib.contextmanager
def in_process(postgres, template_db, simulator_url, data_dir, env=None):
    """The app on a fresh copy of the schema, configured from environment variables exactly as run.py is
    (Config.from_env, then the same start-up: runtime.start); an "ops" admin signed in over the API.
    At exit the scheduler is stopped and the provider's and the database's pools are closed."""
    name = postgres.create_database(template=template_db)
    url = postgres.url_for(name)
    settings = {"DATABASE_URL": url, "MOSPAY_DATA_DIR": str(data_dir), **TEST_KEYS,
                # Nothing listens there: callback URLs handed to the provider lead nowhere, as they would
                # to a server that is not up.
                "MOSPAY_PORT": str(free_port()), **(env or {})}
    runtime = scheduler = parts = db = api = None
    try:
        runtime = rt.start(Config.from_env(settings))
        app, parts = served_app(runtime.config, runtime.db, schema_version=runtime.schema_version)
        scheduler = parts.scheduler().start()
        db = Database(url, size=4)
        accounts.create_admin(db, {"username": "ops", "password": ADMIN_PASSWORD, "role": "admin"})
        api = InProcess(app, db, simulator_url, parts, runtime.config)
        raw = base64.b64encode(f"ops:{ADMIN_PASSWORD}".encode()).decode()
        resp = api.request("POST", "/api/v1/admin/token", headers={"Authorization": f"Basic {raw}"})
        assert resp.status == 200, resp.data
        api.admin_token = resp.json()["access_token"]
        yield api
    finally:
        if scheduler is not None:
            scheduler.stop(timeout=10)
            assert not scheduler.is_alive(), "the scheduler did not stop"
        if parts is not None:
            parts.provider.close()
        if api is not None:
            api.http.clear()
        if db is not None:
            db.close()
        if runtime is not None:
            runtime.close()
        postgres.drop_database(name)
