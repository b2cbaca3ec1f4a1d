"""AuthThrottle when the throttle table cannot be written: the failure is still counted (in the process),
said at ERROR and counted in metrics; and what it stores is text PostgreSQL accepts."""

import logging

import pytest

from mospay import errors
from mospay.metrics import Metrics
from mospay.security import AuthThrottle, storable


class BrokenDb:
    def query(self, name, **params):
        raise RuntimeError("invalid byte sequence for encoding UTF8: 0x00")


def test_an_unwritable_failure_is_logged_at_error_counted_and_still_throttles(caplog):
    metrics = Metrics()
    throttle = AuthThrottle(BrokenDb(), limit=3, window_s=60, address_limit=5, metrics=metrics)
    keys = throttle.keys("10.0.0.1", "app:bravo")
    with caplog.at_level(logging.ERROR, logger="mospay.security"):
        for _ in range(3):
            throttle.check(keys)
            throttle.record_failure(keys, kind="auth_failure", ip="10.0.0.1", app_id="bravo", username="u",
                                    endpoint="/api/v1/payment/\x00")
    with pytest.raises(errors.TooManyRequests):
        throttle.check(keys)
    throttle.check(throttle.keys("10.0.0.1", "app:other"))  # the address itself is not at its limit yet
    assert [r.levelno for r in caplog.records] == [logging.ERROR] * 3
    assert "mospay_security_write_failures_total 3" in metrics.render()


@pytest.mark.parametrize("raw, stored", [("/api/v1/payment/\x00", "/api/v1/payment/"), ("a\ud800b", "a?b"),
                                         ("é" * 300, "é" * 200), (None, None)])
def test_storable_text_has_no_nul_and_no_lone_surrogate(raw, stored):
    assert storable(raw, 200) == stored
