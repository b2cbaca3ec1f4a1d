"""A real `python run.py` (default admin, empty database), the provider simulator, and headless Chromium."""

from __future__ import annotations

import contextlib
import os
import secrets

import pytest

from tests.support import free_port, start_process, stop_process, wait_for_line

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium chromium-driver; "
                    ".ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@contextlib.contextmanager
def serve(postgres, data_dir, **extra_env):
    """A fresh gateway (its own database, default admin, empty) and the simulator it pays through, as the
    URLs the tests use; everything is stopped and dropped afterwards."""
    simulator = start_process(["-m", "mospay.simulator", "--port", "0", "--hang-seconds", "4"])
    name = postgres.create_database()
    port = free_port()
    env = {"DATABASE_URL": postgres.url_for(name), "MOSPAY_DATA_DIR": str(data_dir),
           "SECRET_KEY": "s" * 16 + secrets.token_hex(16), "JWT_SECRET_KEY": "j" * 16 + secrets.token_hex(16),
           "MOSPAY_ADMIN_PASSWORD": None, "MOSPAY_THREADS": "4", "MOSPAY_POOL_SIZE": "6",
           "MOSPAY_LOG_LEVEL": "WARNING", **extra_env}  # nobody reads its output after start-up: keep the pipe quiet
    gateway = None
    try:
        simulator_url = wait_for_line(simulator, r"listening on (http://\S+)").group(1)
        gateway = start_process(["run.py", "--port", str(port)], env)
        wait_for_line(gateway, r"MosPay listening on", timeout=60)
        yield {"url": f"http://127.0.0.1:{port}", "simulator": simulator_url, "db_url": postgres.url_for(name)}
    finally:
        if gateway is not None:
            stop_process(gateway)
        stop_process(simulator)
        postgres.drop_database(name)


@pytest.fixture(scope="session")
def live(postgres, tmp_path_factory, browser):
    """URLs of a fresh gateway and of the simulator it pays through."""
    with serve(postgres, tmp_path_factory.mktemp("data")) as urls:
        yield urls


def admin_sign_in(page, url: str, username: str, password: str) -> None:
    """Sign in to the admin portal through its form, as an operator does; ends on the dashboard."""
    page.goto(url + "/admin/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(url + "/admin")
