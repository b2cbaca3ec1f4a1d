"""mospay.toml under environment variables, one-line errors, `python -m mospay config`, README's table."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import pytest

from mospay.backup import Progress, libpq_target
from mospay.config import SETTINGS, Config, ConfigError
from tests.support import ROOT


def write(tmp_path, text):
    path = tmp_path / "mospay.toml"
    path.write_text(text)
    return str(path)


def test_toml_sets_values_and_environment_overrides_it(tmp_path):
    path = write(tmp_path, 'port = 8081\nthreads = 4\npool_size = 8\nlog_format = "json"\n'
                           'trusted_proxies = ["10.0.0.1", "10.1.0.0/16"]\naccess_log = false\n')
    config = Config.from_env({"MOSPAY_CONFIG": path, "MOSPAY_PORT": "9090"})
    assert (config.port, config.threads, config.pool_size, config.log_format) == (9090, 4, 8, "json")
    assert config.trusted_proxies == ("10.0.0.1", "10.1.0.0/16") and config.access_log is False
    assert config.sources["port"] == "environment" and config.sources["threads"] == path


@pytest.mark.parametrize("text, fragment", [
    ("port = 'eighty'", "port must be a whole number"),
    ("colour = 'blue'", "unknown setting 'colour'"),
    ("port = [", "mospay.toml:"),
    ("threads = 0", "MOSPAY_THREADS must be between 1 and 256"),
    ("trusted_proxies = ['not-an-ip']", "MOSPAY_TRUSTED_PROXIES: 'not-an-ip'"),
    ("log_format = 'xml'", "MOSPAY_LOG_FORMAT must be text or json"),
    ("metrics_token = 'short'", "MOSPAY_METRICS_TOKEN must be at least 16"),
    ("access_log = 'sometimes'", "access_log must be on or off"),
])
def test_invalid_file_settings_fail_with_one_line(tmp_path, text, fragment):
    with pytest.raises(ConfigError) as exc:
        Config.from_env({"MOSPAY_CONFIG": write(tmp_path, text)})
    assert fragment in str(exc.value) and "\n" not in str(exc.value)


def test_a_named_config_file_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file"):
        Config.from_env({"MOSPAY_CONFIG": str(tmp_path / "missing.toml")})


def test_access_log_and_proxies_from_the_environment():
    config = Config.from_env({"MOSPAY_ACCESS_LOG": "off", "MOSPAY_TRUSTED_PROXIES": "127.0.0.1, ::1"})
    assert config.access_log is False and config.trusted_proxies == ("127.0.0.1", "::1")


def test_cli_config_prints_effective_settings_with_secrets_masked(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOSPAY_") and k not in
           ("DATABASE_URL", "SECRET_KEY", "JWT_SECRET_KEY")}
    env.update(DATABASE_URL="postgresql://mospay:hunter2-secret@db.example:5432/mospay",
               SECRET_KEY="s" * 40, MOSPAY_METRICS_TOKEN="metrics-token-123456",
               MOSPAY_CONFIG=write(tmp_path, "port = 8088\n"))
    result = subprocess.run([sys.executable, "-m", "mospay", "config", "--json"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout and "s" * 40 not in result.stdout and "123456" not in result.stdout
    shown = json.loads(result.stdout)
    assert shown["DATABASE_URL"]["value"] == "postgresql://mospay:********@db.example:5432/mospay"
    assert shown["MOSPAY_PORT"] == {"value": 8088, "source": env["MOSPAY_CONFIG"]}
    assert shown["SECRET_KEY"] == {"value": "********", "source": "environment"}
    assert set(shown) == {s.env for s in SETTINGS}
    text = subprocess.run([sys.executable, "-m", "mospay", "config"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert text.returncode == 0 and re.search(r"MOSPAY_PORT\s+8088\s+", text.stdout)


def test_cli_config_reports_an_invalid_setting_in_one_line():
    env = {**os.environ, "MOSPAY_LOG_FORMAT": "xml"}
    result = subprocess.run([sys.executable, "-m", "mospay", "config"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert json.loads(result.stderr.strip().splitlines()[-1])["error"]["message"] == \
        "MOSPAY_LOG_FORMAT must be text or json, got 'xml'"


def test_readme_table_lists_every_setting_with_its_toml_key():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration"):]
    for setting in SETTINGS:
        assert re.search(rf"^\| `{setting.env}`[^|]*\| `{setting.toml_key}` \|", table, re.M), setting.env


def test_progress_redraws_one_line_on_a_terminal_and_prints_deciles_otherwise():
    class Tty(io.StringIO):
        def isatty(self):
            return True
    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        bar = Progress("backup", 20, stream)
        for i in range(20):
            bar.step(f"table{i}")
        bar.finish("done")
    assert tty.getvalue().count("\r") >= 20 and "[####################] 100%" in tty.getvalue()
    lines = pipe.getvalue().splitlines()
    assert lines[-2].startswith("backup: 100% (20/20)") and lines[-1] == "backup: done" and len(lines) == 12


def test_password_goes_to_pgpassword_not_the_command_line():
    url, env = libpq_target("postgresql://u%40x:p%2Fss@h:5433/db?sslmode=require")
    assert "p/ss" not in url and "p%2Fss" not in url and env["PGPASSWORD"] == "p/ss"
    assert url == "postgresql://u%40x@h:5433/db?sslmode=require"
