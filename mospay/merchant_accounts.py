"""Merchant users: invites, one-time links (invite, reset), passwords, sign-in, roles and deactivation.
Shared by the admin API, the admin portal and the merchant portal; no HTTP here."""

from __future__ import annotations

import logging
import re

from . import auth, errors, functions, merchant_roles, validators
from .audit import Actor, audit
from .db import Database
from .mail import Mailer, MailError
from .security import AuthThrottle

log = logging.getLogger("mospay.merchant")
EMAIL_RE = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9.-]{1,189}\.[A-Za-z]{2,63}")
INVITE_TTL_S = 72 * 3600
RESET_TTL_S = 3600
OPERATOR_RESET_TTL_S = INVITE_TTL_S  # handed over by a person, like an invite


def email(value, field: str = "email") -> str:
    """An email address as people type it (trimmed); stored as typed, compared case-insensitively."""
    value = validators.text({field: value}, field, max_length=254)
    if not EMAIL_RE.fullmatch(value) or any(ord(c) < 33 for c in value):
        raise errors.InvalidField("must be an email address like ana@example.com", field=field)
    return value


def role(value, field: str = "role") -> str:
    if value not in merchant_roles.ROLES:
        raise errors.InvalidField(f"must be one of {', '.join(merchant_roles.ROLES)}", field=field)
    return value


def client(db: Database, app_id: str) -> dict:
    """The client named by an operator (404 when unknown)."""
    functions.check_app_id(app_id)
    row = db.one("merchant_client_by_app_id", app_id=app_id)
    if row is None:
        raise errors.NotFound("no client with this app_id", field="app_id", code="client_not_found")
    return row


def _link(db: Database, secret_key: str, user_id: int, kind: str, ttl_s: int, base_url: str) -> dict:
    """A new one-time link (earlier unused ones of the kind stop working); only its HMAC is stored."""
    token = auth.new_api_secret().removeprefix("sk_")
    db.query("merchant_tokens_void", user_id=user_id, kind=kind)
    row = db.one("merchant_token_insert", user_id=user_id, kind=kind, token_hash=auth.hash_secret(token, secret_key),
                 ttl_s=ttl_s)
    return {"url": f"{base_url.rstrip('/')}/portal/{kind}/{token}", "expires_at": row["expires_at"]}


def invite(db: Database, secret_key: str, actor: Actor, client_id: int, data: dict, base_url: str,
           mailer: Mailer | None = None) -> dict:
    """A new user of the client and their invite link (72 h, shown once, emailed when mail is set up)."""
    address, chosen = email(data.get("email")), role(data.get("role"))
    row = db.one("merchant_user_insert", client_id=client_id, email=address, role=chosen,
                 created_by=actor.username)
    if row is None:
        raise errors.NotFound("no such client", code="client_not_found")
    link = _link(db, secret_key, row["id"], "invite", INVITE_TTL_S, base_url)
    audit(db, actor, "merchant_user.invite", "merchant_user", address, None, {"email": address, "role": chosen})
    send(mailer, address, "Your MosPay portal invitation",
         f"You have been invited to the MosPay merchant portal as {chosen}.\n\n"
         f"Choose your password here (the link works once, for 72 hours):\n{link['url']}\n")
    return {"id": row["id"], "email": address, "role": chosen, "invite_url": link["url"],
            "expires_at": link["expires_at"]}


def send(mailer: Mailer | None, to: str, subject: str, body: str) -> bool:
    """Email when a relay is configured. A failure is logged without the body (it carries a link)."""
    if mailer is None or not mailer.enabled:
        return False
    try:
        mailer.send(to, subject, body)
        return True
    except MailError as exc:
        log.warning("could not email %s: %s", subject.lower(), exc)
        return False


def users(db: Database, client_id: int) -> list[dict]:
    return db.query("merchant_users_of_client", client_id=client_id)


