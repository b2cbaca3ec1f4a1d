"""`python run.py --workers 2`: /metrics and the dashboard count the whole server, whichever worker
answers, and a scrape never shows less than the one before."""

from __future__ import annotations

import http.client
import re
import time

import pytest

from mospay.db import Database
from tests.integration.conftest import TEST_KEYS
from tests.integration.portal_support import PASSWORD, password_hash
from tests.support import start_process, stop_process, wait_for_line

N = 40


def _get(port, path, headers=None):
    """A new connection per request: the two workers share the listening socket, so requests on
    fresh connections spread over both (a keep-alive connection would stay with one)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Connection": "close", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(), resp.getheaders()
    finally:
        conn.close()


def _sample(text, name, labels):
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


@pytest.fixture
def server(postgres, tmp_path):
    name = postgres.create_database()
    proc = start_process(["run.py", "--workers", "2", "--port", "0"],
                         {"DATABASE_URL": postgres.url_for(name), "MOSPAY_DATA_DIR": str(tmp_path),
                          "MOSPAY_ADMIN_PASSWORD": "first-password", "MOSPAY_LOG_LEVEL": "WARNING", **TEST_KEYS})
    try:
        port = int(wait_for_line(proc, r"MosPay listening on http://127\.0\.0\.1:(\d+) \(2 workers\)",
                                 timeout=60).group(1))
        yield port, postgres.url_for(name)
    finally:
        assert stop_process(proc) == 0
        postgres.drop_database(name)


def test_every_scrape_counts_every_workers_requests_and_never_goes_back(server):
    port, _ = server
    # "listening" is printed once the socket is bound; a worker still building its app (a loaded machine)
    # has written no numbers yet. Wait until both have (either may be the late one), counting the scrapes.
    waited, deadline = 0, time.monotonic() + 30
    while True:
        text = _get(port, "/metrics")[1]
        waited += 1
        if all(_sample(text, "mospay_db_pool_size", f'worker="{w}"') > 0 for w in (0, 1)):
            break
        assert time.monotonic() < deadline, "a worker never published its numbers"
        time.sleep(0.2)
    for _ in range(N):
        assert _get(port, "/healthz")[0] == 200
    previous_scrapes = 0.0
    for scrape in range(waited, waited + 6):
        status, text, _ = _get(port, "/metrics")
        assert status == 200
        assert _sample(text, "mospay_http_requests_total", 'route="/healthz",method="GET",status="200"') == N
        seen = _sample(text, "mospay_http_requests_total", 'route="/metrics",method="GET",status="200"')
        assert seen == scrape and seen >= previous_scrapes  # every earlier scrape, none lost
        previous_scrapes = seen
        # A number of one process (its pool) is shown per worker, not summed into a wrong total.
        assert _sample(text, "mospay_db_pool_size", 'worker="0"') > 0
        assert _sample(text, "mospay_db_pool_size", 'worker="1"') > 0
        assert not re.search(r"^mospay_db_pool_size ", text, re.M)
    assert text.count("# TYPE mospay_http_requests_total counter") == 1


def test_the_dashboard_key_numbers_count_every_worker(server):
    port, url = server
    db = Database(url, size=1)
    try:
        db.one("insert_user", username="ops", password_hash=password_hash(), role="super_admin", must_change=False)
    finally:
        db.close()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/admin/login", body=f"username=ops&password={PASSWORD}",
                 headers={"Content-Type": "application/x-www-form-urlencoded", "Connection": "close"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 303
    cookie = re.search(r"mospay_session=[^;]+", resp.getheader("Set-Cookie")).group(0)
    for _ in range(N):
        assert _get(port, "/healthz")[0] == 200
    _, text, _ = _get(port, "/metrics")
    total = sum(float(v) for v in re.findall(r"^mospay_http_requests_total\{[^}]*\} (\S+)$", text, re.M))
    assert total >= N + 1
    for _ in range(3):  # whichever worker renders it
        status, page, _ = _get(port, "/admin", {"Cookie": cookie})
        assert status == 200
        shown = int(re.search(r"<dt>Requests</dt><dd>(\d+)", page).group(1))
        # everything /metrics counted, plus that scrape itself and the dashboard pages before this one
        assert shown >= total + 1
        total = shown
