"""Merchant users' second factor: TOTP enrolment and checks (mospay/totp.py) and single-use recovery codes.

The TOTP key is never stored: it is HMAC(SECRET_KEY, "merchant-totp:<user id>:<nonce>"), and only the
random nonce is kept, so a database dump alone gives no codes (as webhook secrets, mospay/webhooks.py).
Changing SECRET_KEY therefore voids every enrolment, as it voids API secrets."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from . import auth, errors, totp
from .audit import Actor, audit
from .db import Database
from .merchant_roles import MerchantUser

RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper


def key(secret_key: str, user_id: int, nonce: str) -> bytes:
    return hmac.new(secret_key.encode(), f"merchant-totp:{user_id}:{nonce}".encode(), hashlib.sha1).digest()


def start_enrolment(db: Database, secret_key: str, me: MerchantUser) -> dict:
    """A fresh pending key (replacing any earlier pending one); the enabled one, if any, stays until
    confirmed. Answers what the enrol page shows: the otpauth URI and the key as text."""
    nonce = secrets.token_hex(16)
    db.query("merchant_totp_set_pending", id=me.user_id, client_id=me.client_id, nonce=nonce)
    return pending(secret_key, me, nonce)


def pending(secret_key: str, me: MerchantUser, nonce: str) -> dict:
    k = key(secret_key, me.user_id, nonce)
    return {"secret": totp.b32(k), "uri": totp.otpauth_uri(k, me.email), "nonce": nonce}


def confirm_enrolment(db: Database, secret_key: str, actor: Actor, me: MerchantUser, nonce: str, code) -> list[str]:
    """A correct code for the pending key turns TOTP on; answers 10 new recovery codes (shown once)."""
    if not nonce:
        raise errors.InvalidField("start the enrolment again", field="code")
    found = totp.matching_step(key(secret_key, me.user_id, nonce), code)
    if found is None:
        raise errors.InvalidField("is not the code your app shows now", field="code")
    if db.one("merchant_totp_confirm", id=me.user_id, client_id=me.client_id, nonce=nonce, step=found) is None:
        raise errors.InvalidField("start the enrolment again", field="code")
    codes = new_recovery_codes(db, secret_key, me)
    audit(db, actor, "merchant_user.totp_enable", "merchant_user", me.email)
    return codes


def new_recovery_codes(db: Database, secret_key: str, me: MerchantUser) -> list[str]:
    codes = ["-".join("".join(secrets.choice(_ALPHABET) for _ in range(5)) for _ in range(2))
             for _ in range(RECOVERY_CODES)]
    with db.transaction() as tx:
        tx.query("merchant_recovery_codes_delete", user_id=me.user_id, client_id=me.client_id)
        for c in codes:
            tx.query("merchant_recovery_code_insert", user_id=me.user_id, client_id=me.client_id,
                     code_hash=auth.hash_secret(c, secret_key))
    return codes


def disable(db: Database, actor: Actor, me: MerchantUser) -> None:
    with db.transaction() as tx:
        tx.query("merchant_totp_disable", id=me.user_id, client_id=me.client_id)
        tx.query("merchant_recovery_codes_delete", user_id=me.user_id, client_id=me.client_id)
    audit(db, actor, "merchant_user.totp_disable", "merchant_user", me.email)


def recovery_codes_left(db: Database, me: MerchantUser) -> int:
    return db.one("merchant_recovery_codes_left", user_id=me.user_id, client_id=me.client_id)["n"]


def verify(db: Database, secret_key: str, user: dict, code) -> str:
    """The sign-in's second step for a user row (user_id, client_id, totp_nonce, totp_last_step): a
    current TOTP code, used once, or an unused recovery code. Answers which ("totp" or "recovery");
    raises Unauthorized otherwise."""
    code = (code or "").strip().lower()
    if not user.get("totp_nonce") or len(code) > 20:
        raise errors.Unauthorized(auth.BAD_CREDENTIALS)
    if "-" in code:
        if db.one("merchant_recovery_code_use", code_hash=auth.hash_secret(code, secret_key),
                  user_id=user["user_id"], client_id=user["client_id"]) is None:
            raise errors.Unauthorized(auth.BAD_CREDENTIALS)
        return "recovery"
    found = totp.matching_step(key(secret_key, user["user_id"], user["totp_nonce"]), code,
                               after_step=user["totp_last_step"])
    # The step is written only if it is later than the last one used: a code replayed in parallel loses.
    if found is None or db.one("merchant_totp_step_use", id=user["user_id"], client_id=user["client_id"],
                               step=found) is None:
        raise errors.Unauthorized(auth.BAD_CREDENTIALS)
    return "totp"
