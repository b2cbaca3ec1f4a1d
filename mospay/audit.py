"""The audit trail: who made a change (Actor) and the one function that writes its row, masked."""

from __future__ import annotations

import dataclasses
import json

from .redact import SECRET_KEYS, mask

AUDIT_SECRET_KEYS = SECRET_KEYS | {"api_secret_hash", "password_hash", "source_secret"}


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who is making a change, for the audit trail and for rules such as "not yourself"."""
    id: int | None
    username: str
    role: str
    ip: str | None = None
    # A merchant user (username `merchant:<email>`, id None: not an operator) acts inside one client.
    client: str | None = None


def audit(db, actor: Actor, action: str, target_type: str, target_id, before=None, after=None) -> None:
    """One audit row; before/after are masked here so no caller can forget."""
    db.query("audit_insert", user_id=actor.id, username=actor.username, action=action,
             target_type=target_type, target_id=None if target_id is None else str(target_id)[:200],
             before=_json(before), after=_json(after), ip=actor.ip,
             client_app_id=actor.client)


def _json(value):
    return None if value is None else json.dumps(mask(value, AUDIT_SECRET_KEYS), default=str)
