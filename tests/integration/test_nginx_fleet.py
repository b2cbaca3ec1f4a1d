"""Two `python run.py` instances on one database behind a real nginx configured from the shipped
deploy/nginx.conf and docs/deploy.md's scaling block; one instance is killed with kill -9 under load.
Clients retry with the same f010 (docs/guarantees.md): nothing is lost, nothing is paid twice, and
every final answer a client heard is the state the payment ends in."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest
import urllib3

from mospay.simulator import Simulator
from tests.integration.fleet import Fleet, onboard
from tests.support import ROOT, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(not os.path.exists(NGINX) or not OPENSSL,
                                reason="nginx or openssl is not installed (CI: apt-get install -y nginx)")

CLIENTS, PAYMENTS_EACH = 6, 15
# Cycled per payment: a quick success, a provider that takes 0.3 s (so calls are in flight when the
# instance dies), a decline.
MSISDNS = ("+250788123456", "+250788120002", "+250788120001")
FINAL = {200: "SUCCESSFUL", 402: "FAILED"}


def scaling_block() -> str:
    """The ```nginx block of docs/deploy.md's "Scaling out" section."""
    doc = (ROOT / "docs" / "deploy.md").read_text()
    section = doc[doc.index("## Scaling out"):]
    return re.search(r"```nginx\n(.*?)```", section, re.S).group(1)


def site_config(tmp, ports: list[int], https_port: int, http_port: int) -> str:
    """deploy/nginx.conf with its upstream replaced by the documented scaling upstream (addresses
    swapped for the test's instances), loopback listeners and a throw-away certificate; the proxy
    settings themselves are the shipped ones, untouched."""
    block = scaling_block()
    upstream = re.search(r"^upstream mospay \{\n.*?^\}\n", block, re.S | re.M).group(0)
    servers = re.findall(r"^\s*server (\S+) ([^;]*);$", upstream, re.M)
    assert len(servers) == len(ports), upstream
    for (address, options), port in zip(servers, ports):
        assert "max_fails" in options
        upstream = upstream.replace(f"server {address} {options};", f"server 127.0.0.1:{port} {options};")
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    shipped_upstream = re.search(r"^upstream mospay \{\n.*?^\}\n", site, re.S | re.M).group(0)
    site = site.replace(shipped_upstream, upstream)
    location = re.search(r"^    location / \{\n.*?^    \}\n", site, re.S | re.M).group(0)
    # Another instance only when this one could not be reached: never a resent payment.
    assert "proxy_next_upstream error;" in location and "proxy_next_upstream_tries 2;" in location
    site = re.sub(r"^\s*listen \[::\].*\n", "", site, flags=re.M)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    site = site.replace("listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl")
    return site.replace("/etc/ssl/mospay", str(tmp))


class Nginx:
    """nginx in the foreground, as this test's child, with every path (pid, logs, temp files) in `tmp`."""

    def __init__(self, tmp, site: str, port: int):
        self.tmp, self.port = tmp, port
        subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                        "/CN=pay.example.com", "-addext", "subjectAltName=DNS:pay.example.com,IP:127.0.0.1",
                        "-keyout", str(tmp / "privkey.pem"), "-out", str(tmp / "fullchain.pem")],
                       check=True, capture_output=True, timeout=60)
        (tmp / "mospay.conf").write_text(site)
        temps = "\n".join(f"    {kind}_temp_path {tmp}/{kind}_temp;" for kind in
                          ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (tmp / "nginx.conf").write_text(
            f"daemon off;\nworker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log warn;\n"
            f"events {{ worker_connections 512; }}\n"
            f"http {{\n    access_log {tmp}/access.log;\n{temps}\n    include {tmp}/mospay.conf;\n}}\n")
        self.proc = subprocess.Popen([NGINX, "-p", str(tmp), "-e", "stderr", "-c", str(tmp / "nginx.conf")],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(tmp / "stderr.log", "wb"))
        deadline = time.monotonic() + 15
        while True:
            assert self.proc.poll() is None, (tmp / "stderr.log").read_text()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            assert time.monotonic() < deadline, "nginx did not start listening"
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish open requests, then exit
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stderr and self.proc.stderr.close()


@pytest.fixture
def fleet(postgres, tmp_path):
    f = Fleet(postgres, tmp_path)
    yield f
    f.close()


def test_two_instances_behind_nginx_survive_kill_9_without_loss_duplicates_or_false_answers(fleet, tmp_path):
    with Simulator(hang_seconds=0.3) as sim:
        env = {"MOSPAY_TRUSTED_PROXIES": "127.0.0.1", "MOSPAY_RECONCILE_INTERVAL": "0.2"}
        ports = [fleet.start(**env), fleet.start(**env)]
        headers, template = onboard(fleet.db, sim.url, timeout_s=2, connect_timeout_s=0.5)
        fleet.db.run("UPDATE services SET reconcile_schedule_s = '{1,2,3}'")
        https_port = free_port()
        nginx_dir = tmp_path / "nginx"
        nginx_dir.mkdir()
        proxy = Nginx(nginx_dir, site_config(nginx_dir, ports, https_port, free_port()), https_port)
        try:
            _run_load_and_check(fleet, sim, headers, template, ports, f"https://127.0.0.1:{https_port}",
                                nginx_dir / "fullchain.pem")
        finally:
            proxy.stop()


def _run_load_and_check(fleet, sim, headers, template, ports, base, cert):
    http = urllib3.PoolManager(maxsize=CLIENTS + 2, retries=False, ca_certs=str(cert),
                               assert_hostname="pay.example.com")
    answers: dict[str, list[tuple[int, str]]] = {}  # f010 -> every answer heard (not the retry signals)
    retry_signals: list[int] = []
    gave_up: list[str] = []
    done = threading.Semaphore(0)
    lock = threading.Lock()

    def pay(body):
        """A client as docs/guarantees.md tells it: 200/402 are final, 202 is an answer that MosPay
        will complete; anything else (502 from nginx, 409 in_progress, 503, a cut connection) means
        retry with the same f010."""
        deadline, pause = time.monotonic() + 25, 0.05
        while time.monotonic() < deadline:
            try:
                resp = http.request("POST", base + "/api/v1/payment/process", json=body, headers=headers,
                                    timeout=urllib3.Timeout(connect=2, read=10))
                status = resp.status
            except urllib3.exceptions.HTTPError:
                status = None
            if status in (200, 402, 202):
                with lock:
                    answers.setdefault(body["f010"], []).append((status, resp.json()["status"]))
                return
            with lock:
                retry_signals.append(status)
            time.sleep(pause)  # the client's own back-off between retries, bounded by the deadline
            pause = min(pause * 2, 0.5)
        with lock:
            gave_up.append(body["f010"])

    def client(c):
        for i in range(PAYMENTS_EACH):
            pay({**template, "f005": MSISDNS[(c + i) % len(MSISDNS)], "f010": f"order_{c}_{i}"})
            done.release()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    total = CLIENTS * PAYMENTS_EACH
    for _ in range(total // 3):  # a third of the payments answered: the instance dies mid-load
        assert done.acquire(timeout=30), "the load stalled before the kill"
    victim = fleet.procs[ports[0]]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(5)
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert gave_up == []
    print(f"retry signals heard by clients: {sorted(retry_signals, key=str)}")

    # Settlement: the surviving instance's reconciler finishes whatever the dead one left open.
    deadline = time.monotonic() + 20
    while fleet.db.run("SELECT count(*) AS n FROM transactions WHERE status IN ('RECEIVED', 'PENDING', 'UNKNOWN')")[0]["n"]:
        assert time.monotonic() < deadline, fleet.db.run("SELECT f010, status FROM transactions "
                                                         "WHERE status IN ('RECEIVED', 'PENDING', 'UNKNOWN')")
        time.sleep(0.1)

    sent = {f"order_{c}_{i}" for c in range(CLIENTS) for i in range(PAYMENTS_EACH)}
    rows = fleet.db.run("SELECT f010, status, mospay.provider_reference(public_id, provider_ref) AS ref "
                        "FROM transactions")
    f010s = [r["f010"] for r in rows]
    assert sorted(f010s) == sorted(sent), "no payment lost, none recorded twice"
    final = {r["f010"]: r["status"] for r in rows}
    reference = {r["f010"]: r["ref"] for r in rows}  # what the provider was sent for each payment
    calls = sim.calls["by_external_id"]
    assert set(calls) <= set(reference.values()) and all(n == 1 for n in calls.values()), \
        {f: n for f, n in calls.items() if n != 1}
    for f010, state in final.items():
        truth = sim.status(reference[f010]) or "FAILED"  # never reached the provider: no money moved
        assert state == truth, (f010, state, truth)
        for code, status in answers[f010]:
            if code in FINAL:
                assert FINAL[code] == status == state, (f010, answers[f010], state)
            else:
                assert status in ("PENDING", "UNKNOWN"), (f010, answers[f010])
    # And asking again, through nginx, any time later gives the settled state.
    for f010 in sorted(sent)[:: max(1, len(sent) // 10)]:
        resp = http.request("GET", f"{base}/api/v1/payment/{f010}", headers=headers, timeout=10)
        assert resp.status == 200 and resp.json()["status"] == final[f010]
        # nginx's own request id reached MosPay (a trusted proxy) and came back: 32 hex digits, not
        # the 16 MosPay makes up itself.
        assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["X-Request-ID"])
    assert http.request("GET", base + "/metrics", timeout=10).status == 404  # never exposed through nginx
