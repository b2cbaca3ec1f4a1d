"""Password and API-secret hashing, credential generation, and JWT issue/verify. No HTTP here."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import secrets
import string
import time

import bcrypt
import jwt

from .errors import Unauthorized

ISSUER = "mospay"
AUDIENCE = {"client": "mospay-api", "admin": "mospay-admin"}
ALGORITHM = "HS256"
_ALPHANUM = string.ascii_lowercase + string.digits
BAD_CREDENTIALS = "invalid credentials"  # one message for every failure, so nothing leaks


def hash_password(password: str) -> str:
    """bcrypt for human passwords (admins): slow on purpose."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=12)).decode()


def check_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:
        return False


def hash_secret(secret: str, key: str) -> str:
    """HMAC-SHA256 for high-entropy API secrets: fast, and useless to an attacker without the key."""
    return hmac.new(key.encode(), secret.encode(), hashlib.sha256).hexdigest()


def check_secret(secret: str, hashed: str, key: str) -> bool:
    return hmac.compare_digest(hash_secret(secret, key), hashed or "")


def new_app_id() -> str:
    return "app" + "".join(secrets.choice(_ALPHANUM) for _ in range(12))


def new_api_username() -> str:
    return "mp_" + secrets.token_hex(10)


def new_api_secret() -> str:
    return "sk_" + secrets.token_urlsafe(32)


@dataclasses.dataclass(frozen=True)
class BasicCredentials:
    username: str
    secret: str


def parse_basic(header: str) -> BasicCredentials:
    """Decode `Basic base64(user:secret)`; any malformation is the same 401."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise Unauthorized(BAD_CREDENTIALS)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Unauthorized(BAD_CREDENTIALS) from None
    username, sep, secret = decoded.partition(":")
    if not sep or not username or not secret or len(decoded) > 512:
        raise Unauthorized(BAD_CREDENTIALS)
    return BasicCredentials(username, secret)


class Tokens:
    """HS256 tokens with iss/aud/typ pinned; `cv` carries the credential version so rotation revokes."""

    def __init__(self, key: str, ttl_s: int, api_key_secret: str | None = None):
        self._key = key
        self.ttl_s = ttl_s
        # The server SECRET_KEY, for the admin API keys (mospay.api_keys) that share the Bearer header
        # with admin tokens: whoever verifies one must be able to verify the other.
        self.api_key_secret = api_key_secret
        # Verified tokens by their exact text: a client sends the same token for an hour, and
        # re-verifying it (base64, JSON, HMAC, claim checks) was a tenth of a payment's CPU. Only the
        # expiry can change the verdict for the same text, so a hit re-checks exp and nothing else.
        self._verified: dict[str, dict] = {}

    def issue(self, kind: str, subject: str, version: int) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE[kind], "typ": kind, "sub": subject, "cv": version,
                  "iat": now, "exp": now + self.ttl_s, "jti": secrets.token_hex(8)}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify(self, token: str, kind: str) -> dict:
        cached = self._verified.get(token)
        if cached is not None and cached.get("typ") == kind and time.time() < cached["exp"]:
            return dict(cached)
        try:
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM], audience=AUDIENCE[kind],
                                issuer=ISSUER, options={"require": ["exp", "iat", "sub", "aud", "iss"]})
        except jwt.PyJWTError:
            raise Unauthorized(BAD_CREDENTIALS) from None
        if claims.get("typ") != kind or not isinstance(claims.get("cv"), int):
            raise Unauthorized(BAD_CREDENTIALS)
        if len(self._verified) >= 10_000:  # bounded: tokens live an hour, a wholesale reset is cheap
            self._verified.clear()
        self._verified[token] = claims
        return claims
