"""Admin API keys for automation (service accounts): created by a super_admin with a role and an optional
expiry, shown once, stored as an HMAC of the secret, recorded when used, revocable at once. No HTTP here.

A key reads `mpk_<id>_<secret>`: the prefix tells it from a JWT admin token, the id finds its row without
an index on a hash, and only HMAC-SHA256(secret, SECRET_KEY) is kept, compared in constant time."""

from __future__ import annotations

import datetime as dt
import re
import secrets

from . import accounts, auth, errors, reports, validators
from .audit import Actor, audit
from .db import Database

PREFIX = "mpk_"
_KEY_RE = re.compile(r"mpk_([1-9][0-9]{0,17})_([A-Za-z0-9_-]{43})")
_NAME_RE = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_FIELDS = ("name", "role", "expires_at")
# What OpenAPI's "date-time" means; Python's fromisoformat alone accepts more (no seconds, no "T").
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
                      r"([Zz]|[+-][0-9]{2}:[0-9]{2})")
# Compared against when the id finds no row, so an unknown id costs what a wrong secret costs.
_NO_HASH = "0" * 64


def is_key(token: str) -> bool:
    """Whether a bearer credential claims to be an API key (a JWT never starts with this prefix)."""
    return token.startswith(PREFIX)


def actor_name(name: str) -> str:
    """What the audit trail records for changes made with a key: never mistaken for a user's name,
    which cannot contain ':'."""
    return f"key:{name}"


def create(db: Database, actor: Actor, secret_key: str, data: dict) -> dict:
    """A new key; its value is in the answer this once and nowhere else."""
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise errors.InvalidField("unknown field", field=unknown[0], code="unknown_field")
    name = data.get("name")
    if name is None or name == "":
        raise errors.InvalidField("is required", field="name", code="missing_field")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):  # as sent: no stripping into validity
        raise errors.InvalidField("must be 1-64 letters, digits or _.@-", field="name")
    role = data.get("role")
    if role not in accounts.ROLES:
        raise errors.InvalidField(f"must be one of {', '.join(accounts.ROLES)}", field="role")
    expires_at = _expiry(data.get("expires_at"))
    secret = secrets.token_urlsafe(32)
    row = db.one("api_key_insert", name=name, role=role, secret_hash=auth.hash_secret(secret, secret_key),
                 created_by=actor.username, expires_at=expires_at)
    if row is None:
        raise errors.Conflict("an API key with this name exists (names are not reused, even after "
                              "revocation)", field="name", code="already_exists")
    view = _view(row)
    audit(db, actor, "api_key.create", "api_key", name, None, view)
    return {**view, "key": f"{PREFIX}{row['id']}_{secret}"}


def _expiry(value) -> str | None:
    """An RFC 3339 instant (with its offset) in the future; None (absent or null): the key does not expire."""
    if value is None:
        return None
    try:
        when = (dt.datetime.fromisoformat(value.upper())
                if isinstance(value, str) and _RFC3339.fullmatch(value) else None)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None or not 2000 <= when.year <= 9998:  # no overflow comparing
        raise errors.InvalidField("must be an RFC 3339 date and time with its offset, e.g. "
                                  "2027-01-31T00:00:00Z", field="expires_at")
    if when <= dt.datetime.now(dt.timezone.utc):
        raise errors.InvalidField("must be in the future", field="expires_at")
    return when.isoformat()


def authenticate(db: Database, secret_key: str, token: str, ip: str | None) -> dict:
    """The key behind `token` as the user-like dict admin_user() returns (id None: a key is no user),
    or the one 401 for any failure: malformed, unknown, wrong secret, revoked or expired."""
    match = _KEY_RE.fullmatch(token)
    if match is None:
        raise errors.Unauthorized(auth.BAD_CREDENTIALS)
    row = db.one("api_key_by_id", id=int(match.group(1)))
    matches = auth.check_secret(match.group(2), row["secret_hash"] if row else _NO_HASH, secret_key)
    if row is None or not matches or not row["usable"]:
        raise errors.Unauthorized(auth.BAD_CREDENTIALS)
    if row["touch_due"]:  # at most one write a minute per key, however busy the script
        db.query("api_key_touch", id=row["id"], ip=(ip or "")[:100] or None)
    return {"id": None, "username": actor_name(row["name"]), "role": row["role"], "active": True,
            "must_change_password": False, "api_key_id": row["id"]}


def page(db: Database, after: str | None, limit: int) -> tuple[list[dict], str | None]:
    """One page of keys, newest first (never a secret or its hash), and the cursor of the next."""
    before_at, before_id = validators.cursor(after)
    rows, following = reports.keyset_page(db, "api_keys_page", {"before_at": before_at, "before_id": before_id},
                                          limit)
    return [_view(r) for r in rows], following


def revoke(db: Database, actor: Actor, key_id: str) -> None:
    """Refused from the next request on; revoking a revoked key changes nothing (and writes no audit row)."""
    if not re.fullmatch(r"[1-9][0-9]{0,17}", key_id or ""):
        raise errors.NotFound("no API key with this id", code="api_key_not_found")
    with db.transaction() as tx:
        row = tx.one("api_key_revoke", id=int(key_id))
        if row is None:
            raise errors.NotFound("no API key with this id", code="api_key_not_found")
        if row["newly"]:
            audit(tx, actor, "api_key.revoke", "api_key", row["name"], {"revoked": False},
                  {"revoked": True, "id": row["id"], "role": row["role"]})


def _view(row: dict) -> dict:
    return {"id": row["id"], "name": row["name"], "role": row["role"], "created_by": row["created_by"],
            "created_at": _iso(row["created_at"]), "expires_at": _iso(row["expires_at"]),
            "revoked_at": _iso(row.get("revoked_at")), "last_used_at": _iso(row.get("last_used_at")),
            "last_used_ip": row.get("last_used_ip")}


def _iso(value):
    return None if value is None else value.isoformat()
