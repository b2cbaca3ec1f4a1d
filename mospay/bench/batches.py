"""`python -m mospay.bench --batches`: how long a 10,000-row batch takes to validate and store, how much
memory a 100,000-row upload takes (streamed), and how many rows a second a running batch pays against a
fast provider stub while max_per_second holds (the stub counts the calls it gets in each second)."""

from __future__ import annotations

import asyncio
import collections
import json
import urllib.error
import urllib.request
import os
import threading
import time
from pathlib import Path

from mospay import batch_upload, batches
from mospay.audit import Actor
from mospay.payments import PaymentGateway
from mospay.provider import Provider

from . import report
from .stack import APP_ID, SERVICE, Stack

PER_SECOND = 200
PAY_ROWS = 3000
BODY = b'{"status":"SUCCESSFUL","message":"Payment completed","financialTransactionId":"4242424242"}'
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + str(len(BODY)).encode()
            + b"\r\nConnection: keep-alive\r\n\r\n" + BODY)


class CountingStub:
    """The fast stub (mospay/bench/stub.py's answer), counting the calls that arrive in each wall-clock second."""

    def __init__(self):
        self.per_second: collections.Counter = collections.Counter()
        self.url = None
        self._ready = threading.Event()
        self._loop = None
        threading.Thread(target=self._run, daemon=True).start()
        self._ready.wait(10)

    def _run(self):
        asyncio.run(self._main())

    async def _main(self):
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024)
        self.url = "http://127.0.0.1:%d" % server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()

    async def _serve(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.per_second[int(time.time())] += 1
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:].strip())
                if length:
                    await reader.readexactly(length)
                writer.write(RESPONSE)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    def stop(self):
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _post_csv(url: str, headers: dict, body: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, method="POST", headers={**headers, "Content-Type": "text/csv"})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _csv(path: Path, rows: int, prefix: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("f000,f001,f002,f004,f005,f006,f009,f010\r\n")
        for i in range(1, rows + 1):
            out.write(f"{SERVICE},collection,collection,{100 + i % 900}.00,+2507881{i % 100000:05d},"
                      f"customer{i % 1000},dev1,{prefix}-{i}\r\n")


def _upload(stack, gateway, client, path: Path) -> tuple[float, float, dict]:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets the peak RSS (VmHWM) to the current
    except OSError:
        pass
    before = _rss_kb("VmRSS")
    started = time.perf_counter()
    with open(path, "rb") as stream:
        spooled, sha = batch_upload.spool(stream, 1 << 30)
        try:
            answer, _ = batch_upload.upload(stack.db, gateway, Actor(None, f"client:{APP_ID}", "client"), client,
                                            batch_upload.csv_rows(spooled), sha, name=path.name, key=None,
                                            store_key="bench")
        finally:
            spooled.close()
    return time.perf_counter() - started, (_rss_kb("VmHWM") - before) / 1024, answer


def run(write_docs: bool = True) -> int:
    stub = CountingStub()
    stack = Stack()
    try:
        stack.stub_url = stub.url
        stack.seed()
        db = stack.db
        # The benchmark's rows carry no secret field, as in the figures docs/benchmarks.md keeps comparable.
        db.run("DELETE FROM service_fields WHERE code IN ('f007', 'f008')")
        gateway = PaymentGateway(db, Provider(maxsize=4), stack.keys["SECRET_KEY"])
        client = db.one("batch_client", app_id=APP_ID)
        lines = []
        for rows in (10_000, 100_000):
            path = stack.tmp / f"batch-{rows}.csv"
            _csv(path, rows, f"v{rows}")
            elapsed, growth, answer = _upload(stack, gateway, client, path)
            assert answer["valid_rows"] == rows, answer
            lines.append((rows, path.stat().st_size / 1e6, elapsed, growth))
            print(f"{rows:,} rows: validated and stored in {elapsed:.1f} s, peak RSS growth {growth:.1f} MB",
                  flush=True)
            batches.decide(db, Actor(None, "bench", "admin"), "admin:bench", answer["batch_id"], "cancel",
                           client_id=None)
        # Paying: one run.py, the service limited to PER_SECOND rows started a second.
        db.query("batch_set_service_limits", name=SERVICE, max_in_flight=None, max_per_second=PER_SECOND)
        mospay, url, _ready = stack.start_mospay(env={"MOSPAY_BATCH_CONCURRENCY": "32", "MOSPAY_POOL_SIZE": "48",
                                                      "MOSPAY_BATCH_INTERVAL": "0.2"})
        path = stack.tmp / "pay.csv"
        _csv(path, PAY_ROWS, "pay")
        status, answer = _post_csv(url + "/api/v1/batches", stack.basic, path.read_bytes())
        if status != 201:
            raise RuntimeError(f"upload answered {status}: {answer}")
        stub.per_second.clear()
        started = time.perf_counter()
        batches.decide(db, Actor(None, "bench", "admin"), "admin:bench", answer["batch_id"], "approve", client_id=None)
        while True:
            doc = batches.status(db, answer["batch_id"], None)
            if doc["status"] == "COMPLETED" or time.perf_counter() - started > 300:
                break
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
        paid = doc["counts"]["SUCCESSFUL"]
        worst = max(stub.per_second.values(), default=0)
        over = sum(1 for n in stub.per_second.values() if n > PER_SECOND)
        print(f"{paid:,} rows paid in {elapsed:.1f} s: {paid / elapsed:.0f} rows/s; busiest second {worst} calls "
              f"(limit {PER_SECOND}), seconds over the limit: {over}", flush=True)
        table = ["| measure | figure |", "|---|---:|"]
        for rows, mb, secs, growth in lines:
            table.append(f"| {rows:,}-row CSV ({mb:.1f} MB): validated and stored | **{secs:.1f} s**, "
                         f"peak RSS growth {growth:.1f} MB |")
        table.append(f"| {paid:,} rows paid, max_per_second {PER_SECOND} | **{paid / elapsed:.0f} rows/s** "
                     f"({elapsed:.1f} s) |")
        table.append(f"| busiest second at the stub / seconds over the limit | {worst} / **{over}** |")
        text = "\n".join(table) + (
            f"\n\n({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, `python -m mospay.bench --batches`, "
            f"{os.cpu_count()} cores, embedded PostgreSQL, one run.py with MOSPAY_BATCH_CONCURRENCY=32; targets: "
            "10,000 rows validated ≤ 5 s, 100,000 rows with memory flat, ≥ 100 rows/s with 0 seconds over the limit.)")
        print(text)
        if write_docs:
            report.write_docs(text, "batches")
        return 0 if over == 0 and paid == PAY_ROWS else 1
    finally:
        stack.close()
        stub.stop()
