"""Metrics of a server of several worker processes (`run.py --workers N`): each worker writes its
registry's numbers to its own file in a run folder the parent made; the worker that answers a scrape
asks every live worker for a fresh file, then merges them all. So /metrics and the dashboard count the
whole server, whichever worker answers. docs/decisions.md says why files and not prometheus_client.

Counters never go backwards while the server runs: a worker's file is only ever replaced by a newer one
of the same worker, and the file of a worker that died stays in the folder and keeps counting (a worker
started later writes a file of its own, so its counts add on). The parent removes the folder at exit.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

log = logging.getLogger("mospay.metrics")

SNAPSHOT_INTERVAL_S = 1.0  # at most this much of a worker's counting is lost if it is killed with -9
POLL_S = 0.05  # how often a worker looks for a scrape's request for a fresh file
ANSWER_WAIT_S = 3.0  # how long a scrape waits for the other workers before using their last files (a
# loaded machine can take a second to answer; Prometheus waits 10 s for a scrape by default)
REQUEST_FILE = "scrape-request"


def make_run_folder() -> str | None:
    """The parent's folder for its workers' files (mode 0700, in the temp directory); None, with a
    warning, where none can be made: the server still runs, each scrape showing one worker's numbers."""
    try:
        return tempfile.mkdtemp(prefix="mospay-metrics-")
    except OSError as exc:
        log.warning("cannot create a folder for the workers' metrics (%s): /metrics will show the numbers "
                    "of whichever worker answers; set TMPDIR to a writable directory", exc)
        return None


def remove_run_folder(folder: str | None) -> None:
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _encode(state: dict) -> dict:
    return {name: {**entry, "labelnames": list(entry["labelnames"]),
                   "values": [[list(labels), value] for labels, value in entry["values"].items()]}
            for name, entry in state.items()}


def merge(snapshots: list[dict], alive=_alive) -> dict:
    """Registry.local_state() of every worker (as written to their files) as one: counters summed,
    histograms summed bucket by bucket, per-process gauges of live workers labelled worker="N"."""
    merged: dict = {}
    for snap in sorted(snapshots, key=lambda s: (s["worker"], s["pid"])):
        live = alive(snap["pid"])
        for name, entry in snap["state"].items():
            kind = entry["kind"]
            if kind == "gauge" and (not live or snap.get("final")):  # a stopped worker's pool is closed
                continue
            labelnames = tuple(entry["labelnames"]) + (("worker",) if kind == "gauge" else ())
            target = merged.setdefault(name, {**entry, "labelnames": labelnames, "values": {}})
            if target["kind"] != kind or target["labelnames"] != labelnames or (
                    kind == "histogram" and list(target["buckets"]) != list(entry["buckets"])):
                log.warning("metric %s differs between workers: worker %s's series left out", name, snap["worker"])
                continue
            values = target["values"]
            for labels, value in entry["values"]:
                key = tuple(labels)
                if kind == "gauge":
                    values[key + (str(snap["worker"]),)] = value
                elif kind == "histogram":
                    old = values.get(key)
                    values[key] = list(value) if old is None else [a + b for a, b in zip(old, value)]
                else:
                    values[key] = values.get(key, 0) + value
    return merged


class WorkerShare:
    """One worker's side: write this process's numbers now and then, and on a scrape's request; and,
    for the scrape this worker answers, gather everyone's. start() makes the registry use it."""

    def __init__(self, registry, folder: str, worker: int):
        self._registry = registry
        self._folder = Path(folder)
        self.worker = worker
        self.pid = os.getpid()
        self._path = self._folder / f"worker-{worker}-{self.pid}.json"
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._answered = 0

    def start(self) -> WorkerShare:
        self.write(self._requested())
        self._registry.shared = self
        self._thread = threading.Thread(target=self._loop, name="mospay-worker-metrics", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Last write at a clean shutdown: what this worker counted outlives it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.write(self._answered, final=True)

    def write(self, answered: int, final: bool = False) -> None:
        """final: this worker counts no more; scrapes use this file without waiting for a newer one."""
        data = {"pid": self.pid, "worker": self.worker, "answered": answered, "final": final,
                "state": _encode(self._registry.local_state())}
        text = json.dumps(data, separators=(",", ":"))
        with self._write_lock:
            tmp = self._path.with_name(self._path.name + ".tmp")
            tmp.write_text(text)
            os.replace(tmp, self._path)  # readers see the old file or the new one, never half of one
            self._answered = max(self._answered, answered)

    def _requested(self) -> int:
        try:
            return int((self._folder / REQUEST_FILE).read_text() or 0)
        except (OSError, ValueError):
            return 0

    def _loop(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(POLL_S):
            asked = self._requested()
            if asked > self._answered or time.monotonic() - last >= SNAPSHOT_INTERVAL_S:
                try:
                    self.write(asked)
                except OSError:
                    log.warning("cannot write this worker's metrics to %s", self._path, exc_info=True)
                last = time.monotonic()

    def _ask(self) -> int:
        """A number larger than any asked before: every live worker answers with a file carrying it."""
        token = max(time.time_ns(), self._requested() + 1)
        tmp = self._folder / f"{REQUEST_FILE}.{self.pid}.{threading.get_ident()}"
        tmp.write_text(str(token))
        os.replace(tmp, self._folder / REQUEST_FILE)
        return token

    def _read_all(self) -> list[dict]:
        snapshots = []
        for path in self._folder.glob("worker-*.json"):
            try:
                snapshots.append(json.loads(path.read_text()))
            except (OSError, ValueError):  # removed at shutdown: nothing to count
                continue
        return snapshots

    def merged(self) -> dict:
        """Every worker's numbers as of now: ask, write our own, wait (bounded) for the live others."""
        token = self._ask()
        self.write(token)
        deadline = time.monotonic() + ANSWER_WAIT_S
        while True:
            snapshots = self._read_all()
            late = [s["worker"] for s in snapshots
                    if s["answered"] < token and not s.get("final") and _alive(s["pid"])]
            if not late or time.monotonic() >= deadline:
                break
            time.sleep(POLL_S / 5)
        if late:
            log.warning("workers %s did not refresh their metrics in time: their last numbers are shown", late)
        return merge(snapshots)
