"""Test plumbing: a PostgreSQL to test against, fresh databases per test, free ports, real processes."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pg8000.native

from mospay.db import connect_params

ROOT = Path(__file__).resolve().parent.parent


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


class PostgresForTests:
    """MOSPAY_TEST_DATABASE_URL / DATABASE_URL when set, else a private pgserver cluster in a temp dir."""

    def __init__(self):
        self.url = os.environ.get("MOSPAY_TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
        self._server = None
        self._tmp = None
        if not self.url:
            import pgserver
            self._tmp = tempfile.mkdtemp(prefix="mospay-test-pg-")
            self._server = pgserver.get_server(Path(self._tmp) / "pgdata", cleanup_mode="stop")
            self.url = self._server.get_uri("postgres")
        self.prefix = f"mospay_t{os.getpid()}_{secrets.token_hex(3)}"
        self._count = 0

    def admin(self, sql: str) -> None:
        conn = pg8000.native.Connection(**connect_params(self.url))
        try:
            conn.run(sql)
        finally:
            conn.close()

    def create_database(self, template: str | None = None) -> str:
        self._count += 1
        name = f"{self.prefix}_{self._count}"
        assert re.fullmatch(r"[a-z0-9_]+", name)
        self.admin(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return name

    def drop_database(self, name: str) -> None:
        assert re.fullmatch(r"[a-z0-9_]+", name)
        with contextlib.suppress(Exception):
            self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def url_for(self, name: str) -> str:
        return with_database(self.url, name)

    def close(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server._cleanup()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


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
