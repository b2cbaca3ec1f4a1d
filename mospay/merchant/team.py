"""/portal/team: everyone sees the team; owners invite, remove (deactivate) and restore teammates, change
roles (never leaving the team without an owner) and require TOTP of the whole team."""

from __future__ import annotations

import falcon

from .. import errors, merchant_accounts as accounts, merchant_settings
from ..mail import Mailer
from ..merchant_roles import ROLES
from .session_pages import base_url
from .web import actor, form, render, see_other


def _flag(data: dict, name: str) -> bool:
    """A form's on/off field: "1" or "0", nothing else."""
    if data.get(name) not in ("0", "1"):
        raise errors.InvalidField("must be 1 or 0", field=name)
    return data[name] == "1"


class Team:
    actions = {"GET": "read", "POST": "team"}

    def __init__(self, db, config):
        self._db, self._config = db, config
        self._mailer = Mailer(config.smtp_url)

    def show(self, req, resp, *, status=falcon.HTTP_200, error=None, invited=None, draft=None):
        me = req.context.merchant
        render(req, resp, "merchant/team.html", status=status, rows=accounts.users(self._db, me.client_id),
               roles=ROLES, error=error, invited=invited, draft=draft or {},
               settings=merchant_settings.get(self._db, me.client_id), mail=self._mailer.enabled)

    def on_get(self, req, resp):
        self.show(req, resp)

    def on_post(self, req, resp):
        """Invite: the link is shown here once (and emailed when mail is set up)."""
        data, me = form(req), req.context.merchant
        try:
            invited = accounts.invite(self._db, self._config.secret_key, actor(req), me.client_id, data,
                                      base_url(req, self._config), self._mailer)
        except (errors.InvalidField, errors.Conflict) as exc:
            if isinstance(exc, errors.Conflict):
                exc = errors.Conflict("someone already has a portal account with this email", field="email")
            return self.show(req, resp, status=falcon.HTTP_422, error=exc,
                             draft={"email": data.get("email", ""), "role": data.get("role", "")})
        self.show(req, resp, status=falcon.HTTP_201, invited=invited)


class TeamMember(Team):
    """POST /portal/team/{user_id}/role, .../active (remove = deactivate) and .../invite (a new link for
    a teammate who has not joined yet, shown once)."""

    def __init__(self, db, config, what: str):
        super().__init__(db, config)
        self._what = what

    def on_get(self, req, resp, user_id):
        accounts.user(self._db, req.context.merchant.client_id, user_id)  # 404 for another client's id
        see_other(resp, "/portal/team")

    def on_post(self, req, resp, user_id):
        data, me = form(req), req.context.merchant
        try:
            if self._what == "invite":
                invited = accounts.reinvite(self._db, self._config.secret_key, actor(req), me.client_id, user_id,
                                            base_url(req, self._config), self._mailer)
                return self.show(req, resp, invited=invited)
            if self._what == "role":
                accounts.set_role(self._db, actor(req), me.client_id, user_id, data.get("role"))
            else:
                accounts.set_active(self._db, actor(req), me.client_id, user_id, _flag(data, "active"))
        except (errors.InvalidField, errors.Conflict) as exc:
            return self.show(req, resp, status=falcon.HTTP_409 if exc.status == 409 else falcon.HTTP_422, error=exc)
        see_other(resp, "/portal/team")


class TeamTotp(Team):
    """POST /portal/team/totp {require_totp: 1|0}: require a second factor of every teammate."""

    def on_get(self, req, resp):
        see_other(resp, "/portal/team")

    def on_post(self, req, resp):
        try:
            merchant_settings.set_require_totp(self._db, actor(req), req.context.merchant,
                                               _flag(form(req), "require_totp"),
                                               req.context.merchant_session["totp_enabled"])
        except errors.InvalidField as exc:
            return self.show(req, resp, status=falcon.HTTP_422, error=exc)
        see_other(resp, "/portal/team")
