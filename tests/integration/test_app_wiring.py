"""What create_app builds from the config: each app its own circuit breakers and metrics, configured as
run.py's are; a configuration fault is a ConfigError at build time; error handlers and redirects."""

from __future__ import annotations

import base64

import falcon.testing
import pytest

from mospay import accounts, catalogue
from mospay.app import create_app
from mospay.config import Config, ConfigError
from mospay.db import Database
from tests.unit.test_metrics import _sample

KEYS = {"secret_key": "k" * 40, "jwt_secret_key": "j" * 40}
DEAD = "http://127.0.0.1:9"  # nothing listens on the discard port: every call is a transport failure


@pytest.fixture
def shop(db, db_url):
    """A client of a service whose provider is down, and a way to pay through any app."""
    catalogue.create_service(db, {"name": "deadpsp", "service_url": DEAD, "timeout_s": 1})
    creds = accounts.create_client(db, KEYS["secret_key"], {"company_name": "Shop", "app_id": "shop"})
    catalogue.assign_service(db, "shop", {"service": "deadpsp", "routes": ["collection"]})
    raw = base64.b64encode(f"{creds['api_username']}:{creds['api_secret']}".encode()).decode()
    headers = {"Authorization": f"Basic {raw}", "App-ID": "shop"}
    database = Database(db_url, size=4)
    count = [0]

    def pay(client):
        count[0] += 1
        body = {"f000": "deadpsp", "f001": "collection", "f002": "collection", "f003": "shop", "f004": "500.00",
                "f005": "+250788120001", "f006": "c", "f007": "e", "f008": "p", "f009": "d",
                "f010": f"wiring-{count[0]}"}
        return client.simulate_post("/api/v1/payment/process", json=body, headers=headers)

    yield database, pay
    database.close()


def _app(database, **settings):
    return falcon.testing.TestClient(create_app(Config(**KEYS, **settings), database))


def test_an_app_built_by_create_app_alone_uses_the_configured_breaker(shop):
    """As run.py's: two transport failures open the breaker when MOSPAY_BREAKER_FAILURES=2."""
    database, pay = shop
    client = _app(database, breaker_failures=2, breaker_cooldown_s=60)
    for _ in range(2):
        answer = pay(client)
        assert (answer.status_code, answer.json["status"]) == (202, "UNKNOWN")  # the control: it was called
    refused = pay(client)
    assert refused.status_code == 503 and refused.json["error"]["code"] == "service_unavailable"
    assert 55 <= int(refused.headers["retry-after"]) <= 61


def test_two_apps_in_one_process_have_their_own_breakers_and_metrics(shop):
    database, pay = shop
    first, second = (_app(database, breaker_failures=1, breaker_cooldown_s=60) for _ in range(2))
    assert pay(first).json["status"] == "UNKNOWN"
    assert pay(first).status_code == 503  # first's breaker is open...
    assert pay(second).json["status"] == "UNKNOWN"  # ...second's is not: it still calls the provider

    first_metrics = first.simulate_get("/metrics", remote_addr="127.0.0.1").text
    second_metrics = second.simulate_get("/metrics", remote_addr="127.0.0.1").text
    route = "/api/v1/payment/process"
    assert _sample(first_metrics, "mospay_http_requests_total", route=route, method="POST", status=503) == 1
    assert _sample(second_metrics, "mospay_http_requests_total", route=route, method="POST", status=503) is None
    assert _sample(first_metrics, "mospay_provider_errors_total", service="deadpsp", reason="timeout") == 1
    assert _sample(second_metrics, "mospay_provider_errors_total", service="deadpsp", reason="timeout") == 1
    assert _sample(first_metrics, "mospay_circuit_breaker_open", service="deadpsp") == 1
    assert _sample(second_metrics, "mospay_circuit_breaker_open", service="deadpsp") == 1  # now open too
    assert _sample(first_metrics, "mospay_payments_total", service="deadpsp", status="UNKNOWN") == 1


@pytest.mark.parametrize("settings", [{"breaker_failures": 0}, {"metrics_token": "short"},
                                      {"cors_origins": ("not an origin",)}, {"secret_key": ""}])
def test_a_configuration_fault_stops_create_app_with_a_config_error(db, settings):
    create_app(Config(**KEYS), db)  # the control: a valid Config builds
    with pytest.raises(ConfigError):
        create_app(Config(**{**KEYS, **settings}), db)


def test_errors_answer_json_outside_the_portal_and_html_inside(db):
    client = _app(db)
    api = client.simulate_get("/api/v1/nowhere")
    assert api.status_code == 404 and api.json["error"]["code"] == "not_found"
    page = client.simulate_get("/admin/nowhere")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")


def test_the_login_redirect_is_an_answer_not_an_error(db):
    """303 from the guard without running the responder or the error handlers; htmx gets HX-Redirect."""
    client = _app(db)
    plain = client.simulate_get("/admin/clients", params={"q": "x"})
    assert plain.status_code == 303 and plain.headers["location"] == "/admin/login?next=%2Fadmin%2Fclients%3Fq%3Dx"
    assert plain.text == ""
    htmx = client.simulate_get("/admin/clients", headers={"HX-Request": "true"})
    assert htmx.status_code == 303 and htmx.headers["hx-redirect"].startswith("/admin/login?next=")
    post = client.simulate_post("/admin/clients", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert post.status_code == 303 and post.headers["location"] == "/admin/login"
