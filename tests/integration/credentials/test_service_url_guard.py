"""Service URLs: link-local and cloud-metadata destinations refused on every path that sets one (admin
API, portal create and edit, CLI) and again before each provider call; MOSPAY_SERVICE_URL_ALLOW pins them."""

from __future__ import annotations

import pytest

from tests.integration.portal_support import KEYS
from tests.support import mospay_cli

METADATA = "http://169.254.169.254/latest/meta-data"


@pytest.mark.parametrize("url", [METADATA, "http://[::ffff:169.254.169.254]/", "http://[fd00:ec2::254]/",
                                 "http://2852039166/"])
def test_admin_api_refuses_a_metadata_service_url(stack, url):
    ok = stack.api("POST", "/api/v1/admin/services", json={"name": "fine", "service_url": stack.sim_url})
    assert ok.status_code == 201  # control
    refused = stack.api("POST", "/api/v1/admin/services", json={"name": "meta", "service_url": url})
    assert refused.status_code == 422, refused.text
    assert refused.json["error"]["code"] == "service_url_refused" and refused.json["error"]["field"] == "service_url"
    assert stack.db.one("service_by_name", name="meta") is None


def test_portal_refuses_a_metadata_url_on_create_and_on_edit(stack):
    portal = stack.portal()
    form = {"name": "meta", "display_name": "Meta", "service_url": METADATA, "timeout_s": "30"}
    assert portal.post("/admin/services", form).status_code == 422
    assert stack.db.one("service_by_name", name="meta") is None
    assert portal.post("/admin/services", {**form, "service_url": stack.sim_url}).status_code == 303  # control
    edit = {"display_name": "Meta", "service_url": "http://[::ffff:a9fe:a9fe]/", "timeout_s": "30", "active": "on"}
    answer = portal.post("/admin/services/meta", edit)
    assert answer.status_code == 422 and "refused" in answer.text
    assert stack.db.one("service_by_name", name="meta")["service_url"] == stack.sim_url
    assert portal.post("/admin/services/meta", {**edit, "service_url": stack.sim_url + "/v2"}).status_code == 303


def test_cli_refuses_a_metadata_service_url(db_url):
    keys = {"SECRET_KEY": KEYS["secret_key"], "JWT_SECRET_KEY": KEYS["jwt_secret_key"]}
    refused = mospay_cli(db_url, "create-service", "meta", METADATA, keys=keys)
    assert refused.returncode != 0 and "service_url" in refused.stdout + refused.stderr


def test_a_function_that_plans_a_metadata_url_fails_before_anything_is_sent(stack):
    stack.onboard()
    stack.plan_url("http://169.254.169.254/latest/meta-data")
    f010, resp = stack.pay()
    assert resp.status_code == 402, resp.text
    assert resp.json["result"]["reason"] == "refused destination"
    assert stack.pay()[1].json["result"]["reason"] == "refused destination"  # no breaker trips on it either


def test_the_allow_list_refuses_other_service_urls_on_save_and_at_call_time(make_stack, provider_sim):
    open_stack = make_stack()
    open_stack.onboard()  # the service points at the simulator, 127.0.0.1
    assert open_stack.pay()[1].status_code == 200  # control: allowed without the setting
    pinned = make_stack(service_url_allow=("api.mtn.example", "10.0.0.0/8"))
    pinned.client_headers = open_stack.client_headers
    before = provider_sim.calls["total"]
    f010, resp = pinned.pay()
    assert resp.status_code == 402 and resp.json["result"]["reason"] == "refused destination"
    assert provider_sim.calls["total"] == before
    refused = pinned.api("POST", "/api/v1/admin/services", json={"name": "other", "service_url": provider_sim.url})
    assert refused.status_code == 422 and "MOSPAY_SERVICE_URL_ALLOW" in refused.json["error"]["message"]
    allowed = pinned.api("POST", "/api/v1/admin/services", json={"name": "mtn", "service_url": "https://api.mtn.example"})
    assert allowed.status_code == 201
    loopback = make_stack(service_url_allow=("127.0.0.1",))
    loopback.client_headers = open_stack.client_headers
    assert loopback.pay()[1].status_code == 200


def test_the_reconcile_command_keeps_to_the_allow_list(stack, provider_sim, db_url):
    keys = {"SECRET_KEY": KEYS["secret_key"], "JWT_SECRET_KEY": KEYS["jwt_secret_key"]}
    stack.onboard()  # the service points at the simulator, 127.0.0.1
    reference, resp = stack.pay(msisdn="+250788120004")  # PENDING: the payer approves later
    assert resp.json["status"] == "PENDING", resp.text
    provider_sim.server.ledger.settle(reference, "SUCCESSFUL")  # a status query would now say so
    due = "UPDATE transactions SET next_check_at = now() WHERE status = 'PENDING'"
    status = "SELECT status FROM transactions"
    stack.db.run(due)
    pinned = mospay_cli(db_url, "reconcile", keys={**keys, "MOSPAY_SERVICE_URL_ALLOW": "api.mtn.example"})
    assert pinned.returncode == 0, pinned.stderr
    assert stack.db.run(status)[0]["status"] == "PENDING"  # the status query was refused, never sent
    stack.db.run(due)
    control = mospay_cli(db_url, "reconcile", keys=keys)
    assert control.returncode == 0, control.stderr
    assert stack.db.run(status)[0]["status"] == "SUCCESSFUL"
