"""Admin API for a client's merchant-portal users: list, invite (the first user included), change role or
active, reset a password by one-time link. The same rules and audit rows as the admin portal's client page
and the merchant portal's team page (mospay/merchant_accounts.py)."""

from __future__ import annotations

import falcon

from .. import errors, merchant_accounts as merchants
from ..mail import Mailer
from .admin import AdminResource
from .common import strict_body


def view(row: dict) -> dict:
    return {"email": row["email"], "role": row["role"], "active": row["active"],
            "has_password": row.get("has_password", row.get("password_hash") is not None),
            "totp_enabled": row.get("totp_enabled", row.get("totp_nonce") is not None),
            "created_at": row["created_at"].isoformat(),
            "last_login_at": row["last_login_at"].isoformat() if row["last_login_at"] else None}


def base_url(req, config) -> str:
    return config.public_url or req.prefix


class _Resource(AdminResource):
    def __init__(self, db, tokens, config):
        super().__init__(db, tokens, config)
        self._mailer = Mailer(config.smtp_url)


class MerchantUsers(_Resource):
    """GET / POST /api/v1/admin/clients/{app_id}/users."""

    def on_get(self, req, resp, app_id):
        self._reader(req)
        client = merchants.client(self._db, app_id)
        resp.media = {"items": [view(r) for r in merchants.users(self._db, client["id"])]}

    def on_post(self, req, resp, app_id):
        """{"email", "role"} -> 201 {"email", "role", "invite_url", "expires_at"}: the link is shown once."""
        user = self._writer(req)
        data = strict_body(req, self._config, ("email", "role"))
        client = merchants.client(self._db, app_id)
        try:
            made = merchants.invite(self._db, self._config.secret_key, merchants.for_client(self._actor(req, user), app_id), client["id"], data,
                                    base_url(req, self._config), self._mailer)
        except errors.Conflict:
            raise errors.Conflict("a portal user with this email already exists", field="email",
                                  code="already_exists") from None
        resp.media = {"email": made["email"], "role": made["role"], "invite_url": made["invite_url"],
                      "expires_at": made["expires_at"].isoformat()}
        resp.status = falcon.HTTP_201
        resp.cache_control = ["no-store"]


class MerchantUser(_Resource):
    """GET / PATCH /api/v1/admin/clients/{app_id}/users/{email}. PATCH {"role"?, "active"?}."""

    def on_get(self, req, resp, app_id, email):
        self._reader(req)
        client = merchants.client(self._db, app_id)
        resp.media = view(merchants.user_by_email(self._db, client["id"], email))

    def on_patch(self, req, resp, app_id, email):
        user = self._writer(req)
        data = strict_body(req, self._config, ("role", "active"))
        if "active" in data and not isinstance(data["active"], bool):
            raise errors.InvalidField("must be true or false", field="active", code="invalid_type")
        if "role" in data:
            merchants.role(data["role"])
        client = merchants.client(self._db, app_id)
        target = merchants.user_by_email(self._db, client["id"], email)
        actor = merchants.for_client(self._actor(req, user), app_id)
        if "role" in data and data["role"] != target["role"]:
            merchants.set_role(self._db, actor, client["id"], target["id"], data["role"])
        if "active" in data and data["active"] != target["active"]:
            merchants.set_active(self._db, actor, client["id"], target["id"], data["active"])
        resp.media = view(merchants.user(self._db, client["id"], target["id"]))


class MerchantUserPasswordReset(_Resource):
    """POST /api/v1/admin/clients/{app_id}/users/{email}/reset-password: the old password stops working
    and the user's sessions end now; the one-time link (72 h) to choose a new one is shown once."""

    def on_post(self, req, resp, app_id, email):
        user = self._writer(req)
        client = merchants.client(self._db, app_id)
        target = merchants.user_by_email(self._db, client["id"], email)
        actor = merchants.for_client(self._actor(req, user), app_id)
        done = merchants.operator_reset(self._db, self._config.secret_key, actor, client["id"],
                                        target["id"], base_url(req, self._config), self._mailer)
        resp.media = {"email": done["email"], "role": done["role"], "reset_url": done["reset_url"],
                      "expires_at": done["expires_at"].isoformat()}
        resp.cache_control = ["no-store"]
