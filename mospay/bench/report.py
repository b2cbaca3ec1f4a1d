"""The benchmark's table: rows, ratios to the ceiling, machine description, and docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from pathlib import Path

from .load import Result

DOCS = Path(__file__).resolve().parent.parent.parent / "docs" / "benchmarks.md"
CEILING = "5. ceiling (no DB, no auth)"
TARGETS = {"1. payment, Bearer": 0.60, "2. payment, Basic + App-ID": 0.55}


def row(name: str, r: Result) -> str:
    return f"| {name} | {r.rps:,.0f} | {r.p50:.1f} | {r.p90:.1f} | {r.p99:.1f} | {r.errors} |"


def machine() -> dict:
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or cpu
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, AttributeError):
        pass
    return {"cpu": f"{os.cpu_count()} × {cpu}{mem}", "os": f"{platform.system()} {platform.release()}",
            "python": sys.version.split()[0], "load_before": _load()}


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _wrk_version() -> str:
    try:
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=5)
        return (out.stdout or out.stderr).splitlines()[0].split(" [")[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "wrk"


def table(results: dict, machine: dict, startup: dict, log_lines: int, rss: dict, args, use_wrk: bool,
          started_at, warmup: float, cpu: dict) -> str:
    lines = ["| scenario | requests/s | p50 ms | p90 ms | p99 ms | errors |", "|---|---:|---:|---:|---:|---:|"]
    lines += [row(name, r) for name, r in results.items()]
    ceiling = results.get(CEILING)
    lines.append("")
    if ceiling and ceiling.rps:
        for name, target in TARGETS.items():
            if name in results:
                ratio = results[name].rps / ceiling.rps
                verdict = "met" if ratio >= target else "NOT met"
                lines.append(f"- {name} / ceiling = **{ratio:.2f}** (target ≥ {target:.2f}: {verdict})")
        workers = next((r for n, r in results.items() if "--workers" in n), None)
        one = results.get("1. payment, Bearer")
        if workers and one and one.rps:
            lines.append(f"- `--workers 2` / 1 process (Bearer payment) = **{workers.rps / one.rps:.2f}**")
    for name, seconds in startup.items():
        lines.append(f"- start-up to `/readyz` 200, {name}: **{seconds:.2f} s**")
    for name, mb in rss.items():
        lines.append(f"- resident size after the run, {name}: {mb:.0f} MB")
    lines.append(f"- MosPay log lines written while under load (all scenarios): {log_lines}")
    if cpu:
        kinds = list(next(iter(cpu.values())))
        lines += ["", "CPU milliseconds per request, by process (user + system, from /proc):", "",
                  "| scenario | " + " | ".join(kinds) + " | total |", "|---|" + "---:|" * (len(kinds) + 1)]
        for name, parts in cpu.items():
            lines.append(f"| {name} | " + " | ".join(f"{parts.get(k, 0):.2f}" for k in kinds)
                         + f" | {sum(parts.values()):.2f} |")
    tool = _wrk_version() + f" (2 threads, {args.connections} connections)" if use_wrk else \
        f"built-in load generator ({args.connections} keep-alive connections)"
    lines += ["", f"Run {started_at:%Y-%m-%d %H:%M} UTC · `python -m mospay.bench` · {tool} · "
                  f"{args.seconds:.0f} s per scenario" + (f" after a {warmup:.0f} s warm-up" if warmup else "") +
                  f" · {args.threads} waitress threads · "
                  f"machine: {machine['cpu']}, {machine['os']}, Python {machine['python']} · "
                  f"load average before {machine['load_before']}, after {_load()}"]
    return "\n".join(lines)


def write_docs(text: str, section: str = "bench") -> None:
    """Replace one generated section of docs/benchmarks.md, keeping the hand-written analysis around it."""
    BEGIN, END = f"<!-- {section}:begin (written by python -m mospay.bench) -->", f"<!-- {section}:end -->"
    block = f"{BEGIN}\n{text}\n{END}"
    if DOCS.exists():
        current = DOCS.read_text(encoding="utf-8")
        if BEGIN in current and END in current:
            head, rest = current.split(BEGIN, 1)
            DOCS.write_text(head + block + rest.split(END, 1)[1], encoding="utf-8")
            return
        DOCS.write_text(current.rstrip() + "\n\n" + block + "\n", encoding="utf-8")
        return
    DOCS.write_text(f"# Benchmarks\n\n## Latest run\n\n{block}\n", encoding="utf-8")
