"""Chaos: two `run.py` processes on a PostgreSQL cluster of the test's own, ~1,000 payments by concurrent
clients that retry with the same f010 on the other process (as docs/guarantees.md tells them), while
one process is killed -9 mid-call and restarted, PostgreSQL stops for 3 s with calls in flight, and the
provider declines, answers 500 and 503, hangs past the deadline, sends malformed JSON and leaves
payments pending. Once the reconciler has settled everything: nothing lost, nothing duplicated, no wrong
final state, no payment sent to the provider twice, nothing open, and every answer a client got true."""

from __future__ import annotations

import base64
import os
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
import urllib3

from mospay import accounts, catalogue
from mospay.db import Database
from mospay.simulator import Simulator
from tests.integration.conftest import TEST_KEYS
from tests.integration.test_database_restart import PrivateCluster
from tests.support import FAST_SETTINGS, free_port, provider_reference, start_process, stop_process, wait_for_line

pytestmark = pytest.mark.embedded  # its own pgserver cluster (or none), never the suite's database

PAYMENTS = 1050
SPREAD_S = 32.0  # payments start evenly over this long
CLIENTS = 24
KILL_AT_S, OUTAGE_AT_S, OUTAGE_S = 7.0, 17.0, 3.0
# f005's last four digits pick what the simulator does (README's table), and so the right final state.
MIX = ["0100"] * 10 + ["0001", "0001", "0002", "0002", "0003", "0005", "0503", "0004", "0008", "0100"]
FINAL = {"0100": "SUCCESSFUL", "0001": "FAILED", "0002": "SUCCESSFUL", "0003": "SUCCESSFUL",
         "0005": "SUCCESSFUL", "0503": "FAILED", "0004": "SUCCESSFUL", "0008": "FAILED"}
FAULT_NAMES = {"0001": "declines", "0002": "timeouts", "0003": "provider 500s", "0005": "malformed answers",
               "0503": "provider 503s", "0004": "pending (approved)", "0008": "pending (rejected)"}


@dataclass
class Attempt:
    port: int
    sent: float
    received: float
    status: int | None  # None: no answer (connection refused or cut)
    body: dict | None
    calls_before: int
    calls_after: int


@dataclass
class Payment:
    index: int
    f010: str
    suffix: str
    attempts: list = field(default_factory=list)

    @property
    def answer(self) -> Attempt | None:
        last = self.attempts[-1] if self.attempts else None
        return last if last is not None and last.status in (200, 202, 402) else None


class Processes:
    """Two MosPay processes on the cluster, each on its own port; their output drained by a thread."""

    def __init__(self, url: str, tmp_path):
        self.url, self.tmp = url, tmp_path
        self.ports = [free_port(), free_port()]
        self.procs: dict[int, object] = {}
        self.inflight: dict[int, dict] = {port: {} for port in self.ports}  # port -> {f010: (suffix, sent)}
        self.lock = threading.Lock()

    def start(self, port: int) -> None:
        proc = start_process(["run.py", "--port", str(port)], {
            "DATABASE_URL": self.url, "MOSPAY_DATA_DIR": str(self.tmp / f"data{port}"), **TEST_KEYS,
            "MOSPAY_LOG_LEVEL": "ERROR", "MOSPAY_ACCESS_LOG": "off", "MOSPAY_RECONCILE_INTERVAL": "0.5",
            "MOSPAY_WEBHOOK_INTERVAL": "0", "MOSPAY_BREAKER_COOLDOWN": "1", "MOSPAY_THREADS": "12", "MOSPAY_POOL_SIZE": "14",
            "MOSPAY_POOL_TIMEOUT": "2", "MOSPAY_AUTH_FAILURE_LIMIT": "100000"})
        wait_for_line(proc, r"MosPay listening on", timeout=60)
        threading.Thread(target=_drain, args=(proc,), daemon=True).start()
        self.procs[port] = proc

    def kill(self, port: int) -> None:
        proc = self.procs.pop(port)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            stop_process(proc)
        self.procs.clear()

    def call_in_provider(self, port: int | None) -> bool:
        """A payment that hangs at the provider (0002) has been in flight there for 0.2 s."""
        now = time.monotonic()
        with self.lock:
            return any(s == "0002" and now - t > 0.2 for p in ([port] if port else self.ports)
                       for s, t in self.inflight[p].values())


@pytest.fixture
def cluster():
    c = PrivateCluster()
    for name, value in FAST_SETTINGS.items():  # a throw-away cluster: durability is not under test
        c.server.psql(f"ALTER SYSTEM SET {name} = {value};")
    c.server.psql("SELECT pg_reload_conf();")
    yield c
    c.close()


