"""Provider credentials configured outside the database (environment or mospay.toml): what a database
without pgcrypto, the embedded one included, uses. These run on every database."""

from __future__ import annotations

import json
import secrets

import pytest

from mospay.config import Config, ConfigError
from tests.integration.credentials.support import HEADER, SERVICE

REFERENCE = "'{{credential:subscription_key}}'"


def planted() -> str:
    return "configured-" + secrets.token_hex(16)


def test_a_configured_value_reaches_the_provider_and_nowhere_else(make_stack, provider_sim):
    value = planted()
    stack = make_stack(provider_credentials={(SERVICE, "subscription_key"): value})
    stack.onboard()
    stack.plan_header(REFERENCE)
    reference, resp = stack.pay()
    assert resp.status_code == 200, resp.text
    assert provider_sim.headers(reference)[HEADER] == value  # sent, filled in at call time
    stored = json.dumps([stack.db.run(f"SELECT * FROM {table}") for table in
                         ("transactions", "transaction_events", "api_logs", "audit_log", "provider_credentials")],
                        default=str)
    functions = json.dumps(stack.db.run("SELECT pg_get_functiondef(p.oid) AS d FROM pg_proc p "
                                        "JOIN pg_namespace n ON n.oid = p.pronamespace "
                                        "WHERE n.nspname IN ('mospay', 'mospay_fn')"))
    assert value not in stored and value not in functions
    # The portal and the admin API show it as configured: name and last 4 only, not removable there.
    listed = stack.api("GET", f"/api/v1/admin/services/{SERVICE}/credentials").json["credentials"]
    assert listed == [{"service": SERVICE, "app_id": None, "name": "subscription_key", "last4": value[-4:],
                       "source": "configuration", "created_at": None, "updated_at": None}]
    page = stack.portal().get("/admin/credentials").text
    assert "subscription_key" in page and "set in the configuration" in page and value not in page


def test_without_a_value_anywhere_the_payment_fails_before_the_provider_is_called(make_stack, provider_sim):
    stack = make_stack(provider_credentials={(SERVICE, "another_key"): planted()})
    stack.onboard()
    stack.plan_header(REFERENCE)
    before = provider_sim.calls["total"]
    _, resp = stack.pay()
    assert resp.json["status"] == "FAILED" and resp.json["result"]["reason"] == "missing credential"
    assert provider_sim.calls["total"] == before


def test_a_stored_value_wins_over_a_configured_one(make_stack, provider_sim):
    configured, stored = planted(), planted()
    stack = make_stack(provider_credentials={(SERVICE, "subscription_key"): configured})
    stack.onboard()
    stack.plan_header(REFERENCE)
    assert stack.api("PUT", f"/api/v1/admin/services/{SERVICE}/credentials/subscription_key",
                     json={"value": stored}).status_code == 201
    reference, resp = stack.pay()
    assert resp.status_code == 200 and provider_sim.headers(reference)[HEADER] == stored


def test_configured_credentials_are_read_from_the_environment_and_mospay_toml(tmp_path):
    toml = tmp_path / "mospay.toml"
    toml.write_text('[provider_credentials.mtnmomorwa]\nsubscription_key = "from-the-file-1234"\n'
                    'api_token = "token-from-file-5678"\n')
    config = Config.from_env({"MOSPAY_CONFIG": str(toml),
                              "MOSPAY_CREDENTIAL__MTNMOMORWA__API_TOKEN": "token-from-env-9999",
                              "MOSPAY_CREDENTIAL__AIRTELRWA__SUBSCRIPTION_KEY": "airtel-key-0000"})
    assert config.provider_credentials == {("mtnmomorwa", "subscription_key"): "from-the-file-1234",
                                           ("mtnmomorwa", "api_token"): "token-from-env-9999",  # env wins
                                           ("airtelrwa", "subscription_key"): "airtel-key-0000"}
    assert "from-the-file" not in repr(config) and "token-from-env" not in repr(config)


@pytest.mark.parametrize("env, message", [
    ({"MOSPAY_CREDENTIAL__MTNMOMORWA": "x" * 10}, "must be named"),
    ({"MOSPAY_CREDENTIAL__MTN-MOMO__KEY": "x" * 10}, "service name"),
    ({"MOSPAY_CREDENTIAL__MTNMOMORWA__9KEY": "x" * 10}, "name"),
    ({"MOSPAY_CREDENTIAL__MTNMOMORWA__KEY": "short"}, "value"),
    ({"MOSPAY_CREDENTIAL__MTNMOMORWA__KEY": "line\nbreak-in-it"}, "value"),
])
def test_a_bad_configured_credential_stops_start_up_naming_the_variable_not_the_value(env, message):
    with pytest.raises(ConfigError) as refused:
        Config.from_env(env)
    text = str(refused.value)
    assert next(iter(env)) in text and message in text
    assert next(iter(env.values())) not in text
