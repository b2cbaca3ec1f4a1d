"""Without pgserver, MosPay falls back to PostgreSQL's binaries on PATH, else says in one line what to do."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mospay import embedded
from tests.support import ROOT

pytestmark = pytest.mark.embedded  # its own pgserver cluster (or none), never the suite's database

HIDE_PGSERVER = ("import runpy, sys; sys.modules['pgserver'] = None; sys.argv = ['run.py']; "
                 "runpy.run_path('run.py', run_name='__main__')")


def test_no_pgserver_and_no_binaries_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pgserver", None)  # import pgserver now raises ImportError
    monkeypatch.setattr(embedded, "_find_postgres_bindir", lambda: None)
    with pytest.raises(embedded.EmbeddedUnavailable) as info:
        embedded.EmbeddedPostgres(tmp_path).start()
    message = str(info.value)
    assert "pgserver" in message and "DATABASE_URL" in message and "\n" not in message


@pytest.mark.parametrize("python, advice", [
    ((3, 12, 4), "pip install -r requirements.txt (it brings pgserver)"),  # a control: there pgserver installs
    ((3, 13, 0), "run MosPay with Python 3.11 or 3.12"),
    ((3, 14, 1), "run MosPay with Python 3.11 or 3.12"),
])
def test_without_pgserver_the_error_advises_what_works_on_this_python(tmp_path, monkeypatch, python, advice):
    """pgserver has wheels only up to Python 3.12: on 3.13 "install pgserver" would send the user nowhere."""
    monkeypatch.setitem(sys.modules, "pgserver", None)
    monkeypatch.setattr(embedded, "_find_postgres_bindir", lambda: None)
    monkeypatch.setattr(embedded, "PYTHON", python)
    with pytest.raises(embedded.EmbeddedUnavailable) as info:
        embedded.EmbeddedPostgres(tmp_path).start()
    message = str(info.value)
    assert advice in message and "set DATABASE_URL=postgresql://" in message and "\n" not in message
    if python >= (3, 13):
        assert f"no build for Python {python[0]}.{python[1]}" in message and "install the 'pgserver'" not in message


def test_run_py_without_pgserver_exits_with_one_line(tmp_path):
    env = {"MOSPAY_DATA_DIR": str(tmp_path), "PATH": "/nonexistent"}
    result = subprocess.run([sys.executable, "-c", HIDE_PGSERVER], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mospay: ") and "DATABASE_URL" in lines[0], result.stderr
