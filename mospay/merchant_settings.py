"""A client's merchant-portal settings (merchant_settings): whether its owners require TOTP of the team."""

from __future__ import annotations

from . import errors
from .audit import Actor, audit
from .db import Database
from .merchant_roles import MerchantUser


def get(db: Database, client_id: int) -> dict:
    return db.one("merchant_settings", client_id=client_id)


def set_require_totp(db: Database, actor: Actor, me: MerchantUser, required: bool, own_totp: bool) -> None:
    """An owner turning the rule on must have TOTP already: nobody locks a team out by a click. Teammates
    without TOTP are sent to enrolment before anything else at their next page."""
    if required and not own_totp:
        raise errors.InvalidField("turn on TOTP for your own account first (Settings)", field="require_totp")
    before = get(db, me.client_id)["require_totp"]
    db.query("merchant_settings_set_require_totp", client_id=me.client_id, require_totp=required)
    audit(db, actor, "merchant_settings.require_totp", "client", me.app_id, {"require_totp": before},
          {"require_totp": required})
