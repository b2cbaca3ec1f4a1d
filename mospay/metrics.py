"""Metrics in the Prometheus text exposition format (0.0.4), stdlib only. create_app builds one
`Metrics` per app and passes it to what records into it: no module-level state.

Counters and histograms are updated under one short lock each (a dict update and a bisect: the hot
path pays well under a microsecond). Gauges are read from callbacks at scrape time, so whoever owns a
number (the pool, a circuit breaker, the reconciler, the scheduler) just registers one:

    registry.register_gauge("mospay_reconciler_backlog", "UNKNOWN transactions waiting", lambda: n)
    registry.register_gauge("mospay_circuit_state", "0 closed, 1 half-open, 2 open",
                            lambda: {("mtnmomorwa",): 0}, labelnames=("service",))

Under `run.py --workers N` a worker_metrics.WorkerShare set as `registry.shared` makes render() and
snapshot() show every worker's numbers (Registry.state); the recording side is the same either way.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading

log = logging.getLogger("mospay.metrics")

# Seconds. Covers a 2 ms replay up to a provider at its 30 s default timeout.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

def _escape(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names, values, extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _header(name: str, help: str, kind: str) -> list[str]:
    help_text = help.replace("\\", "\\\\").replace("\n", "\\n")
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def render_values(name: str, help: str, kind: str, labelnames, values: dict) -> list[str]:
    """A counter or gauge: {label tuple: number}."""
    return _header(name, help, kind) + [f"{name}{_labels(labelnames, k)} {_number(float(v))}"
                                        for k, v in sorted(values.items())]


def render_histogram(name: str, help: str, labelnames, buckets, series: dict) -> list[str]:
    """{label tuple: [count per bucket..., +Inf count, sum]}, rendered cumulatively."""
    lines = _header(name, help, "histogram")
    for labels, counts in sorted(series.items()):
        cumulative = 0
        for bound, n in zip(tuple(buckets) + (math.inf,), counts[:-1]):
            cumulative += n
            le = 'le="' + _number(bound) + '"'
            lines.append(f"{name}_bucket{_labels(labelnames, labels, le)} {cumulative}")
        lines.append(f"{name}_sum{_labels(labelnames, labels)} {_number(round(counts[-1], 6))}")
        lines.append(f"{name}_count{_labels(labelnames, labels)} {cumulative}")
    return lines


def summarize(buckets, series, quantile: float = 0.95) -> dict:
    """All series together: count, mean, and the bucket bound under which `quantile` of them fell
    (an upper bound, as precise as the buckets; None above the last bucket)."""
    series = list(series)
    per_bucket = [sum(column) for column in zip(*(v[:-1] for v in series))] if series else []
    count, total = sum(per_bucket), sum(v[-1] for v in series)
    bound, seen = None, 0
    for upper, n in zip(tuple(buckets) + (math.inf,), per_bucket):
        seen += n
        if count and seen >= quantile * count:
            bound = None if upper == math.inf else upper
            break
    return {"count": count, "mean_s": total / count if count else None, "quantile": quantile,
            "quantile_le_s": bound}


def render_state(state: dict) -> dict[str, list[str]]:
    """Lines per metric name from plain data (Registry.local_state, or several workers' merged)."""
    out = {}
    for name, m in state.items():
        if m["kind"] == "histogram":
            out[name] = render_histogram(name, m["help"], m["labelnames"], m["buckets"], m["values"])
        else:
            out[name] = render_values(name, m["help"], m["kind"], m["labelnames"], m["values"])
    return out


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help: str, labelnames=()):
        self.name, self.help, self.labelnames = name, help, tuple(labelnames)
        self._lock = threading.Lock()

    def header(self) -> list[str]:
        return _header(self.name, self.help, self.kind)


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name, help, labelnames=()):
        super().__init__(name, help, labelnames)
        self._values: dict[tuple, float] = {}

    def inc(self, *labels, amount: float = 1) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0) + amount

    def value(self, *labels) -> float:
        return self._values.get(labels, 0)

    def state(self) -> dict:
        with self._lock:
            values = dict(self._values)
        return {"kind": self.kind, "help": self.help, "labelnames": self.labelnames, "values": values}


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name, help, labelnames=(), buckets=LATENCY_BUCKETS):
        super().__init__(name, help, labelnames)
        self.buckets = tuple(buckets)
        self._series: dict[tuple, list] = {}  # labels -> [count per bucket..., +Inf count, sum]

    def observe(self, value: float, *labels) -> None:
        index = bisect.bisect_left(self.buckets, value)
        with self._lock:
            series = self._series.get(labels)
            if series is None:
                series = self._series[labels] = [0] * (len(self.buckets) + 1) + [0.0]
            series[index] += 1
            series[-1] += value

    def count(self, *labels) -> int:
        series = self._series.get(labels)
        return sum(series[:-1]) if series else 0

    def summary(self, quantile: float = 0.95) -> dict:
        """All series together (see summarize)."""
        with self._lock:
            series = [list(v) for v in self._series.values()]
        return summarize(self.buckets, series, quantile)

    def state(self) -> dict:
        with self._lock:
            values = {k: list(v) for k, v in self._series.items()}
        return {"kind": self.kind, "help": self.help, "labelnames": self.labelnames, "buckets": self.buckets,
                "values": values}


