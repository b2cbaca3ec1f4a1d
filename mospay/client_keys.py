"""A client's API secret generations: which one a credential matches, the roll with an overlap (Stripe's
"roll key"), and when and from where each was last used. No HTTP here."""

from __future__ import annotations

import time

from . import auth, errors, functions
from .auth import BasicCredentials
from .db import Database

MAX_OVERLAP_S = 7 * 86400
# What the portals offer; the admin API takes any whole number of seconds from 0 to MAX_OVERLAP_S.
OVERLAP_CHOICES = ((0, "none: the old secret stops now"), (3600, "1 hour"), (86400, "24 hours"),
                   (3 * 86400, "3 days"), (7 * 86400, "7 days"))


def matching_generation(row: dict, basic: BasicCredentials | None, token_version: int | None, secret_key: str,
                        now: float | None = None) -> int | None:
    """The generation the credentials belong to, or None. `row` is a client row or the payment path's
    cached context: the current secret (api_secret_hash, credential_version) and `previous_secrets`, the
    older generations still in their overlap ({generation, secret_hash, expires_at: unix seconds})."""
    previous = row.get("previous_secrets") or ()
    now = time.time() if now is None else now
    if basic is None:
        if token_version == row["credential_version"]:
            return token_version
        return next((old["generation"] for old in previous
                     if old["generation"] == token_version and now < float(old["expires_at"])), None)
    # Every candidate's HMAC is computed, whatever the username: the same work for every failure.
    found = row["credential_version"] if auth.check_secret(basic.secret, row["api_secret_hash"], secret_key) else None
    for old in previous:
        if auth.check_secret(basic.secret, old["secret_hash"], secret_key) and now < float(old["expires_at"]):
            found = found or old["generation"]
    return found if basic.username == row["api_username"] else None


def overlap_seconds(value, field: str = "overlap_s") -> int:
    """0 to 7 days in whole seconds; a form's text or the API's integer (never a bool or a float)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 7:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_OVERLAP_S:
        raise errors.InvalidField(f"must be 0 to {MAX_OVERLAP_S} seconds (7 days)", field=field)
    return value


def roll(db: Database, secret_key: str, app_id: str, overlap_s: int = 0) -> dict:
    """A new API secret, returned this once and stored only as a hash. The old one, and tokens issued
    with it, keep working for `overlap_s` seconds (0: refused at once); every older secret still in an
    overlap ends by then too (mospay.roll_client_secret)."""
    functions.check_app_id(app_id)
    overlap_s = overlap_seconds(overlap_s)
    secret = auth.new_api_secret()
    row = db.one("roll_client_secret", app_id=app_id, secret_hash=auth.hash_secret(secret, secret_key),
                 overlap_s=overlap_s)
    if row is None:
        raise errors.NotFound("no client with this app_id", field="app_id", code="client_not_found")
    return {"app_id": row["o_app_id"], "api_username": row["o_api_username"], "api_secret": secret,
            "generation": row["o_generation"], "previous_generation": row["o_previous_generation"],
            "previous_expires_at": row["o_previous_expires_at"].isoformat(), "overlap_s": overlap_s}


def generations(db: Database, client_id: int) -> list[dict]:
    """The client's secret generations, newest first, each with its state (current, overlap: still
    accepted until expires_at, expired) and its last use (at most a minute stale)."""
    return db.query("client_secret_generations", client_id=client_id)


def last_used(rows: list[dict]) -> dict | None:
    """The most recent use across generations: what a one-line summary shows."""
    used = [r for r in rows if r["last_used_at"] is not None]
    return max(used, key=lambda r: r["last_used_at"]) if used else None
