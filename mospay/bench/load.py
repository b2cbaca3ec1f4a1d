"""Load generation: `wrk` with a generated Lua script when installed, else threads of keep-alive
http.client connections. Both give requests/s, p50/p90/p99 (ms) and errors (any non-2xx counts)."""

from __future__ import annotations

import dataclasses
import http.client
import json
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit


@dataclasses.dataclass
class Request:
    """What every request of a scenario sends. `body` may contain {f010}, replaced by a unique id;
    `paths` (GET) are cycled through."""
    method: str
    path: str
    headers: dict
    body: str | None = None
    paths: list[str] | None = None


@dataclasses.dataclass
class Result:
    requests: int
    seconds: float
    p50: float
    p90: float
    p99: float
    errors: int
    tool: str

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _lua_str(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for our ASCII content


def wrk_script(req: Request, tag: str) -> str:
    headers = "\n".join(f"wrk.headers[{_lua_str(k)}] = {_lua_str(v)}" for k, v in req.headers.items())
    if req.paths:
        paths = ", ".join(_lua_str(p) for p in req.paths)
        make = f"""local paths = {{{paths}}}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format(nil, paths[i])
end"""
    elif req.body and "{f010}" in req.body:
        before, after = req.body.split("{f010}", 1)
        make = f"""local before, after = {_lua_str(before)}, {_lua_str(after)}
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, before .. {_lua_str(tag)} .. "-" .. tid .. "-" .. n .. after)
end"""
    else:
        make = f"wrk.body = {_lua_str(req.body or '')}" if req.body else ""
    return f"""wrk.method = {_lua_str(req.method)}
wrk.path = {_lua_str(req.path)}
{headers}
local threads = {{}}
local next_tid = 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end
function init(args)
  tid = wrk.thread:get("tid")
  bad = 0
end
function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
    if bad == 1 then io.stderr:write("non-2xx answer " .. status .. ": " .. string.sub(body, 1, 300) .. "\\n") end
  end
end
{make}
function done(summary, latency, requests)
  local bad_total = 0
  for _, t in ipairs(threads) do bad_total = bad_total + t:get("bad") end
  local e = summary.errors
  io.write(string.format('WRKJSON {{"requests":%d,"duration_us":%d,"errors":%d,"p50":%d,"p90":%d,"p99":%d}}\\n',
    summary.requests, summary.duration, bad_total + e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(base_url: str, req: Request, seconds: float, connections: int, tag: str) -> Result:
    threads = min(2, connections)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(wrk_script(req, tag))
    try:
        proc = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
                               "--timeout", "10s", "-s", script.name, base_url],
                              capture_output=True, text=True, timeout=seconds + 60)
    finally:
        Path(script.name).unlink(missing_ok=True)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout[-500:]} {proc.stderr[-500:]}")
    data = json.loads(line[8:])
    if proc.stderr.strip():
        print(proc.stderr.strip()[:600], flush=True)
    return Result(data["requests"], data["duration_us"] / 1e6, data["p50"] / 1000, data["p90"] / 1000,
                  data["p99"] / 1000, data["errors"], "wrk")


def run_builtin(base_url: str, req: Request, seconds: float, connections: int, tag: str) -> Result:
    """The fallback: one thread per connection, keep-alive. It shares the GIL, so it under-reports
    the server's capacity; it is there so the benchmark runs everywhere, not for headline figures."""
    parts = urlsplit(base_url)
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections   # non-2xx answers and failed exchanges
    failed = [0] * connections   # failed exchanges only (no answer, so no latency sample)
    deadline = time.monotonic() + seconds

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        n = 0
        while time.monotonic() < deadline:
            n += 1
            path, body = req.path, None
            if req.paths:
                path = req.paths[(index + n) % len(req.paths)]
            elif req.body is not None:
                body = req.body.replace("{f010}", f"{tag}-{index}-{n}").encode()
            started = time.perf_counter()
            try:
                conn.request(req.method, path, body=body, headers=req.headers)
                resp = conn.getresponse()
                data = resp.read()
                if not 200 <= resp.status <= 299:
                    if errors[index] == 0:
                        print(f"non-2xx answer {resp.status}: {data[:300]!r}", flush=True)
                    errors[index] += 1
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                failed[index] += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                continue
            latencies[index].append((time.perf_counter() - started) * 1000)
        conn.close()

    started = time.monotonic()
    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(connections)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(seconds + 30)
    elapsed = time.monotonic() - started
    merged = sorted(x for part in latencies for x in part)

    def pct(p):
        return merged[min(len(merged) - 1, int(len(merged) * p))] if merged else 0.0
    return Result(len(merged) + sum(failed), elapsed, pct(0.50), pct(0.90), pct(0.99), sum(errors), "built-in")


def run_load(base_url: str, req: Request, seconds: float, connections: int, tag: str,
             use_wrk: bool | None = None) -> Result:
    if use_wrk if use_wrk is not None else have_wrk():
        return run_wrk(base_url, req, seconds, connections, tag)
    return run_builtin(base_url, req, seconds, connections, tag)
