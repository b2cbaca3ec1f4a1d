"""Fixtures: one PostgreSQL for the session, a template database with the schema, a fresh copy per test.

The suite writes its temporary files into a folder of its own (TMPDIR for this process, its xdist workers
and every process they start), removes it at the end, and fails the run if a test, a fixture or a process
left anything in it."""

from __future__ import annotations

import getpass
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from mospay import migrate
from mospay.db import Database
from tests.support import EMBEDDED_URL, PostgresForTests

TEMP_ROOT = "MOSPAY_TEST_TMPDIR"
# Left in the suite's temp folder by the tools themselves, and removed with it: pytest's tmp_path
# folders, and the runtime folder platformdirs falls back to (pgserver keeps its lock file there).
TOOL_FOLDERS = (f"pytest-of-{getpass.getuser()}", f"runtime-{os.getuid()}")


def pytest_configure(config):
    if hasattr(config, "workerinput"):  # an xdist worker: the controller made the folder and the cluster
        root = os.environ[TEMP_ROOT]
    else:
        root = tempfile.mkdtemp(prefix="mospay-tests-")
        os.environ[TEMP_ROOT] = root
        config.stash[_root_key] = root
    os.environ["TMPDIR"] = root
    tempfile.tempdir = root
    if not hasattr(config, "workerinput") and getattr(config.option, "numprocesses", None) \
            and not config.option.collectonly:
        # Under xdist one embedded cluster serves every worker (each makes its own databases in it).
        if not (os.environ.get("MOSPAY_TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")):
            cluster = PostgresForTests()
            config.stash[_cluster_key] = cluster
            os.environ[EMBEDDED_URL] = cluster.url


_root_key = pytest.StashKey[str]()
_cluster_key = pytest.StashKey[PostgresForTests]()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    config = session.config
    cluster = config.stash.get(_cluster_key, None)
    if cluster is not None:
        cluster.close()
        os.environ.pop(EMBEDDED_URL, None)
    root = config.stash.get(_root_key, None)
    if root is None:
        return
    left = _leftovers(Path(root))
    deadline = time.monotonic() + 5
    while left and time.monotonic() < deadline:  # a process that was just stopped may still be tidying up
        time.sleep(0.1)
        left = _leftovers(Path(root))
    shutil.rmtree(root, ignore_errors=True)
    if left:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        message = "the suite left files in its temp folder:\n" + "\n".join(f"  {p}" for p in left[:20])
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _leftovers(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(str(p) for p in root.iterdir() if p.name not in TOOL_FOLDERS)


@pytest.fixture(scope="session")
def postgres():
    pg = PostgresForTests()
    yield pg
    pg.close()


@pytest.fixture(scope="session")
def template_db(postgres):
    name = postgres.create_database()
    db = Database(postgres.url_for(name), size=2)
    migrate.apply(db)  # a fresh install: schema/ in one transaction
    db.close()
    yield name
    postgres.drop_database(name)


@pytest.fixture
def db_url(postgres, template_db):
    name = postgres.create_database(template=template_db)
    yield postgres.url_for(name)
    postgres.drop_database(name)


@pytest.fixture
def db(db_url):
    database = Database(db_url, size=4)
    yield database
    database.close()