def user(db: Database, client_id: int, user_id) -> dict:
    """One user of this client; another client's user is 404, the same as none."""
    if not re.fullmatch(r"\d{1,18}", str(user_id)):
        raise errors.NotFound("no such user", code="user_not_found")
    row = db.one("merchant_user", id=int(user_id), client_id=client_id)
    if row is None:
        raise errors.NotFound("no such user", code="user_not_found")
    return row


def user_by_email(db: Database, client_id: int, address) -> dict:
    """For the admin API, which names users by email: 404 unless the user is this client's."""
    if not isinstance(address, str) or len(address) > 254:
        raise errors.NotFound("no such user", code="user_not_found")
    for row in users(db, client_id):
        if row["email"].lower() == address.lower():
            return user(db, client_id, row["id"])
    raise errors.NotFound("no such user", code="user_not_found")


def _keep_an_owner(tx, client_id: int, user_id: int) -> None:
    owners = [r["id"] for r in tx.query("merchant_owners_lock", client_id=client_id)]
    if owners == [user_id]:
        raise errors.Conflict("the team's last owner cannot be removed or demoted; make someone else owner first",
                              code="last_owner")


def set_role(db: Database, actor: Actor, client_id: int, user_id, new_role) -> dict:
    target, new_role = user(db, client_id, user_id), role(new_role)
    with db.transaction() as tx:
        if target["role"] == "owner" and new_role != "owner":
            _keep_an_owner(tx, client_id, target["id"])
        row = tx.one("merchant_user_set_role", id=target["id"], client_id=client_id, role=new_role)
    audit(db, actor, "merchant_user.set_role", "merchant_user", target["email"], {"role": target["role"]},
          {"role": new_role})
    return row


def set_active(db: Database, actor: Actor, client_id: int, user_id, active: bool) -> dict:
    """Deactivating ends the user's sessions at once (the session lookup also checks `active`)."""
    target = user(db, client_id, user_id)
    with db.transaction() as tx:
        if not active and target["role"] == "owner" and target["active"]:
            _keep_an_owner(tx, client_id, target["id"])
        row = tx.one("merchant_user_set_active", id=target["id"], client_id=client_id, active=active)
        tx.query("merchant_sessions_delete_user", user_id=target["id"], client_id=client_id, keep=None)
    audit(db, actor, "merchant_user.activate" if active else "merchant_user.deactivate", "merchant_user",
          target["email"], {"active": target["active"]}, {"active": active})
    return row


def operator_reset(db: Database, secret_key: str, actor: Actor, client_id: int, user_id, base_url: str,
                   mailer: Mailer | None = None) -> dict:
    """An operator's reset: the old password stops working and every session ends now; the person
    chooses a new password through the one-time link (72 h), shown once and emailed when mail is set up."""
    target = user(db, client_id, user_id)
    with db.transaction() as tx:
        tx.query("merchant_user_set_password", id=target["id"], client_id=client_id, password_hash=None)
        tx.query("merchant_sessions_delete_user", user_id=target["id"], client_id=client_id, keep=None)
    link = _link(db, secret_key, target["id"], "reset", OPERATOR_RESET_TTL_S, base_url)
    audit(db, actor, "merchant_user.reset_password", "merchant_user", target["email"])
    send(mailer, target["email"], "Your MosPay portal password was reset",
         f"An operator reset your MosPay portal password. Choose a new one here (once, within 72 hours):\n"
         f"{link['url']}\n")
    return {"email": target["email"], "role": target["role"], "reset_url": link["url"],
            "expires_at": link["expires_at"]}


def forgotten_password(db: Database, secret_key: str, address: str, base_url: str, mailer: Mailer | None) -> None:
    """Email a reset link (1 h) to an active user. Says nothing about whether the address is known, and
    without a mail relay there is nowhere to send it: nothing is created and nothing secret is logged."""
    try:
        address = email(address)
    except errors.InvalidField:
        return
    row = db.one("merchant_user_by_email", email=address)
    if row is None or mailer is None or not mailer.enabled:
        return
    link = _link(db, secret_key, row["id"], "reset", RESET_TTL_S, base_url)
    send(mailer, row["email"], "Reset your MosPay portal password",
         f"Someone asked to reset your MosPay portal password. If it was you, choose a new one here "
         f"(once, within an hour):\n{link['url']}\n\nIf it was not you, ignore this message.")


