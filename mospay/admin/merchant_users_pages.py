"""The admin client page's merchant-portal users: invite (the client's first user included; the link is
shown once), change role, deactivate or reactivate, reset a password by link. The admin API's rules and
audit rows (mospay/merchant_accounts.py); admin and super_admin only."""

from __future__ import annotations

import falcon

from .. import errors, merchant_accounts as merchants
from ..mail import Mailer
from .clients import ClientItem
from .web import EDITORS, actor, form, render, see_other


def _base_url(req, config) -> str:
    return config.public_url or req.prefix


class _Page:
    write_roles = EDITORS

    def __init__(self, db, config):
        self._db, self._config = db, config
        self._mailer = Mailer(config.smtp_url)

    def _actor(self, req, app_id):
        return merchants.for_client(actor(req), app_id)


class PortalUsers(_Page):
    """POST /admin/clients/{app_id}/portal-users {email, role}: the invite link, on this page only."""

    def on_post(self, req, resp, app_id):
        data, client = form(req), merchants.client(self._db, app_id)
        try:
            made = merchants.invite(self._db, self._config.secret_key, self._actor(req, app_id), client["id"], data,
                                    _base_url(req, self._config), self._mailer)
        except (errors.InvalidField, errors.Conflict) as exc:
            if isinstance(exc, errors.Conflict):
                exc = errors.Conflict("a portal user with this email already exists", field="email")
            return ClientItem(self._db)._show(req, resp, app_id, status=falcon.HTTP_422, error=exc)
        render(req, resp, "admin/merchant_link.html", status=falcon.HTTP_201, app_id=app_id, email=made["email"],
               kind="invite", url=made["invite_url"], expires_at=made["expires_at"], mail=self._mailer.enabled)


class PortalUser(_Page):
    """POST /admin/clients/{app_id}/portal-users/{user_id}/{role|active|reset}."""

    def __init__(self, db, config, what: str):
        super().__init__(db, config)
        self._what = what

    def on_post(self, req, resp, app_id, user_id):
        data, client = form(req), merchants.client(self._db, app_id)
        who = self._actor(req, app_id)
        if self._what == "reset":
            done = merchants.operator_reset(self._db, self._config.secret_key, who, client["id"], user_id,
                                            _base_url(req, self._config), self._mailer)
            return render(req, resp, "admin/merchant_link.html", app_id=app_id, email=done["email"], kind="reset",
                          url=done["reset_url"], expires_at=done["expires_at"], mail=self._mailer.enabled)
        try:
            if self._what == "role":
                merchants.set_role(self._db, who, client["id"], user_id, data.get("role"))
            else:
                merchants.set_active(self._db, who, client["id"], user_id, data.get("active") == "1")
        except (errors.InvalidField, errors.Conflict) as exc:
            return ClientItem(self._db)._show(req, resp, app_id, status=falcon.HTTP_422 if exc.status == 422
                                              else falcon.HTTP_409, error=exc)
        see_other(resp, f"/admin/clients/{app_id}")
