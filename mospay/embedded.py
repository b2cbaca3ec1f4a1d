"""The private PostgreSQL cluster used when DATABASE_URL is unset: pgserver, else initdb/pg_ctl on PATH."""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

log = logging.getLogger("mospay.embedded")
DATABASE = "mospay"
PYTHON = sys.version_info  # what the start-up error advises depends on it (tests pretend another)


class EmbeddedUnavailable(RuntimeError):
    """No way to run a private PostgreSQL here; the message tells the user what to do."""


def what_works(python: tuple, path_binaries: bool = False) -> str:
    """What the user can do without pgserver, for this Python: pgserver has wheels only up to 3.12,
    so on a newer Python telling them to install it would send them nowhere."""
    database_url = "set DATABASE_URL=postgresql://user:pass@host:port/db"
    on_path = "put PostgreSQL's initdb/pg_ctl on PATH (not as root), " if path_binaries else ""
    if tuple(python[:2]) > (3, 12):
        return (f"pgserver, the embedded database, has no build for Python {python[0]}.{python[1]}: run MosPay "
                f"with Python 3.11 or 3.12 (pip install -r requirements.txt brings pgserver), {on_path}or "
                f"{database_url}")
    return f"pip install -r requirements.txt (it brings pgserver), {on_path}or {database_url}"


class EmbeddedPostgres:
    """Starts (or joins) the cluster in data_dir/pgdata; stop() stops it when the last user leaves."""

    def __init__(self, data_dir: Path):
        self.pgdata = Path(data_dir).resolve() / "pgdata"
        self._server = None
        self._pg_ctl = None

    def start(self) -> str:
        """Start the cluster, make sure the mospay database exists, and return its URL."""
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        try:
            with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset: harmless
                warnings.simplefilter("ignore")
                import pgserver
        except ImportError:
            return self._start_from_path()
        self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
        if "(1 row)" not in exists:
            self._server.psql(f"CREATE DATABASE {DATABASE};")
        return self._server.get_uri(DATABASE)

    def _start_from_path(self) -> str:
        bindir = _find_postgres_bindir()
        if bindir is None:
            raise EmbeddedUnavailable("no embedded PostgreSQL: " + what_works(PYTHON, path_binaries=True))
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            raise EmbeddedUnavailable("initdb refuses to run as root: " + what_works(PYTHON))
        sockdir = self.pgdata.parent / "pgsock"
        sockdir.mkdir(exist_ok=True)
        if not (self.pgdata / "PG_VERSION").exists():
            subprocess.run([str(bindir / "initdb"), "-D", str(self.pgdata), "-U", "postgres",
                            "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
        self._pg_ctl = bindir / "pg_ctl"
        status = subprocess.run([str(self._pg_ctl), "status", "-D", str(self.pgdata)], capture_output=True)
        if status.returncode != 0:
            subprocess.run([str(self._pg_ctl), "start", "-w", "-D", str(self.pgdata), "-l",
                            str(self.pgdata.parent / "postgres.log"), "-o",
                            f"-k {sockdir} -c listen_addresses=''"], check=True, capture_output=True)
        psql = [str(bindir / "psql"), "-h", str(sockdir), "-U", "postgres", "-d", "postgres", "-tAc"]
        found = subprocess.run(psql + [f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"],
                               capture_output=True, text=True, check=True).stdout.strip()
        if found != "1":
            subprocess.run(psql + [f"CREATE DATABASE {DATABASE}"], check=True, capture_output=True)
        return f"postgresql://postgres@/{DATABASE}?host={sockdir}"

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server._cleanup()  # stops postgres unless another MosPay process still uses it
            self._server = None
        elif self._pg_ctl is not None:
            subprocess.run([str(self._pg_ctl), "stop", "-m", "fast", "-D", str(self.pgdata)],
                           capture_output=True)
            self._pg_ctl = None


def _find_postgres_bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    if sys.platform.startswith("linux"):
        for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True):
            return Path(candidate).parent
    return None