def link_user(db: Database, secret_key: str, kind: str, token: str) -> dict:
    """Who a live link is for (404 for a used, expired, voided or made-up one)."""
    if kind not in ("invite", "reset") or not re.fullmatch(r"[A-Za-z0-9_-]{20,100}", token or ""):
        raise errors.NotFound("this link is not valid any more", code="link_invalid")
    row = db.one("merchant_token_peek", token_hash=auth.hash_secret(token, secret_key), kind=kind)
    if row is None:
        raise errors.NotFound("this link is not valid any more", code="link_invalid")
    return row


def use_link(db: Database, secret_key: str, kind: str, token: str, new_password, ip: str | None) -> dict:
    """Choose a password through a link: the link is used up and the password set in one transaction
    (two submissions cannot both win); every earlier session of the user ends."""
    link_user(db, secret_key, kind, token)
    password = validators.password(new_password, "new_password")
    hashed = auth.hash_password(password)
    with db.transaction() as tx:
        row = tx.one("merchant_token_use", token_hash=auth.hash_secret(token, secret_key), kind=kind)
        if row is None:
            raise errors.NotFound("this link is not valid any more", code="link_invalid")
        tx.query("merchant_user_set_password", id=row["id"], client_id=row["client_id"], password_hash=hashed)
        tx.query("merchant_sessions_delete_user", user_id=row["id"], client_id=row["client_id"], keep=None)
    audit(db, merchant_actor(row, ip), f"merchant_user.{'accept_invite' if kind == 'invite' else 'reset_password'}",
          "merchant_user", row["email"])
    return row


def change_password(db: Database, actor: Actor, me: merchant_roles.MerchantUser, current, new_password,
                    keep_session: str | None) -> None:
    row = user(db, me.client_id, me.user_id)
    if not auth.check_password(current or "", row["password_hash"] or ""):
        raise errors.InvalidField("is wrong", field="current_password")
    password = validators.password(new_password, "new_password")
    if auth.check_password(password, row["password_hash"]):
        raise errors.InvalidField("must differ from the current password", field="new_password")
    db.query("merchant_user_set_password", id=me.user_id, client_id=me.client_id,
             password_hash=auth.hash_password(password))
    db.query("merchant_sessions_delete_user", user_id=me.user_id, client_id=me.client_id, keep=keep_session)
    audit(db, actor, "merchant_user.change_password", "merchant_user", me.email)


def authenticate(db: Database, throttle: AuthThrottle, address: str, password: str, ip: str) -> dict:
    """Email and password under the admin portal's throttle (per address, and per address and email,
    the attempt reserved before bcrypt runs): 401 for any wrong answer, 429 when used up. A deactivated
    user, or a user of a deactivated client, gets the same 401."""
    address = (address or "").strip()[:254]
    keys = throttle.keys(ip, "merchant:" + address.lower())
    with throttle.attempt(keys, kind="merchant_login_failure", ip=ip, username=address[:64],
                          endpoint="/portal/login"):
        row = db.one("merchant_user_for_login", email=address) if EMAIL_RE.fullmatch(address) else None
        if row is None:
            auth.check_password(password or "", _DUMMY_HASH)  # the same time whether or not the user exists
            raise errors.Unauthorized(auth.BAD_CREDENTIALS)
        if not auth.check_password(password or "", row["password_hash"]):
            raise errors.Unauthorized(auth.BAD_CREDENTIALS)
    return row


_DUMMY_HASH = "$2b$12$C6UzMDM.H6dfI/f/IKxGhu6q6d5r5cHGl5gq7bU0w1b2x0r0j7bQW"


def merchant_actor(row, ip: str | None) -> Actor:
    """The audit trail's actor for a merchant user (a MerchantUser or a row with email, role, app_id)."""
    get = row.get if isinstance(row, dict) else (lambda k: getattr(row, k))
    return Actor(None, f"merchant:{get('email')}", get("role"), ip, client=get("app_id"))
