"""Signature checks refuse odd timestamps instead of raising: '²' passes str.isdigit() but not int()."""

import hashlib
import hmac
import importlib.util
import time

import pytest

from mospay import webhooks
from tests.support import ROOT

_spec = importlib.util.spec_from_file_location("mospay_example_client_sig", ROOT / "examples" / "client.py")
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)


@pytest.mark.parametrize("header", ["t=²,v1=00", "t=١٢٣,v1=00", "t=,v1=00", "v1=00", "t=1,t=2,v1=00"])
def test_odd_timestamps_are_refused_not_crashed(header):
    assert webhooks.verify_signature(header, b"{}", "whsec_x") is False
    assert example.verify_webhook("whsec_x", b"{}", header) is False


def test_a_good_signature_still_verifies():
    t = str(int(time.time()))
    sig = hmac.new(b"whsec_x", f"{t}.{{}}".encode(), hashlib.sha256).hexdigest()
    assert webhooks.verify_signature(f"t={t},v1={sig}", b"{}", "whsec_x") is True
    assert example.verify_webhook("whsec_x", b"{}", f"t={t},v1={sig}") is True
