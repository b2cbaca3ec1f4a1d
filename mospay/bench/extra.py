"""The benchmark's longer modes: start-up time, memory after 100,000 payments, big-data queries."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mospay.sql import QUERIES

from . import portal
from .stack import ROOT, free_port, wait_ready

SEED_SLICE = 100_000  # rows per seeding statement (--big-data)


def startup_times() -> dict:
    """`python run.py` with its own embedded database: first run (initdb + schema) and warm restart."""
    tmp = Path(tempfile.mkdtemp(prefix="mospay-bench-start-"))
    times = {}
    try:
        for label in ("embedded database, first run", "embedded database, warm"):
            port = free_port()
            env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY", "JWT_SECRET_KEY")}
            env.update({"MOSPAY_DATA_DIR": str(tmp / "var"), "MOSPAY_PORT": str(port)})
            with open(tmp / "start.log", "a") as log:
                proc = subprocess.Popen([sys.executable, "run.py"], cwd=ROOT, env=env, stdout=log,
                                        stderr=subprocess.STDOUT)
                try:
                    times[label] = wait_ready(f"http://127.0.0.1:{port}", timeout=90)
                finally:
                    proc.terminate()
                    proc.wait(30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return times


def memory(stack, mospay, url, request, connections: int, use_wrk: bool, total: int = 100_000) -> int:
    """Drive payments in 10 s chunks until `total` are recorded; RSS after each chunk. Prints the series
    and the growth over the last half; writes the figures to docs/benchmarks.md."""
    from . import report
    from .load import run_load

    samples = []  # (payments, rss MB)
    errors = 0
    started = time.monotonic()
    while True:
        count = stack.db.run("SELECT count(*) AS n FROM transactions")[0]["n"]
        samples.append((count, mospay.rss_mb()))
        print(f"{count:>7} payments  RSS {samples[-1][1]:.1f} MB  ({time.monotonic() - started:.0f} s)", flush=True)
        if count >= total:
            break
        result = run_load(url, request, 10, connections, f"mem{len(samples)}-{time.time_ns()}", use_wrk)
        errors += result.errors
        if time.monotonic() - started > 1800:
            print("gave up after 30 minutes", flush=True)
            break
    half_n, half = next((n, rss) for n, rss in samples if n >= total // 2)
    final = samples[-1][1]
    text = (f"- after {samples[-1][0]:,} payments: RSS **{final:.1f} MB** (target ≤ 120 MB); at "
            f"{half_n:,}: {half:.1f} MB; growth over the second half: **{final - half:+.1f} MB** "
            f"({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, `python -m mospay.bench --memory`, "
            f"{connections} connections, errors {errors})\n- series (payments → MB): "
            + ", ".join(f"{n:,} → {rss:.0f}" for n, rss in samples))
    print(text)
    report.write_docs(text, "memory")
    return 1 if errors else 0


def big_data(transactions: int = 1_000_000, write_docs: bool = True) -> int:
    """`transactions` rows and twice as many api_logs rows, seeded with generate_series; then the portal's
    own named queries (mospay/sql/reports.sql), run through db.query as the portal runs them, are timed."""
    from mospay import analytics, reports, validators
    from mospay.db import Database
    from mospay.embedded import APP_ROLE

    from . import report
    from .stack import Stack

    logs = 2 * transactions
    stack = Stack()
    try:
        stack.stub_url = "http://127.0.0.1:9"
        stack.seed()
        db = stack.db
        ids = db.run("SELECT c.id AS client_id, s.id AS service_id FROM clients c, services s")[0]
        started = time.monotonic()
        # As the cluster's superuser: MosPay's own role may not switch triggers off (SET ... replica).
        # The rollups the triggers would keep are rebuilt below.
        seeder = Database(stack.db_url.replace(f"//{APP_ROLE}:@", "//postgres:@", 1), size=1)
        with seeder.transaction() as tx:
            tx.run("SET LOCAL session_replication_role = replica")  # bulk seed: skip the audit triggers
            # In slices: one statement per million rows can outlast the driver's 30 s socket timeout.
            # Over 100 clients, one with a tenth of the rows (the merchant portal's pages are timed on it).
            client_ids = [ids["client_id"]] + portal.extra_clients(tx, 99)
            for first in range(1, transactions + 1, SEED_SLICE):
                tx.query("seed_transactions_spread", first=first, last=min(first + SEED_SLICE - 1, transactions),
                         client_ids=client_ids, service_id=ids["service_id"])
            for first in range(1, logs + 1, SEED_SLICE):
                tx.query("seed_api_logs", first=first, last=min(first + SEED_SLICE - 1, logs),
                         client_id=ids["client_id"])
        seeder.close()
        db.run("VACUUM ANALYZE transactions")
        db.run("VACUUM ANALYZE api_logs")
        seeded = time.monotonic() - started
        print(f"seeded {transactions:,} transactions and {logs:,} api_logs rows in {seeded:.0f} s", flush=True)

        def timed(name, **params):
            runs = []
            for _ in range(7):
                t = time.perf_counter()
                rows = db.query(name, **params)
                runs.append((time.perf_counter() - t) * 1000)
            runs.sort()
            return runs[len(runs) // 2], runs[-1], rows

        # What reports.dashboard runs, one query at a time (its two short lists are timed below).
        results = {name: timed(name) for name in ("dashboard_totals", "dashboard_volume", "dashboard_hourly",
                                                  "dashboard_stuck", "reconciler_backlog")}
        dashboard = sum(r[0] for r in results.values())
        page = []  # the whole dashboard as the portal reads it: the five above plus its two short lists
        for _ in range(7):
            t = time.perf_counter()
            reports.dashboard(db)
            page.append((time.perf_counter() - t) * 1000)
        page.sort()
        no_filters = reports.transaction_filters({})
        first = timed("transactions_page", **no_filters, limit=reports.PAGE_SIZE + 1)
        last = first[2][reports.PAGE_SIZE - 1]
        second_filters = reports.transaction_filters({"after": validators.cursor_text(last)})
        second = timed("transactions_page", **second_filters, limit=reports.PAGE_SIZE + 1)
        deep = db.run("SELECT created_at, id FROM transactions ORDER BY created_at DESC, id DESC "
                      "OFFSET :n LIMIT 1", n=transactions // 2)[0]
        deep_filters = reports.transaction_filters({"after": validators.cursor_text(deep)})
        later = timed("transactions_page", **deep_filters, limit=reports.PAGE_SIZE + 1)
        log_page = timed("api_logs_page", **reports.api_log_filters({}), limit=reports.PAGE_SIZE + 1)
        lines = ["| named query | median ms | slowest of 7 ms |", "|---|---:|---:|"]
        lines += [f"| {n} | {m:.1f} | {w:.1f} |" for n, (m, w, _) in results.items()]
        lines += [f"| **dashboard, all five** | **{dashboard:.1f}** | |",
                  f"| **reports.dashboard, the whole page's reads** | **{page[3]:.1f}** | {page[-1]:.1f} |",
                  f"| transactions_page, first page | {first[0]:.1f} | {first[1]:.1f} |",
                  f"| transactions_page, second page (keyset) | {second[0]:.1f} | {second[1]:.1f} |",
                  f"| transactions_page, page after row {transactions // 2:,} (keyset) | {later[0]:.1f} | "
                  f"{later[1]:.1f} |",
                  f"| api_logs_page, first page | {log_page[0]:.1f} | {log_page[1]:.1f} |"]
        plan = db.run("EXPLAIN (ANALYZE, BUFFERS) " + QUERIES["transactions_page"].text, **deep_filters,
                      limit=reports.PAGE_SIZE + 1)
        merchant = portal.measure(stack, client_ids[0], client_ids[50])
        from .analytics_bench import _long_statement, table, timings
        _long_statement(db.url, "SELECT mospay.rebuild_rollups(date_trunc('day', now(), 'UTC') - interval '1 day')")  # the seed inserted final rows directly
        analytics.fold(db)
        analytics_table = table([t for t in timings(db, filtered=False) if t[0].startswith("90 d")])
        retention = time_retention(db)
        text = "\n".join(lines) + (
            f"\n\nSeeded {transactions:,} transactions and {logs:,} api_logs rows in {seeded:.0f} s "
            f"({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, `python -m mospay.bench --big-data`). "
            f"Plan of the deep keyset page:\n\n```\n"
            + "\n".join(r["QUERY PLAN"] for r in plan) + f"\n```\n\n{merchant}\n\nAnalytics on the same rows "
            f"(every client; rollups rebuilt after the seed):\n\n{analytics_table}\n\n{retention}")
        print(text)
        if write_docs:
            report.write_docs(text, "big-data")
        return 0
    finally:
        stack.close()


def time_retention(db) -> str:
    """Prune api_logs past 90 days while another connection keeps inserting log rows (as payments do):
    the inserts' worst latency shows whether the batched deletes block them."""
    import threading

    from mospay.retention import prune_logs

    stop, worst, inserts = threading.Event(), [0.0], [0]

    def writer():
        while not stop.is_set():
            t = time.perf_counter()
            db.run("INSERT INTO api_logs (endpoint, method, status_code) VALUES ('/bench', 'POST', 200)")
            worst[0] = max(worst[0], (time.perf_counter() - t) * 1000)
            inserts[0] += 1
            time.sleep(0.002)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    started = time.monotonic()
    deleted = prune_logs(db, 90)
    elapsed = time.monotonic() - started
    stop.set()
    thread.join(10)
    return (f"Retention: `prune_logs` (90 days, batches of 5,000) deleted {deleted:,} api_logs rows in "
            f"{elapsed:.1f} s while another connection inserted {inserts[0]:,} log rows; the slowest of "
            f"those inserts took {worst[0]:.1f} ms.")


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def statement(lines: int = 100_000, write_docs: bool = True) -> int:
    """A provider statement of `lines` lines (a few of each discrepancy planted) matched by the same
    function the upload endpoint calls (mospay.statements.upload: stream parse, batched inserts, set-wise
    match), timed, with this process's peak RSS growth; a tenth as many lines first, to show it flat."""
    from mospay import statements
    from mospay.audit import Actor

    from . import report
    from .stack import SERVICE, Stack

    stack = Stack()
    try:
        stack.stub_url = "http://127.0.0.1:9"
        stack.seed()
        db = stack.db
        ids = db.run("SELECT c.id AS client_id, s.id AS service_id FROM clients c, services s")[0]
        for first in range(1, lines + 1, SEED_SLICE):
            db.query("seed_transactions", first=first, last=min(first + SEED_SLICE - 1, lines), **ids)
        db.run("VACUUM ANALYZE transactions")
        rows = []
        for size in (lines // 10, lines):
            path = stack.tmp / f"statement-{size}.csv"
            with open(path, "w", encoding="utf-8", newline="") as out:  # written in keyset batches: flat here too
                out.write("reference,amount,currency,status,date\r\n")
                after, n = 0, 0
                while n < size:
                    batch = db.run("SELECT id, mospay.provider_reference(public_id, provider_ref) AS ref, amount, "
                                   "status, created_at FROM transactions WHERE id > :after ORDER BY id LIMIT 10000",
                                   after=after)
                    if not batch:
                        break
                    for t in batch[:size - n]:
                        n += 1
                        k = t["id"] % 1000
                        if k == 2:
                            continue  # missing at the provider
                        amount = t["amount"] + 1 if k == 0 else t["amount"]
                        status = "FAILED" if k == 1 and t["status"] == "SUCCESSFUL" else t["status"]
                        ref = "" if k == 3 else t["ref"]
                        out.write(f"{ref},{amount},RWF,{status},{t['created_at'].isoformat()}\r\n")
                    after = batch[-1]["id"]
            try:
                Path("/proc/self/clear_refs").write_text("5")  # resets the peak RSS (VmHWM) to the current
            except OSError:
                pass
            before = _rss_kb("VmRSS")
            started = time.perf_counter()
            with open(path, "rb") as stream:
                answer, _ = statements.upload(db, Actor(None, "bench", "admin"), SERVICE, stream, path.name,
                                              max_bytes=1 << 30, tolerance=0, window_s=86400)
            elapsed = time.perf_counter() - started
            growth = (_rss_kb("VmHWM") - before) / 1024
            rows.append((size, path.stat().st_size / 1e6, elapsed, growth, answer))
            print(f"{size:,} lines: {elapsed:.1f} s, peak RSS growth {growth:.1f} MB, {answer}", flush=True)
        table = ["| lines | file MB | matched in s | peak RSS growth MB | matched | discrepancies |",
                 "|---:|---:|---:|---:|---:|---|"]
        for size, mb, elapsed, growth, answer in rows:
            found = ", ".join(f"{k} {v}" for k, v in answer.items()
                              if k not in ("statement_id", "lines", "matched") and v)
            table.append(f"| {size:,} | {mb:.1f} | **{elapsed:.1f}** | {growth:.1f} | {answer['matched']:,} | "
                         f"{found} |")
        text = "\n".join(table) + (
            f"\n\n({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, `python -m mospay.bench --statement`, "
            f"{os.cpu_count()} cores, embedded PostgreSQL; target: 100,000 lines ≤ 30 s, memory flat.)")
        print(text)
        if write_docs:
            report.write_docs(text, "statement")
        return 0
    finally:
        stack.close()
