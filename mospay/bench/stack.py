"""The benchmark's moving parts on loopback: embedded PostgreSQL in a temp dir, the stub, MosPay as a
real `python run.py`, the ceiling app; seeding a client and service through the catalogue and accounts modules."""

from __future__ import annotations

import base64
import contextlib
import json
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
import urllib.request
from pathlib import Path

from mospay import accounts, catalogue, migrate, security
from mospay.db import Database
from mospay.embedded import EmbeddedPostgres

ROOT = Path(__file__).resolve().parent.parent.parent
APP_ID = "bench"
SERVICE = "mtnmomorwa"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A child process whose output goes to a file (a pipe nobody reads would block it under load)."""

    def __init__(self, name: str, args: list[str], env: dict, logdir: Path):
        self.name = name
        self.log_path = logdir / f"{name}.log"
        self._log = open(self.log_path, "w")
        full_env = {**os.environ, **env}
        self.started = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=full_env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output())
            if match:
                return match
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: no {pattern!r} within {timeout}s; output:\n{self.output()[-2000:]}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss_mb(self) -> float:
        """Resident size of the process and its children (workers), in MB."""
        total = 0
        pids = [self.proc.pid] + _children(self.proc.pid)
        for pid in pids:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total / 1024

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def wait_ready(url: str, timeout: float = 60.0) -> float:
    """Seconds until GET /readyz answers 200."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url + "/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return time.monotonic() - started
        time.sleep(0.02)
    raise RuntimeError(f"{url}/readyz not ready within {timeout}s")


def http_json(method: str, url: str, headers: dict, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={**headers, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


class Stack:
    """Everything the scenarios need; close() stops it all and removes the temp dir."""

    def __init__(self, threads: int = 16):
        self.threads = threads
        self.tmp = Path(tempfile.mkdtemp(prefix="mospay-bench-"))
        self.keys = {"SECRET_KEY": secrets.token_urlsafe(40), "JWT_SECRET_KEY": secrets.token_urlsafe(40)}
        self.processes: list[Process] = []
        self.embedded = EmbeddedPostgres(self.tmp / "pg")
        self.db_url = self.embedded.start()
        self.db = Database(self.db_url, size=4)

    def start(self, name: str, args: list[str], env: dict | None = None) -> Process:
        proc = Process(name, args, env or {}, self.tmp)
        self.processes.append(proc)
        return proc

    def start_stub(self) -> str:
        self.stub_url = self.start("stub", ["-m", "mospay.bench.stub"]).wait_for(r"listening on (http://\S+)").group(1)
        return self.stub_url

    def seed(self) -> dict:
        """Schema, a service pointing at the stub, a client with it assigned, and its credentials."""
        migrate.apply(self.db)
        catalogue.create_service(self.db, {"name": SERVICE, "service_url": self.stub_url, "timeout_s": 10})
        creds = accounts.create_client(self.db, self.keys["SECRET_KEY"], {"company_name": "Bench Ltd", "app_id": APP_ID})
        catalogue.assign_service(self.db, APP_ID, {"service": SERVICE, "routes": ["collection"]})
        # A merchant sending this much traffic has its own limit set (the default, 6,000 a minute per
        # process, would turn the benchmark into a measure of 429s): no per-client rate limit here.
        security.set_client_limits(self.db, APP_ID, {"rate_limit_per_minute": 0})
        raw = base64.b64encode(f"{creds['api_username']}:{creds['api_secret']}".encode()).decode()
        self.basic = {"Authorization": f"Basic {raw}", "App-ID": APP_ID}
        return creds

    def start_mospay(self, name: str = "mospay", workers: int = 1, env: dict | None = None) -> tuple[Process, str, float]:
        """`python run.py` as a user runs it (default settings), on our database. Returns (process, url, s to ready)."""
        port = free_port()
        args = ["run.py", "--port", str(port)] + (["--workers", str(workers)] if workers > 1 else [])
        proc = self.start(name, args, {"DATABASE_URL": self.db_url, "MOSPAY_DATA_DIR": str(self.tmp / "var"),
                                       "MOSPAY_THREADS": str(self.threads),
                                       # The per-request access log is a log line per request, which a
                                       # run under load must not write; docs/benchmarks.md measures both.
                                       "MOSPAY_ACCESS_LOG": "off", **self.keys, **(env or {})})
        url = f"http://127.0.0.1:{port}"
        ready = wait_ready(url)
        return proc, url, ready

    def start_ceiling(self) -> str:
        proc = self.start("ceiling", ["-m", "mospay.bench.ceiling", "--port", "0", "--stub", self.stub_url,
                                      "--threads", str(self.threads)])
        return proc.wait_for(r"listening on (http://\S+)").group(1)

    def token(self, url: str) -> str:
        status, body = http_json("POST", url + "/api/v1/auth/token", self.basic)
        if status != 200:
            raise RuntimeError(f"token request answered {status}: {body}")
        return body["access_token"]

    def close(self) -> None:
        for proc in reversed(self.processes):
            with contextlib.suppress(Exception):
                proc.stop()
        self.db.close()
        self.embedded.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its live children, from /proc (Linux; 0 elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    for one in [pid] + _children(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / tick


def postmaster_pid(pgdata: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    return None
