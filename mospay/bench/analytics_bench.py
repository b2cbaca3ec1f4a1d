"""`python -m mospay.bench --analytics`: 1,000,000 transactions over 90 days (20 clients, 4 services, two
routes, failures with eight provider reasons, latencies, late settles), rollups rebuilt, then the analytics
page's reads (mospay.analytics.analytics, as the portal and the admin API call it) timed per range and split."""

from __future__ import annotations

import time

from mospay import accounts, analytics, catalogue

SEED_SLICE = 100_000


def seed(db, rows: int) -> dict:
    """Clients and services to spread the rows over, then the rows, inserted with their final status (the
    rollups are rebuilt afterwards, as the upgrade's backfill does). Returns how long each part took."""
    for i in range(3):
        catalogue.create_service(db, {"name": f"benchsvc{i}", "service_url": "http://127.0.0.1:9"})
    for i in range(19):
        accounts.create_client(db, "bench-secret-key-0123456789abcdef", {"app_id": f"benchshop{i}",
                                                                         "company_name": f"Shop {i}"})
    client_ids = [r["id"] for r in db.run("SELECT id FROM clients ORDER BY id")]
    service_ids = [r["id"] for r in db.run("SELECT id FROM services ORDER BY id")]
    started = time.monotonic()
    with db.transaction() as tx:  # inserted as they are (rollups count status changes, not inserts)
        for first in range(1, rows + 1, SEED_SLICE):
            tx.query("seed_varied_transactions", first=first, last=min(first + SEED_SLICE - 1, rows), rows=rows,
                     client_ids=client_ids, service_ids=service_ids)
    seeded = time.monotonic() - started
    db.run("VACUUM ANALYZE transactions")
    started = time.monotonic()
    _long_statement(db.url, "SELECT mospay.rebuild_rollups(date_trunc('day', now(), 'UTC') - interval '1 day')")
    rebuilt = time.monotonic() - started
    started = time.monotonic()
    analytics.fold(db)  # as the migration's backfill and then the hourly job do
    folded = time.monotonic() - started
    db.run("VACUUM ANALYZE payment_rollups")
    db.run("VACUUM ANALYZE failure_rollups")
    counts = db.run("SELECT (SELECT count(*) FROM payment_rollups) AS rollups, "
                    "(SELECT count(*) FROM failure_rollups) AS failures")[0]
    return {"seeded_s": seeded, "rebuilt_s": rebuilt, "folded_s": folded, **counts}


def _long_statement(url: str, sql: str) -> None:
    """One statement on its own connection without the pool's 30 s read timeout (a loaded machine's
    rebuild of a million rows can take longer)."""
    import pg8000.native

    from mospay.db import connect_params

    conn = pg8000.native.Connection(**{**connect_params(url), "timeout": None})
    try:
        conn.run(sql)
    finally:
        conn.close()


def timings(db, runs: int = 7, filtered: bool = True) -> list[tuple[str, float, float]]:
    """(label, median ms, slowest ms) of analytics.analytics for every range and split, and filtered
    (to one of seed()'s clients and services)."""
    cases = [(f"{days} d by {by}", days, by, {}) for days in analytics.RANGES for by in analytics.SPLITS]
    if filtered:
        cases += [("90 d by route, one client (a merchant's view)", 90, "route", {"app_id": "benchshop3"}),
                  ("90 d by client, one service", 90, "client", {"service": "benchsvc1"})]
    for _, days, by, filters in cases:  # one untimed round: every case starts from the same warm cache
        analytics.analytics(db, days, by, **filters)
    found = []
    for label, days, by, filters in cases:
        spent = []
        for _ in range(runs):
            t = time.perf_counter()
            analytics.analytics(db, days, by, **filters)
            spent.append((time.perf_counter() - t) * 1000)
        spent.sort()
        found.append((label, spent[len(spent) // 2], spent[-1]))
    return found


def table(rows: list[tuple[str, float, float]]) -> str:
    lines = ["| analytics.analytics (the page's reads) | median ms | slowest of 7 ms |", "|---|---:|---:|"]
    lines += [f"| {label} | {median:.1f} | {worst:.1f} |" for label, median, worst in rows]
    return "\n".join(lines)


def run(rows: int = 1_000_000, write_docs: bool = True) -> int:
    from . import report
    from .stack import Stack

    stack = Stack()
    try:
        stack.stub_url = "http://127.0.0.1:9"
        stack.seed()
        facts = seed(stack.db, rows)
        print(f"seeded {rows:,} transactions in {facts['seeded_s']:.0f} s; rollups rebuilt in "
              f"{facts['rebuilt_s']:.1f} s, folded in {facts['folded_s']:.1f} s ({facts['rollups']:,} rollup rows, {facts['failures']:,} failure rows)",
              flush=True)
        result = timings(stack.db)
        text = table(result) + (
            f"\n\n{rows:,} transactions over 90 days (20 clients, 4 services, 2 routes) seeded in "
            f"{facts['seeded_s']:.0f} s; `mospay.rebuild_rollups(yesterday)` (the upgrade's backfill) took "
            f"{facts['rebuilt_s']:.1f} s, folding the hours before yesterday into days {facts['folded_s']:.1f} s, "
            f"leaving {facts['rollups']:,} rollup rows and {facts['failures']:,} failure-reason rows ({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
            f"`python -m mospay.bench --analytics`; load average before: {report.machine()['load_before']}).")
        print(text)
        if write_docs:
            report.write_docs(text, "analytics")
        return 0 if max(m for _, m, _ in result) < 300 else 1
    finally:
        stack.close()
