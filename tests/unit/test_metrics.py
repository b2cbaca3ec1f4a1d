"""The metrics registry's text format, thread safety and the /metrics access rules."""

from __future__ import annotations

import re
import threading

import falcon.testing
import pytest

from mospay import metrics
from mospay.api.metrics import Metrics


def _sample(text: str, name: str, **labels) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', line.split(" ")[0] if "{" not in line
                                    else line[:line.rindex("}") + 1]))
            if found == {k: str(v) for k, v in labels.items()}:
                return float(line.rsplit(" ", 1)[1])
    return None


def test_counter_is_exact_under_concurrent_increments():
    registry = metrics.Registry()
    counter = registry.counter("mospay_test_concurrent_total", "test", ("worker",))
    threads = [threading.Thread(target=lambda: [counter.inc("x") for _ in range(5000)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter.value("x") == 40000


def test_histogram_buckets_are_cumulative_and_le_is_inclusive():
    registry = metrics.Registry()
    hist = registry.histogram("mospay_test_seconds", "test", ("route",), buckets=(0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 3.0):
        hist.observe(value, "/a")
    text = registry.render()
    assert _sample(text, "mospay_test_seconds_bucket", route="/a", le="0.1") == 2
    assert _sample(text, "mospay_test_seconds_bucket", route="/a", le="1") == 3
    assert _sample(text, "mospay_test_seconds_bucket", route="/a", le="+Inf") == 4
    assert _sample(text, "mospay_test_seconds_count", route="/a") == 4
    assert _sample(text, "mospay_test_seconds_sum", route="/a") == pytest.approx(3.65)
    assert "# TYPE mospay_test_seconds histogram" in text


def test_registered_gauges_are_read_at_scrape_time_and_a_broken_one_is_skipped():
    state = {"backlog": 3}
    registry = metrics.Registry()
    registry.register_gauge("mospay_test_backlog", "test backlog", lambda: state["backlog"])
    registry.register_gauge("mospay_test_circuit", "test circuit", lambda: {("mtn",): 2, ('we"ird',): 0},
                            labelnames=("service",))
    registry.register_gauge("mospay_test_broken", "broken", lambda: 1 / 0)
    registry.register_gauge("mospay_test_runs_total", "kept elsewhere", lambda: 4, kind="counter")
    state["backlog"] = 7
    text = registry.render()
    assert _sample(text, "mospay_test_backlog") == 7
    assert _sample(text, "mospay_test_circuit", service="mtn") == 2
    assert 'mospay_test_circuit{service="we\\"ird"} 0' in text
    assert "mospay_test_broken" not in text
    assert "# TYPE mospay_test_runs_total counter" in text and _sample(text, "mospay_test_runs_total") == 4
    registry.unregister("mospay_test_backlog")
    assert "mospay_test_backlog" not in registry.render()


def test_a_name_cannot_change_type():
    registry = metrics.Registry()
    registry.counter("mospay_test_kind_total", "x")
    with pytest.raises(ValueError):
        registry.histogram("mospay_test_kind_total", "x")


def test_two_registries_count_independently():
    first, second = metrics.Metrics(), metrics.Metrics()
    first.observe_payment("svc", "SUCCESSFUL")
    assert first.snapshot()["payments"] == {"SUCCESSFUL": 1} and second.snapshot()["payments"] == {}
    assert 'mospay_payments_total{service="svc",status="SUCCESSFUL"} 1' in first.render()
    assert "mospay_payments_total{" not in second.render()


def _client(token):
    app = falcon.App()
    app.add_route("/metrics", Metrics(token, metrics.Metrics()))
    from mospay.app import _mospay_error
    from mospay import errors
    app.add_error_handler(errors.MosPayError, _mospay_error)
    return falcon.testing.TestClient(app)


def test_without_token_metrics_answer_loopback_only():
    client = _client(None)
    ok = client.simulate_get("/metrics", remote_addr="127.0.0.1")
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE mospay_http_requests_total counter" in ok.text
    assert client.simulate_get("/metrics", remote_addr="::1").status_code == 200
    assert client.simulate_get("/metrics", remote_addr="10.1.2.3").status_code == 403
    # relayed by a proxy on the same host: the peer is loopback but the caller is not
    relayed = client.simulate_get("/metrics", remote_addr="127.0.0.1", headers={"X-Forwarded-For": "203.0.113.9"})
    assert relayed.status_code == 403 and relayed.json["error"]["code"] == "metrics_forbidden"


def test_with_token_metrics_require_that_bearer_token_from_anywhere():
    client = _client("scrape-token-0123456789")
    assert client.simulate_get("/metrics", remote_addr="127.0.0.1").status_code == 401
    wrong = client.simulate_get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
    good = client.simulate_get("/metrics", remote_addr="10.1.2.3",
                               headers={"Authorization": "Bearer scrape-token-0123456789"})
    assert good.status_code == 200


def test_snapshot_sums_requests_errors_and_payments():
    registry = metrics.Metrics()
    before = registry.snapshot()
    registry.observe_request("/x", "GET", 500, 0.01)
    registry.observe_request("/x", "GET", 200, 0.01)
    registry.observe_payment("svcsnap", "SUCCESSFUL")
    after = registry.snapshot()
    assert after["requests"] - before["requests"] == 2
    assert after["server_errors"] - before["server_errors"] == 1
    assert after["payments"]["SUCCESSFUL"] - before["payments"].get("SUCCESSFUL", 0) == 1


def test_histogram_summary_gives_count_mean_and_a_bucket_bound_for_the_quantile():
    h = metrics.Histogram("t_summary_seconds", "test", ("route",), buckets=(0.1, 1.0))
    assert h.summary() == {"count": 0, "mean_s": None, "quantile": 0.95, "quantile_le_s": None}
    for _ in range(19):
        h.observe(0.05, "/a")
    h.observe(0.5, "/b")
    summary = h.summary()
    assert summary["count"] == 20 and abs(summary["mean_s"] - (19 * 0.05 + 0.5) / 20) < 1e-9
    assert summary["quantile_le_s"] == 0.1  # 19 of 20 (95%) were under 0.1 s, across both routes
    h.observe(5.0, "/b")
    h.observe(5.0, "/b")
    assert h.summary()["quantile_le_s"] is None  # beyond the last bucket: no honest bound


def test_snapshot_counts_provider_errors_by_reason():
    registry = metrics.Metrics()
    before = registry.snapshot()["provider_errors"]
    registry.observe_provider_call("svcsnap", None, "connection", 3.0)
    registry.observe_provider_call("svcsnap", 503, None, 3.0)
    after = registry.snapshot()
    assert after["provider_errors"]["connection"] - before.get("connection", 0) == 1
    assert after["provider_errors"]["http_5xx"] - before.get("http_5xx", 0) == 1
    registry.observe_request("/y", "GET", 200, 0.002)
    assert registry.snapshot()["latency"]["count"] - after["latency"]["count"] == 1
