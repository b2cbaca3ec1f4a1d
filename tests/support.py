"""Test plumbing: a PostgreSQL to test against, fresh databases per test, free ports, real processes."""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pg8000.native

from mospay.db import connect_params

ROOT = Path(__file__).resolve().parent.parent


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


# Set by the xdist controller for its workers: the URL of the embedded cluster it started for them all.
EMBEDDED_URL = "MOSPAY_TEST_EMBEDDED_URL"
# Safe only because the cluster is the suite's own and thrown away: a crash may lose recent commits.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
SPARES = 2  # copies of each template made ahead: a run of quick tests still finds one ready


class PostgresForTests:
    """MOSPAY_TEST_DATABASE_URL / DATABASE_URL when set, else a private pgserver cluster in a temp dir.

    Databases are dropped by a background thread, and the next copy of each template is made ahead of
    time there too: a DROP DATABASE waits for a checkpoint, and neither should hold up a test."""

    def __init__(self):
        self.url = os.environ.get("MOSPAY_TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
        self.embedded = False  # a cluster of the suite's own: its settings and pg_hba.conf may be changed
        self._server = None
        self._tmp = None
        if not self.url:
            self.embedded = True
            self.url = os.environ.get(EMBEDDED_URL)
        if not self.url:
            import pgserver
            self._tmp = tempfile.mkdtemp(prefix="mospay-test-pg-")
            self._server = pgserver.get_server(Path(self._tmp) / "pgdata", cleanup_mode="stop")
            self.url = self._server.get_uri("postgres")
            for name, value in FAST_SETTINGS.items():
                self.admin(f"ALTER SYSTEM SET {name} = {value}")
            self.admin("SELECT pg_reload_conf()")
        self.prefix = f"mospay_t{os.getpid()}_{secrets.token_hex(3)}"
        self._count = 0
        self._lock = threading.Lock()
        self._spares: dict[str, list[str]] = {}
        self._closing = False
        self._jobs: queue.Queue = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="test-databases", daemon=True)
        self._worker.start()

    def admin(self, sql: str) -> None:
        conn = pg8000.native.Connection(**connect_params(self.url))
        try:
            conn.run(sql)
        finally:
            conn.close()

    def _new_name(self) -> str:
        with self._lock:
            self._count += 1
            name = f"{self.prefix}_{self._count}"
        assert re.fullmatch(r"[a-z0-9_]+", name)
        return name

    def _create(self, template: str | None) -> str:
        name = self._new_name()
        assert template is None or re.fullmatch(r"[a-z0-9_]+", template)
        self.admin(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return name

    def create_database(self, template: str | None = None) -> str:
        """A new database (a copy of `template`, else empty): one made ahead of time when there is one."""
        with self._lock:
            spares = self._spares.get(template)
            name = spares.pop() if spares else None
        name = name or self._create(template)
        if template is not None:  # empty databases are rare: not worth keeping one around
            self._jobs.put(("spare", template))
        return name

    def drop_database(self, name: str, wait: bool = False) -> None:
        """Dropped in the background, unless the caller needs it gone (to drop its owner, say)."""
        assert re.fullmatch(r"[a-z0-9_]+", name)
        with self._lock:  # a template going away: its copies made ahead go too
            spares = self._spares.pop(name, [])
        for spare in spares:
            self._jobs.put(("drop", spare))
        if wait:
            self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        else:
            self._jobs.put(("drop", name))

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            kind, name = job
            with contextlib.suppress(Exception):  # a failed spare is made on demand; a failed drop changes nothing
                if kind == "drop":
                    self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                else:
                    while not self._closing:
                        with self._lock:
                            if len(self._spares.get(name, [])) >= SPARES:
                                break
                        spare = self._create(name)
                        with self._lock:
                            self._spares.setdefault(name, []).append(spare)

    def url_for(self, name: str) -> str:
        return with_database(self.url, name)

    def close(self) -> None:
        self._closing = True  # queued drops still run; no more copies are made ahead
        self._jobs.put(None)
        self._worker.join(120)
        for name in [name for names in self._spares.values() for name in names]:
            with contextlib.suppress(Exception):
                self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self._spares.clear()
        if self._server is not None:
            stop_embedded(self._server)
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


def stop_embedded(server) -> None:
    """Stop a pgserver cluster now, and not again at exit: that would re-create its lock file in the
    temp folder after the suite has removed it."""
    with contextlib.suppress(Exception):
        server._cleanup()
    atexit.unregister(server._cleanup)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_line(proc: subprocess.Popen, pattern: str, timeout: float = 30.0) -> re.Match:
    """Read the process's output until a line matches; fail with what it printed otherwise."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"no line matching {pattern!r} within {timeout}s; output:\n{''.join(seen)}")


def start_process(args: list[str], env: dict | None = None) -> subprocess.Popen:
    full_env = dict(os.environ)
    full_env.update(env or {})
    for key, value in list(full_env.items()):
        if value is None:
            del full_env[key]
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)


def stop_process(proc: subprocess.Popen, timeout: float = 15.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM if os.name != "nt" else signal.CTRL_BREAK_EVENT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if proc.stdout:
        proc.stdout.close()
    return proc.returncode


def mospay_cli(url: str, *args: str, keys: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m mospay ARGS` against the database at `url`, with the given SECRET_KEY / JWT_SECRET_KEY."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MOSPAY_CONFIG")}
    env.update(DATABASE_URL=url, **keys)
    return subprocess.run([sys.executable, "-m", "mospay", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def load_sql_file(url: str, path: Path) -> None:
    """Run a whole SQL file (e.g. a pg_dump --inserts) on a connection of its own: a dump sets the
    search_path to '' for its session, which no pooled connection may inherit."""
    conn = pg8000.native.Connection(**connect_params(url))
    try:
        conn.run(path.read_text(encoding="utf-8"))
    finally:
        conn.close()


def provider_reference(transaction_id: str) -> str:
    """The reference MosPay sends the provider for a payment recorded since schema version 4: the UUID
    inside its public transaction_id (mospay.provider_reference in schema/30_transactions.sql)."""
    return str(uuid.UUID(transaction_id.removeprefix("txn_")))
