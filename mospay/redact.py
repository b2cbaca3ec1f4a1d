"""Masking of secrets before anything is stored, logged or shown."""

from __future__ import annotations

MASK = "***"
SECRET_KEYS = frozenset({
    "f007", "f008", "password", "pwd", "api_secret", "secret", "access_token", "token", "authorization",
    "webhook_secret", "new_password", "current_password", "refresh_token", "client_secret", "pin",
    # Shown once by the admin API: a new API key, a reset user's temporary password, a merchant user's
    # one-time invite or reset link (the link is the credential).
    "key", "temporary_password", "invite_url", "reset_url",
})


def mask(value, secret_keys=SECRET_KEYS, depth: int = 0):
    """A copy of a JSON-like value with the values of secret keys replaced by ***."""
    if depth > 20:
        return MASK
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and k.lower() in secret_keys and v not in (None, "")
                    else mask(v, secret_keys, depth + 1))
                for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, secret_keys, depth + 1) for v in value]
    return value
