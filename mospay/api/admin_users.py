"""Admin users through the API: list, create, read, change role or active, reset a password. The same
rules and audit rows as the portal's user pages (mospay/actions.py); changes are super_admin only."""

from __future__ import annotations

import secrets

import falcon

from .. import accounts, actions, errors, reports, validators
from .admin import READ_ROLES, _AdminResource, actor_of, admin_user, page_after, page_limit
from .common import strict_body

SUPER = ("super_admin",)
_PATCHABLE = ("role", "active")


def _view(row: dict) -> dict:
    return {"username": row["username"], "role": row["role"], "active": row["active"],
            "must_change_password": row["must_change_password"],
            "created_at": row["created_at"].isoformat(), "updated_at": row["updated_at"].isoformat()}


def _user(db, username: str) -> dict:
    row = db.one("user_view", username=username) if accounts.USERNAME_RE.fullmatch(username) else None
    if row is None:
        raise errors.NotFound("no user with this username", code="user_not_found")
    return row


class Users(_AdminResource):
    """GET / POST /api/v1/admin/users."""

    def on_get(self, req, resp):
        admin_user(req, self._db, self._tokens, roles=READ_ROLES)
        limit = page_limit(req)
        before_at, before_id = validators.cursor(page_after(req))
        rows, following = reports.keyset_page(self._db, "users_page",
                                              {"before_at": before_at, "before_id": before_id}, limit)
        resp.media = {"items": [_view(r) for r in rows], "next": following}

    def on_post(self, req, resp):
        """{"username", "password", "role"}: the password the super_admin chose, to be changed at first login."""
        user = admin_user(req, self._db, self._tokens, roles=SUPER)
        data = self._body(req)
        if "role" in data and data["role"] not in accounts.ROLES:  # the portal's form defaults an empty role
            raise errors.InvalidField(f"must be one of {', '.join(accounts.ROLES)}", field="role")
        created = actions.create_user(self._db, actor_of(req, user), data)
        resp.media = _view(_user(self._db, created["username"]))
        resp.status = falcon.HTTP_201


class User(_AdminResource):
    """GET / PATCH /api/v1/admin/users/{username}. PATCH {"role"?, "active"?}: last writer wins."""

    def on_get(self, req, resp, username):
        admin_user(req, self._db, self._tokens, roles=READ_ROLES)
        resp.media = _view(_user(self._db, username))

    def on_patch(self, req, resp, username):
        user = admin_user(req, self._db, self._tokens, roles=SUPER)
        data = strict_body(req, self._config, _PATCHABLE)
        if "active" in data and not isinstance(data["active"], bool):
            raise errors.InvalidField("must be true or false", field="active", code="invalid_type")
        target, actor = _user(self._db, username), actor_of(req, user)
        # Both checked before either is written, and both written in one transaction: never half a change.
        with self._db.transaction() as tx:
            if "role" in data:
                actions.set_user_role(tx, actor, str(target["id"]), data["role"])
            if "active" in data and data["active"] != target["active"]:
                actions.set_user_active(tx, actor, str(target["id"]), data["active"])
        resp.media = _view(_user(self._db, username))


class UserPasswordReset(_AdminResource):
    """POST /api/v1/admin/users/{username}/reset-password: a temporary password, shown once; the user must
    change it at next login, and their sessions and tokens end now."""

    def on_post(self, req, resp, username):
        user = admin_user(req, self._db, self._tokens, roles=SUPER)
        target = _user(self._db, username)
        temporary = secrets.token_urlsafe(12)  # 16 characters: within the password rule
        actions.reset_password(self._db, actor_of(req, user), str(target["id"]), temporary)
        resp.media = {"username": target["username"], "temporary_password": temporary,
                      "must_change_password": True}
        resp.cache_control = ["no-store"]
