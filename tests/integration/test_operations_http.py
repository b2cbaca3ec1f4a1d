"""Operations: /metrics counts what happened, the access log has one JSON line per request, the request
id is kept from a trusted proxy, and the API reference is served. The access log tests read what a real
`python run.py` prints (`gateway`); the rest call the same app in-process (`api`)."""

from __future__ import annotations

import json
import time

from tests.unit.test_metrics import _sample


def _metrics(api) -> str:
    resp = api.request("GET", "/metrics")
    assert resp.status == 200, resp.data
    return resp.data.decode()


def _access_lines(gateway, request_id, timeout=5.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = []
        for line in list(gateway.output):
            if line.startswith("{"):
                entry = json.loads(line)
                if entry.get("logger") == "mospay.access" and entry.get("request_id") == request_id:
                    found.append(entry)
        if found:
            return found
        time.sleep(0.05)
    return []


def test_metrics_count_payments_requests_and_provider_calls(api, client):
    before = _metrics(api)
    ok = client.pay()
    declined = client.pay(msisdn="+250788120001")
    assert (ok.status, declined.status) == (200, 402)
    after = _metrics(api)

    def delta(name, **labels):
        return (_sample(after, name, **labels) or 0) - (_sample(before, name, **labels) or 0)

    assert delta("mospay_payments_total", service=client.service, status="SUCCESSFUL") == 1
    assert delta("mospay_payments_total", service=client.service, status="FAILED") == 1
    assert delta("mospay_http_requests_total", route="/api/v1/payment/process", method="POST", status=200) == 1
    assert delta("mospay_http_requests_total", route="/api/v1/payment/process", method="POST", status=402) == 1
    assert delta("mospay_http_request_duration_seconds_count", route="/api/v1/payment/process", method="POST") == 2
    assert delta("mospay_provider_call_duration_seconds_count", service=client.service) == 2
    assert _sample(after, "mospay_db_pool_size") == 20
    assert _sample(after, "mospay_db_pool_in_use") is not None and _sample(after, "mospay_db_pool_waiting") == 0


def test_provider_errors_are_counted_by_service_and_reason(api, client):
    before = _metrics(api)
    assert client.pay(msisdn="+250788120003").status == 202  # the simulator answers 500
    after = _metrics(api)
    labels = {"service": client.service, "reason": "http_5xx"}
    assert (_sample(after, "mospay_provider_errors_total", **labels) or 0) - \
        (_sample(before, "mospay_provider_errors_total", **labels) or 0) == 1


def test_metrics_refuse_a_request_relayed_by_a_local_proxy(api):
    # TrustedProxies strips X-Forwarded-For from an untrusted peer before MosPay sees it; X-Real-IP stays.
    relayed = api.request("GET", "/metrics", headers={"X-Real-IP": "203.0.113.7"})
    assert relayed.status == 403 and relayed.json()["error"]["code"] == "metrics_forbidden"
    assert api.request("GET", "/metrics/").status == 200  # same resource: nginx blocks the prefix


def test_unknown_paths_share_one_label(api):
    api.request("GET", "/no/such/path/12345")
    text = _metrics(api)
    assert "/no/such/path" not in text
    assert _sample(text, "mospay_http_requests_total", route="unmatched", method="GET", status=404) >= 1


def test_access_log_has_one_json_line_per_request_with_id_app_route_status_duration(gateway, gateway_client):
    client = gateway_client
    resp = client.pay()
    request_id = resp.headers["X-Request-ID"]
    lines = _access_lines(gateway, request_id)
    assert len(lines) == 1, lines
    entry = lines[0]
    assert entry["level"] == "INFO" and entry["app_id"] == client.app_id
    assert entry["route"] == "/api/v1/payment/process" and entry["status"] == 200 and entry["method"] == "POST"
    assert 0 < entry["duration_ms"] < 30000
    for line in gateway.output:  # secrets never reach the log
        assert client.secret not in line and "pwd-" not in line


def test_request_id_from_a_trusted_proxy_is_kept_and_a_malformed_one_replaced(gateway):
    kept = gateway.request("GET", "/healthz", headers={"X-Request-ID": "nginx-4f1c2a"}, source="127.0.0.2")
    assert kept.headers["X-Request-ID"] == "nginx-4f1c2a"
    assert _access_lines(gateway, "nginx-4f1c2a")
    untrusted = gateway.request("GET", "/healthz", headers={"X-Request-ID": "forged-by-client"})
    assert untrusted.headers["X-Request-ID"] != "forged-by-client"
    replaced = gateway.request("GET", "/healthz", headers={"X-Request-ID": "bad id\twith spaces"},
                               source="127.0.0.2")
    assert replaced.headers["X-Request-ID"] != "bad id\twith spaces"
    assert len(replaced.headers["X-Request-ID"]) == 16


def test_docs_and_openapi_are_served_by_the_running_gateway(api):
    doc = api.request("GET", "/api/v1/openapi.json")
    assert doc.status == 200 and doc.json()["openapi"] == "3.1.0"
    page = api.request("GET", "/docs")
    assert page.status == 200 and b"/api/v1/payment/process" in page.data


def test_metrics_show_breakers_reconciler_backlog_and_webhook_deliveries(api):
    client = api.onboard(service="metricsmomo", timeout_s=1)
    client.pay(msisdn="+250788120003")  # the provider answers 500: an open transaction for the reconciler
    text = _metrics(api)
    assert _sample(text, "mospay_circuit_breaker_open", service="metricsmomo") == 0  # a 5xx is no transport failure
    # The shared app's reconciler may settle other tests' payments meanwhile: this one is not due for 8 s.
    assert _sample(text, "mospay_reconciler_backlog", state="open") >= 1
    assert _sample(text, "mospay_reconciler_backlog", state="stuck") is not None
    assert "# TYPE mospay_webhook_events gauge" in text