class Gauge(_Metric):
    """A value read at scrape time from a callback: a number, or {label tuple: number} with labelnames.
    per_process: a number of this process only (its pool, its breakers), which a server of several
    workers shows once per worker; the others (read from the database) are the same in every process."""
    kind = "gauge"

    def __init__(self, name, help, callback, labelnames=(), per_process: bool = False):
        super().__init__(name, help, labelnames)
        self.callback = callback
        self.per_process = per_process

    def state(self) -> dict | None:
        try:
            value = self.callback()
        except Exception:  # one broken hook must not take the whole scrape down
            log.warning("metrics gauge %s failed", self.name, exc_info=True)
            return None
        if value is None:
            return None
        values = {k: float(v) for k, v in value.items()} if isinstance(value, dict) else {(): float(value)}
        return {"kind": self.kind, "help": self.help, "labelnames": self.labelnames, "values": values}


class Registry:
    """A set of named metrics rendered together. Counters and histograms are created on first use;
    gauges are registered with the callback that reads them at scrape time."""

    def __init__(self):
        self._lock = threading.Lock()
        self._metrics: dict[str, _Metric] = {}
        self.shared = None  # a mospay.worker_metrics.WorkerShare under --workers

    def _get_or_create(self, name: str, factory, kind: type) -> _Metric:
        with self._lock:
            metric = self._metrics.get(name)
            if metric is None:
                metric = self._metrics[name] = factory()
            elif not isinstance(metric, kind):
                raise ValueError(f"metric {name} already registered as a {metric.kind}")
            return metric

    def counter(self, name: str, help: str, labelnames=()) -> Counter:
        """The counter with this name (created the first time)."""
        return self._get_or_create(name, lambda: Counter(name, help, labelnames), Counter)

    def histogram(self, name: str, help: str, labelnames=(), buckets=LATENCY_BUCKETS) -> Histogram:
        return self._get_or_create(name, lambda: Histogram(name, help, labelnames, buckets), Histogram)

    def register_gauge(self, name: str, help: str, callback, labelnames=(), kind: str = "gauge",
                       per_process: bool = False) -> None:
        """Add (or replace) a value read from `callback` at scrape time. kind="counter" for a total
        kept elsewhere (e.g. in the database) that only grows. per_process: see Gauge."""
        gauge = Gauge(name, help, callback, labelnames, per_process)
        gauge.kind = kind
        with self._lock:
            self._metrics[name] = gauge

    def unregister(self, name: str) -> None:
        with self._lock:
            self._metrics.pop(name, None)

    def local_state(self) -> dict:
        """This process's counters, histograms and per-process gauges as plain data: what one worker
        hands to the others (mospay.worker_metrics)."""
        with self._lock:
            metrics = list(self._metrics.values())
        state = {}
        for metric in metrics:
            if not isinstance(metric, Gauge) or metric.per_process:
                entry = metric.state()
                if entry is not None:
                    state[metric.name] = entry
        return state

    def state(self) -> dict:
        """local_state, or under --workers every worker's merged (counters summed, histograms merged,
        per-process gauges labelled with their worker)."""
        return self.shared.merged() if self.shared is not None else self.local_state()

    def render(self) -> str:
        blocks = render_state(self.state())
        with self._lock:
            shared_gauges = [m for m in self._metrics.values() if isinstance(m, Gauge) and not m.per_process]
        for gauge in shared_gauges:  # read from the database: the same whichever worker answers
            entry = gauge.state()
            if entry is not None:
                blocks[gauge.name] = render_state({gauge.name: entry})[gauge.name]
        return "\n".join(line for name in sorted(blocks) for line in blocks[name]) + "\n"


