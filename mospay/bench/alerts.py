"""`python -m mospay.bench.alerts [--rows N]`: how long one alert evaluation pass takes (the evaluate_alerts
job) with one rule per metric over a 1-hour and a 1-day window, on N seeded transactions (default
1,000,000 over 60 days) in an embedded PostgreSQL. Prints the timings; nothing is written to the docs."""

from __future__ import annotations

import argparse
import statistics
import time

from mospay import alert_rules, alerts
from mospay.audit import Actor

from .extra import SEED_SLICE
from .stack import Stack

ACTOR = Actor(None, "bench", "admin")


def run(rows: int, passes: int = 5) -> dict:
    stack = Stack()
    try:
        stack.stub_url = "http://127.0.0.1:9"
        stack.seed()
        db = stack.db
        ids = db.run("SELECT c.id AS client_id, s.id AS service_id FROM clients c, services s")[0]
        started = time.perf_counter()
        for first in range(1, rows + 1, SEED_SLICE):
            db.query("seed_transactions", first=first, last=min(first + SEED_SLICE - 1, rows), **ids)
        db.run("VACUUM ANALYZE")
        print(f"seeded {rows:,} transactions in {time.perf_counter() - started:.1f} s")
        for window in (3600, 86400):
            for metric in alert_rules.METRICS:
                alert_rules.create(db, ACTOR, {"name": f"{metric} {window}", "metric": metric, "op": "<",
                                               "threshold": 1 if metric == "no_traffic" else 50,
                                               "window_s": window, "severity": "info",
                                               **({"measure": "amount"} if metric == "volume" else {})})
        times = []
        for _ in range(passes):
            started = time.perf_counter()
            counts = alerts.evaluate(db)
            times.append((time.perf_counter() - started) * 1000)
        figures = {"rows": rows, "rules": counts["rules"], "median_ms": statistics.median(times),
                   "max_ms": max(times), "errors": counts["errors"]}
        print(f"one evaluation pass, {figures['rules']} rules: median {figures['median_ms']:.0f} ms, "
              f"max {figures['max_ms']:.0f} ms over {passes} passes ({figures['errors']} rule errors)")
        return figures
    finally:
        stack.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mospay.bench.alerts", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="transactions to seed (default 1,000,000)")
    args = parser.parse_args(argv)
    return 0 if run(args.rows)["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
