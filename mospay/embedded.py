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
APP_ROLE = "mospay_app"  # MosPay's own role in its cluster: owns the database, no SUPERUSER or CREATEROLE
# Run as the cluster's superuser at every start (idempotent): MosPay's role and the role its client
# functions run as (which MosPay's role cannot create itself), and the membership that lets it hand
# functions to that role. The same statements docs/database-roles.md gives for a server of your own.
ROLES_SQL = f"""DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mospay_function') THEN
        CREATE ROLE mospay_function NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION
            NOBYPASSRLS;
    END IF;
    IF NOT pg_has_role('{APP_ROLE}', 'mospay_function', 'MEMBER') THEN
        GRANT mospay_function TO {APP_ROLE};
    END IF;
END $$"""
# A data folder from before MosPay had a role of its own: everything in the mospay database belonged to
# the superuser. Handed to MosPay's role in place (the client functions go to mospay_function when the
# schema is migrated); the database itself changes owner before this runs.
HAND_OVER_SQL = f"""DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT n.nspname FROM pg_namespace n WHERE n.nspname IN ('mospay', 'mospay_fn') LOOP
        EXECUTE format('ALTER SCHEMA %I OWNER TO {APP_ROLE}', r.nspname);
    END LOOP;
    FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname IN ('public', 'mospay', 'mospay_fn') AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
    LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO {APP_ROLE}', r.rel);  -- with the sequences of its columns
    END LOOP;
    FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname IN ('public', 'mospay', 'mospay_fn') AND c.relkind = 'S'
                AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                   AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
    LOOP
        EXECUTE format('ALTER SEQUENCE %s OWNER TO {APP_ROLE}', r.rel);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname IN ('public', 'mospay', 'mospay_fn') AND p.prokind IN ('f', 'p')
    LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO {APP_ROLE}', r.fn);
    END LOOP;
END $$"""
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
        info = self._server.get_postmaster_info()
        prepare(lambda database: info.get_uri(user="postgres", database=database))
        return info.get_uri(user=APP_ROLE, database=DATABASE)

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
        prepare(lambda database: f"postgresql://postgres@/{database}?host={sockdir}")
        return f"postgresql://{APP_ROLE}@/{DATABASE}?host={sockdir}"

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server._cleanup()  # stops postgres unless another MosPay process still uses it
            self._server = None
        elif self._pg_ctl is not None:
            subprocess.run([str(self._pg_ctl), "stop", "-m", "fast", "-D", str(self.pgdata)],
                           capture_output=True)
            self._pg_ctl = None


def prepare(superuser_url) -> None:
    """As the cluster's superuser (superuser_url(database) -> URL): MosPay's role and the function role,
    and the mospay database owned by MosPay's role, created or, from an older data folder, handed over."""
    import pg8000.native

    from .db import connect_params

    def run(database: str, *statements: str) -> list:
        conn = pg8000.native.Connection(**connect_params(superuser_url(database)))
        try:
            return [conn.run(statement) for statement in statements][-1]
        finally:
            conn.close()

    owner = run("postgres", ROLES_SQL,
                f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{DATABASE}'")
    if not owner:
        run("postgres", f"CREATE DATABASE {DATABASE} OWNER {APP_ROLE}")
    elif owner[0][0] != APP_ROLE:
        log.info("embedded PostgreSQL: handing the %s database to the role %s", DATABASE, APP_ROLE)
        run("postgres", f"ALTER DATABASE {DATABASE} OWNER TO {APP_ROLE}")
        run(DATABASE, HAND_OVER_SQL)


def _find_postgres_bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    if sys.platform.startswith("linux"):
        for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True):
            return Path(candidate).parent
    return None