def test_chaos_loses_nothing_duplicates_nothing_and_every_answer_is_true(cluster, tmp_path):
    sim = Simulator(hang_seconds=3, callback_delay=1).start()
    procs = Processes(cluster.url, tmp_path)
    db = None
    try:
        procs.start(procs.ports[0])  # the first applies the schema
        procs.start(procs.ports[1])
        with_setup = Database(cluster.url, size=2)
        headers = _onboard(with_setup, sim.url)
        with_setup.close()  # its connections would not outlive the outage
        payments = [Payment(i, f"chaos{i}", MIX[i % len(MIX)]) for i in range(PAYMENTS)]
        faults = Counter()
        t0 = time.monotonic()
        injector = threading.Thread(target=_inject_faults, args=(procs, cluster, t0, faults))
        injector.start()
        _pay_all(procs, sim, headers, payments, t0)
        injector.join(60)
        assert not injector.is_alive()
        traffic_s = time.monotonic() - t0

        db = Database(cluster.url, size=2)
        deadline = time.monotonic() + 60  # the reconcilers settle what is open (schedule 1, 2, 3... s)
        while (open_n := db.run("SELECT count(*) AS n FROM transactions WHERE status IN "
                                "('RECEIVED', 'PENDING', 'UNKNOWN')")[0]["n"]):
            assert time.monotonic() < deadline, f"{open_n} transactions still open"
            time.sleep(0.2)
        settle_s = time.monotonic() - t0 - traffic_s
        rows = {r["f010"]: r for r in db.run(
            "SELECT f010, public_id, status, stuck, created_at, extract(epoch FROM created_at) AS created "
            "FROM transactions")}
        counts = db.run("SELECT f010, count(*) AS n FROM transactions GROUP BY f010 HAVING count(*) > 1")
        calls = _count_calls(payments, rows, sim.server.ledger.call_times())
        verdict = _judge(payments, rows, calls, counts)
    finally:
        procs.stop_all()
        if db is not None:
            db.close()
        sim.stop()

    answers = Counter(str(a.status) for p in payments for a in p.attempts)
    faults["unrecorded"] = sum(1 for p in payments for a in p.attempts if a.body and "could not be recorded"
                               in str(a.body.get("result", {}).get("message", "")))
    suffixes = Counter(p.suffix for p in payments)
    provider_faults = ", ".join(f"{suffixes[s]} {name}" for s, name in FAULT_NAMES.items())
    print(f"\nchaos: {PAYMENTS} payments in {traffic_s:.0f} s over 2 processes, settled {settle_s:.1f} s later; faults: kill -9 x1 "
          f"({faults['cut']} in flight on it, restarted), PostgreSQL stopped {OUTAGE_S:.0f} s "
          f"({answers['503']} answers 503, {faults['unrecorded']} answered 202 after the commit), "
          f"{provider_faults}; answers {dict(sorted(answers.items()))}; "
          f"lost {len(verdict['lost'])}, duplicated {len(verdict['duplicated'])}, "
          f"wrong final {len(verdict['wrong'])}, double provider calls {len(verdict['double'])}, "
          f"open {len(verdict['open'])}, untrue answers {len(verdict['untrue'])}")
    assert {k: v[:5] for k, v in verdict.items() if v} == {}
    assert faults["killed"] == 1 and faults["outage"] == 1


def _onboard(db: Database, simulator_url: str) -> dict:
    catalogue.create_service(db, {"name": "momo", "service_url": simulator_url, "timeout_s": 1,
                                  "connect_timeout_s": 0.5})
    db.run("UPDATE services SET reconcile_schedule_s = '{1,2,3,4,6,8,10,15,20,30,60,120}'")
    creds = accounts.create_client(db, TEST_KEYS["SECRET_KEY"], {"company_name": "Chaos", "app_id": "chaos"})
    catalogue.assign_service(db, "chaos", {"service": "momo", "routes": ["collection"]})
    raw = base64.b64encode(f"{creds['api_username']}:{creds['api_secret']}".encode()).decode()
    return {"Authorization": f"Basic {raw}", "App-ID": "chaos"}


def _pay_all(procs: Processes, sim: Simulator, headers: dict, payments: list, t0: float) -> None:
    http = urllib3.PoolManager(maxsize=CLIENTS, retries=False)
    queue_lock, next_index = threading.Lock(), iter(range(len(payments)))

    def client():
        while True:
            with queue_lock:
                i = next(next_index, None)
            if i is None:
                return
            wait = t0 + i * SPREAD_S / len(payments) - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            _pay_until_answered(http, procs, sim, headers, payments[i])

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(SPREAD_S + 90)
    assert not any(t.is_alive() for t in threads), "a client never got an answer"


