"""/portal/settings: your own password, TOTP (enrol with a QR code, recovery codes, turn off) and your
sessions (sign out everywhere). Every role may reach it (action `settings`)."""

from __future__ import annotations

import falcon
import segno

from .. import auth, errors, merchant_accounts as accounts, merchant_mfa
from ..audit import audit
from . import sessions
from .web import actor, form, render, see_other, set_cookie

ACTIONS = {"GET": "settings", "POST": "settings"}


def qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG (no script, no style attribute: the CSP allows it)."""
    return segno.make(uri, error="m").svg_inline(scale=4, light="#fff", dark="#000", border=4)


class Settings:
    actions = ACTIONS
    before_totp = True

    def __init__(self, db, config):
        self._db, self._key = db, config.secret_key

    def show(self, req, resp, *, status=falcon.HTTP_200, error=None, notice=None):
        me, session = req.context.merchant, req.context.merchant_session
        rows = sessions.of_user(self._db, me.user_id, me.client_id)
        for row in rows:
            row["current"] = row["id_hash"] == session["session_hash"]
        render(req, resp, "merchant/settings.html", status=status, error=error, notice=notice, sessions=rows,
               totp_enabled=session["totp_enabled"], require_totp=session["require_totp"],
               codes_left=merchant_mfa.recovery_codes_left(self._db, me) if session["totp_enabled"] else 0)

    def on_get(self, req, resp):
        self.show(req, resp, notice={"password": "Your password was changed."}.get(req.get_param("done") or ""))


class Password(Settings):
    def on_get(self, req, resp):
        see_other(resp, "/portal/settings")

    def on_post(self, req, resp):
        data = form(req)
        error = None
        if data.get("new_password") != data.get("confirm_password"):
            error = "The two new passwords differ."
        else:
            try:
                accounts.change_password(self._db, actor(req), req.context.merchant, data.get("current_password"),
                                         data.get("new_password"), req.context.merchant_session["session_hash"])
            except errors.InvalidField as exc:
                error = f"The {exc.field.replace('_', ' ')} {exc.message}."
        if error:
            return self.show(req, resp, status=falcon.HTTP_422, error=error)
        see_other(resp, "/portal/settings?done=password")


class SignOutEverywhere(Settings):
    """Ends every session of yours, this one included."""

    def on_get(self, req, resp):
        see_other(resp, "/portal/settings")

    def on_post(self, req, resp):
        me = req.context.merchant
        sessions.end_all(self._db, me.user_id, me.client_id)
        audit(self._db, actor(req), "merchant_user.sign_out_everywhere", "merchant_user", me.email)
        set_cookie(req, resp, "", 0)
        see_other(resp, "/portal/login")


class Totp(Settings):
    """GET: status (where the team rule sends people). POST step=start|confirm|disable|recovery."""

    def on_get(self, req, resp, status=falcon.HTTP_200, error=None, enrol=None, codes=None):
        session = req.context.merchant_session
        render(req, resp, "merchant/totp.html", status=status, error=error, enrol=enrol, codes=codes,
               totp_enabled=session["totp_enabled"], require_totp=session["require_totp"])

    def _enrol(self, me, nonce: str) -> dict:
        found = merchant_mfa.pending(self._key, me, nonce)
        return {**found, "svg": qr_svg(found["uri"])}

    def on_post(self, req, resp):
        data, me, session = form(req), req.context.merchant, req.context.merchant_session
        step = data.get("step")
        if step == "start":
            found = merchant_mfa.start_enrolment(self._db, self._key, me)
            return self.on_get(req, resp, enrol=self._enrol(me, found["nonce"]))
        if step == "confirm":
            nonce = (data.get("nonce") or "")[:64]
            try:
                codes = merchant_mfa.confirm_enrolment(self._db, self._key, actor(req), me, nonce, data.get("code"))
            except errors.InvalidField as exc:
                enrol = self._enrol(me, nonce) if nonce.isalnum() else None
                return self.on_get(req, resp, status=falcon.HTTP_422, error=f"The code {exc.message}.", enrol=enrol)
            # Enrolment proves the user holds the key: their other sessions (maybe not theirs) end.
            sessions.end_all(self._db, me.user_id, me.client_id, session["session_hash"])
            session["totp_enabled"] = True
            return self.on_get(req, resp, codes=codes)
        if step in ("disable", "recovery"):
            row = accounts.user(self._db, me.client_id, me.user_id)
            if not session["totp_enabled"]:
                return see_other(resp, "/portal/settings/totp")
            if not auth.check_password(data.get("password") or "", row["password_hash"] or ""):
                return self.on_get(req, resp, status=falcon.HTTP_422, error="The password is wrong.")
            if step == "recovery":
                codes = merchant_mfa.new_recovery_codes(self._db, self._key, me)
                audit(self._db, actor(req), "merchant_user.recovery_codes", "merchant_user", me.email)
                return self.on_get(req, resp, codes=codes)
            if session["require_totp"]:
                return self.on_get(req, resp, status=falcon.HTTP_422,
                                   error="Your team requires TOTP: it cannot be turned off.")
            merchant_mfa.disable(self._db, actor(req), me)
            return see_other(resp, "/portal/settings")
        raise errors.InvalidField("must be start, confirm, disable or recovery", field="step")
