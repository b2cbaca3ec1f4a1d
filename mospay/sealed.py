"""Values the database keeps only sealed (AES-256-GCM): a batch row's secret fields until its payment exists.

Sealed in Python, so it works on every PostgreSQL (the embedded one has no pgcrypto). The key is derived from
the credentials key (MOSPAY_CREDENTIALS_KEY, else derived from SECRET_KEY: credentials.store_key), and each
value is bound to the place it is kept (its context), so a sealed value copied into another row does not open.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = b"\x01"  # the format: version byte, 12-byte nonce, ciphertext with its 16-byte tag


class Unsealable(ValueError):
    """The value was sealed under another key or for another place, or was changed."""


def _key(store_key: str) -> bytes:
    return hmac.new(store_key.encode(), b"mospay sealed values v1", hashlib.sha256).digest()


def seal(store_key: str, plaintext: bytes, context: str) -> bytes:
    nonce = os.urandom(12)
    return VERSION + nonce + AESGCM(_key(store_key)).encrypt(nonce, plaintext, context.encode())


def unseal(store_key: str, blob: bytes, context: str) -> bytes:
    blob = bytes(blob)
    if len(blob) < 29 or blob[:1] != VERSION:
        raise Unsealable("not a sealed value")
    try:
        return AESGCM(_key(store_key)).decrypt(blob[1:13], blob[13:], context.encode())
    except InvalidTag:
        raise Unsealable("sealed under another key or for another place") from None


def batch_row_context(batch_id: int, line_no: int) -> str:
    return f"batch_row:{batch_id}:{line_no}"