def _pay_until_answered(http, procs: Processes, sim: Simulator, headers: dict, payment: Payment) -> None:
    """What docs/guarantees.md tells a client: retry the same f010 (here on the other process) after no
    answer, 503, 409 in_progress or another 5xx; 200/402 are final, 202 is settled later."""
    body = {"f000": "momo", "f001": "collection", "f002": "collection", "f003": "chaos", "f004": "100.00",
            "f005": f"+25078812{payment.suffix}", "f006": "c", "f007": "e", "f008": "p", "f009": "d",
            "f010": payment.f010}
    which, deadline = payment.index % 2, time.monotonic() + 75
    while time.monotonic() < deadline:
        port = procs.ports[which]
        with procs.lock:
            procs.inflight[port][payment.f010] = (payment.suffix, time.monotonic())
        sent, status, answer, retry_after = time.time(), None, None, None
        try:
            resp = http.request("POST", f"http://127.0.0.1:{port}/api/v1/payment/process", json=body,
                                headers=headers, timeout=15)
            status, answer, retry_after = resp.status, resp.json(), resp.headers.get("Retry-After")
        except (urllib3.exceptions.HTTPError, ValueError):
            pass
        finally:
            with procs.lock:
                procs.inflight[port].pop(payment.f010, None)
        # Which provider calls fell inside this attempt is worked out afterwards (_count_calls): the
        # reference a payment is sent exists only once it is recorded.
        payment.attempts.append(Attempt(port, sent, time.time(), status, answer, 0, 0))
        if status in (200, 202, 402) or (status is not None and status < 500 and status not in (409, 429)):
            return
        which ^= 1
        time.sleep(min(float(retry_after or 0.2), 1.0))


def _inject_faults(procs: Processes, cluster, t0: float, faults: Counter) -> None:
    def at(seconds):
        time.sleep(max(0.0, t0 + seconds - time.monotonic()))

    def wait_for_a_call_in_flight(port):
        deadline = time.monotonic() + 10
        while not procs.call_in_provider(port) and time.monotonic() < deadline:
            time.sleep(0.01)

    victim = procs.ports[0]
    at(KILL_AT_S)
    wait_for_a_call_in_flight(victim)
    with procs.lock:
        faults["cut"] = len(procs.inflight[victim])
    procs.kill(victim)
    faults["killed"] += 1
    procs.start(victim)  # the same port: its clients' retries find it again

    at(OUTAGE_AT_S)
    wait_for_a_call_in_flight(None)
    cluster.stop()
    faults["outage"] += 1
    time.sleep(OUTAGE_S)  # the outage itself
    cluster.start()


def _count_calls(payments: list, rows: dict, times: dict) -> dict:
    """Provider calls per f010, through the reference each payment was sent (the UUID in its
    transaction_id); fills in each attempt's calls before it was sent and once it was answered."""
    calls = {}
    for p in payments:
        row = rows.get(p.f010)
        at = times.get(provider_reference(row["public_id"]), []) if row else []
        calls[p.f010] = len(at)
        for a in p.attempts:
            a.calls_before = sum(1 for t in at if t < a.sent)
            a.calls_after = sum(1 for t in at if t <= a.received)
    return calls


def _judge(payments: list, rows: dict, calls: dict, duplicates: list) -> dict:
    """Every promise, checked per payment; each list names the payments that break it."""
    verdict = {name: [] for name in ("lost", "duplicated", "wrong", "double", "open", "untrue")}
    verdict["duplicated"] += [d["f010"] for d in duplicates]
    for p in payments:
        row, n_calls = rows.get(p.f010), calls.get(p.f010, 0)
        if p.answer is None or (n_calls and row is None):
            verdict["lost"].append((p.f010, [a.status for a in p.attempts]))
            continue
        if row is None:
            verdict["lost"].append((p.f010, "answered but not recorded"))
            continue
        if n_calls > 1:
            verdict["double"].append((p.f010, n_calls))
        if row["status"] not in ("SUCCESSFUL", "FAILED") or row["stuck"]:
            verdict["open"].append((p.f010, row["status"]))
            continue
        expected = FINAL[p.suffix] if n_calls else "FAILED"  # never sent: the provider has no record of it
        if row["status"] != expected:
            verdict["wrong"].append((p.f010, p.suffix, n_calls, row["status"]))
        ids = {a.body.get("transaction_id") for a in p.attempts if a.status in (200, 202, 402)}
        if ids != {row["public_id"]}:
            verdict["duplicated"].append((p.f010, ids, row["public_id"]))
        for a in p.attempts:
            if not _true(a, row, n_calls):
                verdict["untrue"].append((p.f010, p.suffix, a.status, a.body, row["status"]))
    return verdict


def _true(a: Attempt, row: dict, n_calls: int) -> bool:
    if a.status is None or a.status == 409 and (a.body or {}).get("error", {}).get("code") == "in_progress":
        return True  # no answer says nothing; in_progress says "ask again"
    if a.status == 503:
        # "Nothing was recorded": this request made no provider call; and if its record reached the
        # database although the connection broke (a lost commit acknowledgement), nothing was sent for it.
        created_here = a.sent - 0.05 <= float(row["created"]) <= a.received + 0.05
        return a.calls_after == a.calls_before and not (created_here and n_calls)
    if a.status in (200, 402):
        return (a.body["status"], a.status) == (row["status"], 200 if row["status"] == "SUCCESSFUL" else 402)
    if a.status == 202:
        return a.body["status"] in ("PENDING", "UNKNOWN")
    return False  # 429, another 4xx or a 500: not what this client should ever hear


def _drain(proc) -> None:
    try:
        for _ in proc.stdout:
            pass
    except (ValueError, OSError):
        pass
