"""Settings added for money safety: reconciler interval, circuit breaker, public URL for callbacks."""

import pytest

from mospay.config import Config, ConfigError


def test_defaults():
    config = Config.from_env({})
    assert (config.reconcile_interval_s, config.breaker_failures, config.breaker_cooldown_s) == (5.0, 5, 30.0)
    assert config.callback_base_url() == "http://127.0.0.1:5000"


def test_overrides_and_public_url():
    config = Config.from_env({"MOSPAY_RECONCILE_INTERVAL": "0", "MOSPAY_BREAKER_FAILURES": "3",
                              "MOSPAY_BREAKER_COOLDOWN": "2.5", "MOSPAY_PUBLIC_URL": "https://pay.example.com/"})
    assert (config.reconcile_interval_s, config.breaker_failures, config.breaker_cooldown_s) == (0.0, 3, 2.5)
    assert config.callback_base_url() == "https://pay.example.com"


@pytest.mark.parametrize("name, value", [
    ("MOSPAY_RECONCILE_INTERVAL", "-1"), ("MOSPAY_RECONCILE_INTERVAL", "nan"), ("MOSPAY_RECONCILE_INTERVAL", "x"),
    ("MOSPAY_BREAKER_FAILURES", "0"), ("MOSPAY_BREAKER_COOLDOWN", "0"),
    ("MOSPAY_PUBLIC_URL", "ftp://x"), ("MOSPAY_PUBLIC_URL", "https://x/?a=1"),
])
def test_bad_values_stop_start_up_with_the_setting_named(name, value):
    with pytest.raises(ConfigError, match=name):
        Config.from_env({name: value})
