"""The deployment examples, checked with the real tools where this machine has them: compose.yaml
(docker compose / docker-compose config, else parsed), the systemd unit (systemd-analyze verify),
nginx (nginx -t with a throw-away certificate) and the Dockerfile's start and health-check commands."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.support import ROOT, free_port, stop_process, wait_for_line

COMPOSE_ENV = {"POSTGRES_PASSWORD": "pg-secret-1", "SECRET_KEY": "s" * 40, "JWT_SECRET_KEY": "j" * 40}


def _compose_command():
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_file_runs_mospay_against_postgres_16():
    spec = yaml.safe_load((ROOT / "compose.yaml").read_text())
    db, app = spec["services"]["db"], spec["services"]["mospay"]
    assert db["image"] == "postgres:16" and "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert app["build"] == "." and app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["environment"]["DATABASE_URL"].startswith("postgresql://mospay:${POSTGRES_PASSWORD}@db:5432/")
    assert all(p.startswith("127.0.0.1:") for p in app["ports"]), "behind a proxy: not on every interface"
    assert set(spec["volumes"]) == {"pgdata", "mospay-data"}


def test_compose_file_passes_compose_config_when_the_tool_exists():
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_ENV}
    ok = subprocess.run(command + ["-f", "compose.yaml", "config"], cwd=ROOT, capture_output=True, text=True,
                        env={**env, **COMPOSE_ENV}, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "postgresql://mospay:pg-secret-1@db:5432/mospay" in ok.stdout
    missing = subprocess.run(command + ["-f", "compose.yaml", "config"], cwd=ROOT, capture_output=True, text=True,
                             env=env, timeout=60)
    assert missing.returncode != 0 and "POSTGRES_PASSWORD" in missing.stderr


def _dockerfile():
    text = (ROOT / "Dockerfile").read_text()
    return text, re.sub(r"\\\n\s*", " ", text)


def test_dockerfile_uses_python_slim_a_non_root_user_and_a_readyz_healthcheck():
    text, joined = _dockerfile()
    assert re.search(r"^FROM python:3\.12-slim$", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "/readyz" in re.search(r"^HEALTHCHECK .*$", joined, re.M).group(0)
    for source in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for name in source.split():
            assert (ROOT / name).exists(), f"COPY source {name} missing"
    assert "waitress" in (ROOT / "requirements.txt").read_text()


def _cmd(joined: str, instruction: str) -> list[str]:
    return json.loads(re.search(rf"^{instruction} (\[.*\])$", joined, re.M).group(1))


def _image_env(joined: str) -> dict:
    env_line = re.search(r"^ENV (.*)$", joined, re.M).group(1)
    return dict(pair.split("=", 1) for pair in env_line.split())


def test_container_command_refuses_to_start_without_database_url():
    _, joined = _dockerfile()
    cmd = _cmd(joined, "CMD")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip() == "mospay: DATABASE_URL is required in the container"


def test_container_command_serves_and_its_healthcheck_passes(postgres, template_db, tmp_path):
    """The image's CMD and HEALTHCHECK run here as the container would run them (no Docker engine)."""
    _, joined = _dockerfile()
    name = postgres.create_database()
    port = free_port()
    env = {**_image_env(joined), "MOSPAY_PORT": str(port), "MOSPAY_HOST": "127.0.0.1",
           "MOSPAY_DATA_DIR": str(tmp_path), "DATABASE_URL": postgres.url_for(name),
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""), **{
               k: COMPOSE_ENV[k] for k in ("SECRET_KEY", "JWT_SECRET_KEY")}}
    proc = subprocess.Popen(_cmd(joined, "CMD"), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_line(proc, r"MosPay listening on", timeout=60)
        check = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])$", joined, re.M).group(1)
        health = subprocess.run(json.loads(check), env=env, capture_output=True, text=True, timeout=30)
        assert health.returncode == 0, health.stderr
    finally:
        stop_process(proc)
        postgres.drop_database(name)


def test_systemd_unit_verifies():
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    unit = (ROOT / "deploy" / "mospay.service").read_text()
    assert "User=mospay" in unit and "EnvironmentFile=/etc/mospay/mospay.env" in unit
    assert "KillSignal=SIGTERM" in unit
    # The unit as it would be installed, with this checkout standing in for /opt/mospay.
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        envfile = os.path.join(tmp, "mospay.env")
        open(envfile, "w").close()
        local = (unit.replace("/opt/mospay/.venv/bin/python", sys.executable)
                 .replace("/opt/mospay", str(ROOT)).replace("/etc/mospay/mospay.env", envfile))
        path = os.path.join(tmp, "mospay.service")
        with open(path, "w") as f:
            f.write(local)
        result = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and not result.stderr.strip() and not result.stdout.strip(), result.stderr
        with open(path, "w") as f:  # the check can fail: a typo is reported
            f.write(local.replace("ExecStart=", "ExecStrat="))
        broken = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True, timeout=60)
        assert "ExecStrat" in broken.stderr or broken.returncode != 0


def test_nginx_example_passes_nginx_t(tmp_path):
    nginx, openssl = shutil.which("nginx") or "/usr/sbin/nginx", shutil.which("openssl")
    if not os.path.exists(nginx) or not openssl:
        pytest.skip("nginx or openssl is not installed (CI: apt-get install -y nginx)")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=pay.example.com", "-keyout", str(tmp_path / "privkey.pem"),
                    "-out", str(tmp_path / "fullchain.pem")], check=True, capture_output=True, timeout=60)
    site = (ROOT / "deploy" / "nginx.conf").read_text().replace("/etc/ssl/mospay", str(tmp_path))
    (tmp_path / "mospay.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{ access_log off; include {tmp_path}/mospay.conf; }}\n")
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-e", "stderr", "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "test is successful" in result.stderr, result.stderr
    assert "proxy_set_header X-Request-ID $request_id" in site and "location ^~ /metrics" in site
