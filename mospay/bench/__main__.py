"""`python -m mospay.bench [--smoke | --memory | --big-data | --analytics | --statement | --batches]`: start everything on loopback, drive load,
print the table and write it to docs/benchmarks.md. Exits 1 on any non-2xx answer."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

from . import extra, report
from .load import Request, have_wrk, run_load
from .stack import APP_ID, SERVICE, Stack, http_json, postmaster_pid, tree_cpu_s

PAYMENT = {"f000": SERVICE, "f001": "collection", "f002": "collection", "f003": APP_ID, "f004": "1000.00",
           "f005": "+250788123456", "f006": "customer123", "f007": "enc-secret", "f008": "pwd-secret",
           "f009": "device_abc123", "f010": "{f010}"}
JSON = {"Content-Type": "application/json"}


def payment_request(headers: dict) -> Request:
    return Request("POST", "/api/v1/payment/process", {**JSON, **headers}, json.dumps(PAYMENT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mospay.bench", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true", help="a few seconds in all, for CI; writes no docs")
    mode.add_argument("--memory", action="store_true", help="RSS after 100,000 payments (about 5 minutes)")
    mode.add_argument("--big-data", action="store_true",
                      help="dashboard and list queries on 1M transactions + 2M api_logs rows")
    mode.add_argument("--analytics", action="store_true",
                      help="the analytics page's reads on 1M transactions over 90 days (rollups)")
    mode.add_argument("--batches", action="store_true",
                      help="batch upload (10,000 and 100,000 rows) and paying rows/s under max_per_second")
    mode.add_argument("--statement", action="store_true",
                      help="match a 100,000-line provider statement (time and memory)")
    parser.add_argument("--seconds", type=float, default=12.0, help="measured seconds per scenario")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=16, help="waitress threads (MosPay and the ceiling)")
    parser.add_argument("--builtin", action="store_true", help="use the built-in load generator even if wrk exists")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="--big-data: transactions to seed (api_logs get twice as many)")
    args = parser.parse_args(argv)
    if args.big_data:
        return extra.big_data(args.rows, write_docs=not args.no_docs)
    if args.analytics:
        from . import analytics_bench
        return analytics_bench.run(args.rows, write_docs=not args.no_docs)
    if args.batches:
        from . import batches
        return batches.run(write_docs=not args.no_docs)
    if args.statement:
        return extra.statement(write_docs=not args.no_docs)
    if args.smoke:
        args.seconds = 1.0
    seconds, warmup = args.seconds, (0.0 if args.smoke else 2.0)
    use_wrk = False if args.builtin else have_wrk()
    machine = report.machine()
    started_at = datetime.datetime.now(datetime.timezone.utc)
    stack = Stack(threads=args.threads)
    try:
        stack.start_stub()
        stack.seed()
        mospay, url, ready_s = stack.start_mospay()
        if args.memory:
            return extra.memory(stack, mospay, url, payment_request({"Authorization": f"Bearer {stack.token(url)}"}),
                                args.connections, use_wrk)
        ceiling_url = stack.start_ceiling()
        token = stack.token(url)
        bearer, basic = {"Authorization": f"Bearer {token}"}, stack.basic
        # Transactions for the status scenario to look up.
        f010s = [f"lookup-{i}" for i in range(50)]
        for f010 in f010s:
            status, body = http_json("POST", url + "/api/v1/payment/process", bearer, {**PAYMENT, "f010": f010})
            if status != 200:
                raise RuntimeError(f"seeding payment answered {status}: {body}")
        scenarios = [
            ("1. payment, Bearer", url, payment_request(bearer)),
            ("2. payment, Basic + App-ID", url, payment_request(basic)),
            ("3. token (Basic)", url, Request("POST", "/api/v1/auth/token", basic)),
            ("4. payment status (GET)", url,
             Request("GET", "/api/v1/payment/x", bearer, paths=[f"/api/v1/payment/{f}" for f in f010s])),
            ("5. ceiling (no DB, no auth)", ceiling_url, payment_request({})),
        ]
        results, cpu = {}, {}
        pg_pid = postmaster_pid(stack.embedded.pgdata)
        stub_pid = stack.processes[0].proc.pid
        gateways = {url: mospay.proc.pid, ceiling_url: stack.processes[-1].proc.pid}

        def measure(name, base, req, tag):
            """One scenario, with the CPU each process spent per request (where the time goes)."""
            pids = {"gateway": gateways[base], "postgres": pg_pid, "stub": stub_pid}
            before = {k: tree_cpu_s(p) for k, p in pids.items() if p}
            children_before = os.times().children_user + os.times().children_system
            results[name] = run_load(base, req, seconds, args.connections, tag, use_wrk)
            done = max(1, results[name].requests)
            cpu[name] = {k: (tree_cpu_s(pids[k]) - v) * 1000 / done for k, v in before.items()}
            if use_wrk:
                cpu[name]["wrk"] = (os.times().children_user + os.times().children_system - children_before) * 1000 / done
            print(report.row(name, results[name]), flush=True)

        log_before = len(mospay.output().splitlines())
        for index, (name, base, req) in enumerate(scenarios):
            if warmup:
                run_load(base, req, warmup, args.connections, f"w{index}-{time.time_ns()}", use_wrk)
            measure(name, base, req, f"s{index}-{time.time_ns()}")
        log_lines = len(mospay.output().splitlines()) - log_before
        rss = {"1 process": round(mospay.rss_mb(), 1)}
        mospay.stop()

        def measure_on_own_process(name, label, tag, **start):
            """A Bearer payment scenario against a MosPay process of its own; returns that process's RSS."""
            proc, base, _ = stack.start_mospay(label, **start)
            req = payment_request({"Authorization": f"Bearer {stack.token(base)}"})
            if warmup:
                run_load(base, req, warmup, args.connections, f"w{tag}-{time.time_ns()}", use_wrk)
            gateways[base] = proc.proc.pid
            measure(name, base, req, f"s{tag}-{time.time_ns()}")
            rss_mb = proc.rss_mb()
            proc.stop()
            return rss_mb

        rss["2 workers (parent + children)"] = round(measure_on_own_process(
            "1w. payment, Bearer, --workers 2", "mospay-2-workers", "w", workers=2), 1)
        # The scenarios above run with MOSPAY_ACCESS_LOG=off; this one shows what the default costs.
        measure_on_own_process("1a. payment, Bearer, access log on (default)", "mospay-access-log", "l",
                               env={"MOSPAY_ACCESS_LOG": "on"})
        startup = {"run.py on a migrated database (DATABASE_URL)": ready_s}
        if not args.smoke:
            startup.update(extra.startup_times())
        table = report.table(results, machine, startup, log_lines, rss, args, use_wrk, started_at, warmup, cpu)
        print(table)
        if not args.smoke and not args.no_docs:
            report.write_docs(table)
            print("wrote docs/benchmarks.md")
        errors = sum(r.errors for r in results.values())
        if errors:
            print(f"FAILED: {errors} non-2xx or failed requests", file=sys.stderr)
            return 1
        return 0
    finally:
        stack.close()


if __name__ == "__main__":
    sys.exit(main())
