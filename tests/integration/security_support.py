"""Helpers for the security tests: servers with their own settings and captured logs, database snapshots."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
import threading
import time

import jwt
import urllib3

from mospay import accounts
from mospay.db import Database
from tests.integration.conftest import TEST_KEYS, Client, Gateway
from tests.support import free_port, start_process, stop_process

ADMIN_PASSWORD = "ops-password-1"
# Tables whose contents a refused request must leave exactly as they were. api_logs and the security
# tables record the refusal itself, so they are compared separately (see snapshot()).
STATE_TABLES = ("users", "clients", "services", "service_fields", "client_services", "transactions",
                "transaction_events", "schema_migrations")


class LoggedServer:
    """`python run.py` whose whole output is kept (a thread drains the pipe so the server never blocks)."""

    def __init__(self, env: dict):
        self.port = free_port()
        self.proc = start_process(["run.py", "--port", str(self.port)], env)
        self.lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # like wait_for_line, but keeping every line for the leak test
            line = self.proc.stdout.readline()
            self.lines.append(line)
            if "MosPay listening on" in line or (not line and self.proc.poll() is not None):
                break
        assert "MosPay listening on" in self.lines[-1], "".join(self.lines)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def stop(self) -> str:
        self.proc.send_signal(15)
        with contextlib.suppress(Exception):
            self.proc.wait(15)
        self._reader.join(10)
        stop_process(self.proc)
        return "".join(self.lines)


@contextlib.contextmanager
def own_gateway(postgres, template_db, simulator_url, env=None, servers=1):
    """`servers` processes of run.py sharing one fresh database, with extra settings; yields Gateways."""
    name = postgres.create_database(template=template_db)
    url = postgres.url_for(name)
    started, db = [], Database(url, size=4)
    try:
        accounts.create_admin(db, {"username": "ops", "password": ADMIN_PASSWORD, "role": "admin"})
        for _ in range(servers):
            started.append(LoggedServer({"DATABASE_URL": url, "MOSPAY_DATA_DIR": None, **TEST_KEYS,
                                         **(env or {})}))
        http = urllib3.PoolManager(maxsize=8)
        gateways = []
        for server in started:
            resp = http.request("POST", f"http://127.0.0.1:{server.port}/api/v1/admin/token",
                                headers=basic("ops", ADMIN_PASSWORD), retries=False)
            assert resp.status == 200, resp.data
            gw = Gateway(f"http://127.0.0.1:{server.port}", db, http, resp.json()["access_token"], simulator_url)
            gw.server = server
            gateways.append(gw)
        yield gateways
    finally:
        for server in started:
            server.stop()
        db.close()
        postgres.drop_database(name)


def basic(user: str, secret: str, app_id: str | None = None) -> dict:
    headers = {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}
    if app_id is not None:
        headers["App-ID"] = app_id
    return headers


def forge(claims: dict, key: str = TEST_KEYS["JWT_SECRET_KEY"], algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def table_names(db: Database) -> list[str]:
    rows = db.run("SELECT schemaname || '.' || tablename AS t FROM pg_tables "
                  "WHERE schemaname IN ('public', 'mospay', 'mospay_fn') ORDER BY 1")
    return [r["t"] for r in rows]


def full_dump(db: Database) -> str:
    """Every row of every table as JSON, plus every function's source: what a leak would show up in."""
    parts = []
    for table in table_names(db):
        schema, _, name = table.partition(".")
        parts += [r["j"] for r in db.run(
            f'SELECT row_to_json(t)::text AS j FROM "{schema}"."{name}" t')]
    parts += [r["src"] for r in db.run(
        "SELECT p.prosrc AS src FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname IN ('mospay', 'mospay_fn', 'public')")]
    return "\n".join(parts)


def snapshot(db: Database) -> dict:
    """A fingerprint of everything a refused request must not change: state tables, tables, functions.
    One statement (one round trip): hundreds of tests take two each."""
    parts = []
    for table in STATE_TABLES:
        # The shared server's reconciler may advance open transactions (status, next check) meanwhile:
        # for them, what a refused request must not change is which payments exist and what they asked.
        row = ("(t.id, t.client_id, t.f010, t.amount, t.request, t.request_hash, t.created_at)"
               if table == "transactions" else "t")
        where = " WHERE t.cause NOT LIKE 'reconciliation%'" if table == "transaction_events" else ""
        parts.append(f"(SELECT json_build_array(count(*), coalesce(md5(string_agg(row_to_json({row})::text, '|' "
                     f"ORDER BY t::text)), '')) FROM {table} t{where}) AS {table}")
    parts.append("ARRAY(SELECT schemaname || '.' || tablename FROM pg_tables "
                 "WHERE schemaname IN ('public', 'mospay', 'mospay_fn') ORDER BY 1) AS tables")
    parts.append("ARRAY(SELECT n.nspname || '.' || p.proname || ':' || md5(p.prosrc) FROM pg_proc p "
                 "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname IN ('mospay', 'mospay_fn') "
                 "ORDER BY 1) AS functions")
    row = db.run("SELECT " + ", ".join(parts))[0]
    digest = {table: tuple(row[table]) for table in STATE_TABLES}
    digest["tables"] = tuple(row["tables"])
    digest["functions"] = tuple(row["functions"])
    return digest


def fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def new_f010() -> str:
    return "sec_" + secrets.token_hex(8)


__all__ = ["Client", "Gateway", "LoggedServer", "basic", "forge", "full_dump", "own_gateway", "snapshot"]