class Metrics(Registry):
    """One app's metrics: the registry plus the gateway's own series. Built by create_app, one per app,
    and handed to what records into it. Labels are bounded: route templates (not raw paths), service
    names that exist in the database, and final statuses."""

    def __init__(self):
        super().__init__()
        self.requests = self.counter("mospay_http_requests_total",
                                     "HTTP requests by route template, method and status",
                                     ("route", "method", "status"))
        self.request_seconds = self.histogram("mospay_http_request_duration_seconds",
                                              "HTTP request latency by route template", ("route", "method"))
        self.payments = self.counter("mospay_payments_total", "payments by service and final status",
                                     ("service", "status"))
        self.provider_seconds = self.histogram("mospay_provider_call_duration_seconds",
                                               "microservice call latency by service", ("service",))
        self.provider_errors = self.counter(
            "mospay_provider_errors_total", "microservice calls without a usable answer, by service and reason "
            "(timeout, connection, invalid_request, http_5xx)", ("service", "reason"))

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.inc(route, method, status)
        self.request_seconds.observe(seconds, route, method)

    def observe_provider_call(self, service: str, status: int | None, failure: str | None,
                              elapsed_ms: float) -> None:
        if failure in ("invalid_request", "missing_credential", "refused_destination"):  # never sent: no latency
            self.provider_errors.inc(service, failure)
            return
        self.provider_seconds.observe(elapsed_ms / 1000.0, service)
        if failure:
            self.provider_errors.inc(service, failure)
        elif status is not None and status >= 500:
            self.provider_errors.inc(service, "http_5xx")

    def observe_payment(self, service: str, status: str) -> None:
        self.payments.inc(service, status)

    def watch_pool(self, db) -> None:
        """Pool gauges for this Database (this process's pool: one series per worker under --workers)."""
        self.register_gauge("mospay_db_pool_size", "database connections the pool may open", lambda: db.size,
                            per_process=True)
        self.register_gauge("mospay_db_pool_in_use", "database connections lent to requests",
                            lambda: getattr(db, "in_use", 0), per_process=True)
        self.register_gauge("mospay_db_pool_waiting", "requests waiting for a database connection",
                            lambda: getattr(db, "waiting", 0), per_process=True)

    def snapshot(self) -> dict:
        """The key numbers as plain values, for a Grafana-free view (the admin dashboard) or a status
        check: the whole server's, every worker included (the same numbers /metrics shows)."""
        state = self.state()

        def values(name):
            return state.get(name, {}).get("values", {})

        def by_last_label(name):
            totals: dict[str, float] = {}
            for labels, n in values(name).items():
                totals[labels[1]] = totals.get(labels[1], 0) + n
            return totals

        requests = values("mospay_http_requests_total")
        pool = {}
        for part in ("size", "in_use", "waiting"):  # summed over workers: the server's connections
            rows = values("mospay_db_pool_" + part)
            pool[part] = sum(rows.values()) if rows else None
        return {"requests": sum(requests.values()),
                "server_errors": sum(n for (_r, _m, status), n in requests.items() if int(status) >= 500),
                "latency": summarize(self.request_seconds.buckets,
                                     values("mospay_http_request_duration_seconds").values()),
                "provider_errors": by_last_label("mospay_provider_errors_total"),
                "payments": by_last_label("mospay_payments_total"), "pool": pool}
