"""RFC 6238 time-based one-time passwords (HMAC-SHA1, 6 digits, 30 s), standard library only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time
from urllib.parse import quote, urlencode

STEP_S = 30
DIGITS = 6
WINDOW = 1  # steps accepted either side of now: a phone clock a little off, a code typed at the turn
_CODE_RE = re.compile(r"[0-9]{6}")


def hotp(key: bytes, counter: int, digits: int = DIGITS, digest=hashlib.sha1) -> str:
    """RFC 4226: the code for one counter value (dynamic truncation of the HMAC)."""
    mac = hmac.new(key, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


def step(at: float | None = None) -> int:
    return int((time.time() if at is None else at) // STEP_S)


def code(key: bytes, at: float | None = None, digits: int = DIGITS, digest=hashlib.sha1) -> str:
    """RFC 6238: the code valid at time `at` (now by default)."""
    return hotp(key, step(at), digits, digest)


def matching_step(key: bytes, candidate: str, at: float | None = None, after_step: int = 0) -> int | None:
    """The time step (now ±WINDOW) whose code is `candidate`, or None. Steps at or before `after_step`
    (the last one used) never match: a code is good once."""
    candidate = (candidate or "").replace(" ", "")
    if not _CODE_RE.fullmatch(candidate):
        return None
    now = step(at)
    found = None
    for s in range(now - WINDOW, now + WINDOW + 1):
        # Compare every candidate step (no early exit): the time taken says nothing about which matched.
        if hmac.compare_digest(hotp(key, s), candidate) and s > after_step and found is None:
            found = s
    return found


def b32(key: bytes) -> str:
    """The key as authenticator apps take it typed in: base32 without padding."""
    return base64.b32encode(key).decode().rstrip("=")


def otpauth_uri(key: bytes, account: str, issuer: str = "MosPay") -> str:
    """The URI a QR code carries (Google Authenticator's Key Uri Format)."""
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode({"secret": b32(key), "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS,
                       "period": STEP_S})
    return f"otpauth://totp/{label}?{query}"
