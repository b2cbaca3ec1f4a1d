"""RFC 6238 TOTP against the RFC's own test vectors (Appendix B), the ±1 step window and reuse refusal."""

from __future__ import annotations

import hashlib

import pytest

from mospay import totp

SEED = b"12345678901234567890"
SEED32 = b"12345678901234567890123456789012"
SEED64 = SEED32 + b"34567890123456789012345678901234"
# (time, SHA1, SHA256, SHA512) from RFC 6238 Appendix B, 8 digits.
VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize("at, sha1, sha256, sha512", VECTORS)
def test_rfc6238_vectors(at, sha1, sha256, sha512):
    assert totp.code(SEED, at, digits=8) == sha1
    assert totp.code(SEED32, at, digits=8, digest=hashlib.sha256) == sha256
    assert totp.code(SEED64, at, digits=8, digest=hashlib.sha512) == sha512


def test_six_digit_code_is_the_last_six_of_the_rfc_value():
    assert totp.code(SEED, 59) == "287082"


def test_window_accepts_one_step_either_side_and_no_more():
    now = 1_000_000_000
    for offset, ok in ((-60, False), (-30, True), (0, True), (30, True), (60, False)):
        found = totp.matching_step(SEED, totp.code(SEED, now + offset), at=now)
        assert (found is not None) is ok, offset


def test_a_used_step_is_refused_and_a_later_one_accepted():
    now = 1_000_000_000
    current = totp.code(SEED, now)
    used = totp.matching_step(SEED, current, at=now)
    assert used == totp.step(now)
    assert totp.matching_step(SEED, current, at=now, after_step=used) is None
    assert totp.matching_step(SEED, totp.code(SEED, now + 30), at=now + 30, after_step=used) == used + 1


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "abcdef", "12 34 5x", None])
def test_malformed_codes_never_match(bad):
    assert totp.matching_step(SEED, bad, at=59) is None


def test_otpauth_uri_carries_base32_secret_and_issuer():
    uri = totp.otpauth_uri(SEED, "ana@example.com")
    assert uri.startswith("otpauth://totp/MosPay:ana@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
    assert "issuer=MosPay" in uri and "period=30" in uri
